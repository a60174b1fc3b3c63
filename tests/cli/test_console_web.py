"""The console's web shell without services: guards, pages and forms over an index filled
with sample traffic, served on loopback (Kafka and Redis point at a closed port: what needs
them says so)."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher

from gatekeeper.console.accounts import Accounts
from gatekeeper.console.config import ConsoleSettings
from gatekeeper.console.index.rows import Message
from gatekeeper.console.index.sample import decision_message
from gatekeeper.console.index.sqlite import SqliteIndex
from gatekeeper.console.runtime import Runtime
from gatekeeper.console.serving import attach_console
from gatekeeper.console.web.app import create_console
from gatekeeper.http.app import build_app
from gatekeeper.http.auth import KeyCheck, KeyFile
from gatekeeper.policy import load_policy
from gatekeeper.settings import Settings

PASSWORD = "correct horse battery"
NOW = 1_795_000_000_000
FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
CLOSED = {"GATEKEEPER_BROKER": "kafka://127.0.0.1:9", "GATEKEEPER_REDIS": "redis://127.0.0.1:9/0"}


def _messages() -> list[Message]:
    values = [
        decision_message("R1", "D1", NOW, blocked=True, channel="letter", rules=(2,)),
        decision_message("R2", "D2", NOW + 1000, blocked=True, channel="call", rules=(0,)),
        decision_message("=cmd()", "D1", NOW + 2000, blocked=False, channel="call"),
    ]
    return [Message("decisions", "t.decisions", 0, n, NOW, b"k", orjson.dumps(v))
            for n, v in enumerate(values)]


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    settings = Settings.from_env(CLOSED)
    console = ConsoleSettings(directory=tmp_path, poll_seconds=1)
    index = SqliteIndex(console.index_path)
    index.ingest(_messages())
    accounts = Accounts(console.accounts_path, console, hasher=FAST)
    for name, role in (("ada", "admin"), ("rita", "reviewer"), ("vic", "viewer")):
        accounts.add(name, role, PASSWORD)
    runtime = Runtime(settings, console, load_policy("default"), index, accounts, feed=False)
    app = create_console(settings, console, runtime=runtime, prefix="")
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def sign_in(client: TestClient, name: str, prefix: str = "") -> str:
    """Sign in through the form; returns the session's CSRF token."""
    form = await client.get(prefix + "/signin")
    token = re.search(r'name="csrf" value="([^"]+)"', await form.text()).group(1)  # type: ignore[union-attr]
    answer = await client.post(prefix + "/signin", data={"csrf": token, "name": name,
                                                         "password": PASSWORD},
                               allow_redirects=False)
    assert answer.status == 303, await answer.text()
    page = await (await client.get(prefix + "/review")).text()
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


async def test_without_a_session_every_page_sends_to_sign_in(client):
    for path in ("/", "/review", "/decisions/R1", "/debtors/D1", "/policy", "/admin"):
        answer = await client.get(path, allow_redirects=False)
        assert answer.status == 303 and answer.headers["Location"].startswith("/signin")
    poll = await client.get("/review/rows", params={"after": "0"}, allow_redirects=False)
    assert poll.status == 401  # the queue's poll gets no sign-in page to paste as rows
    answer = await client.get("/signin")
    assert answer.status == 200
    csp = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert "HttpOnly" in answer.headers["Set-Cookie"]


async def test_sign_in_sets_a_strict_http_only_session_cookie(client):
    form = await client.get("/signin")
    token = re.search(r'name="csrf" value="([^"]+)"', await form.text()).group(1)  # type: ignore[union-attr]
    wrong = await client.post("/signin", data={"csrf": token, "name": "rita",
                                               "password": "nope nope nope"})
    assert wrong.status == 401 and "wrong name or password" in await wrong.text()
    form = await client.get("/signin")
    token = re.search(r'name="csrf" value="([^"]+)"', await form.text()).group(1)  # type: ignore[union-attr]
    answer = await client.post("/signin", data={"csrf": token, "name": "rita",
                                                "password": PASSWORD,
                                                "next": "https://evil.example/"},
                               allow_redirects=False)
    cookie = answer.headers.getall("Set-Cookie")[0]
    assert "gk_console=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert answer.headers["Location"] == "/"  # never sent to another site


async def test_a_form_without_its_csrf_token_is_refused(client):
    await sign_in(client, "rita")
    for token in ("", "forged"):
        answer = await client.post("/actions/acknowledge",
                                   data={"csrf": token, "request_id": "R1"})
        assert answer.status == 403 and "CSRF" in await answer.text()
    form = await client.get("/signin")
    assert form.status == 200
    forged = await client.post("/signin", data={"csrf": "x", "name": "rita",
                                                "password": PASSWORD})
    assert forged.status == 403


async def test_a_viewer_reads_and_is_refused_every_action(client):
    csrf = await sign_in(client, "vic")
    assert (await client.get("/decisions/R1")).status == 200
    for path, data in (("/actions/release", {"request_id": "R1", "reason": "x"}),
                       ("/actions/acknowledge", {"request_id": "R1"}),
                       ("/admin/accounts", {"name": "x", "role": "admin", "password": "y"})):
        answer = await client.post(path, data={"csrf": csrf, **data})
        assert answer.status == 403, path
        assert "your account is a viewer" in await answer.text()
    assert (await client.get("/admin")).status == 403


async def test_the_queue_filters_and_its_poll_returns_only_newer_rows(client):
    await sign_in(client, "rita")
    page = await (await client.get("/review")).text()
    assert "R1" in page and "R2" in page and "=cmd()" not in page  # blocks only
    letters = await (await client.get("/review", params={"channel": "letter"})).text()
    assert "/decisions/R1" in letters and "/decisions/R2" not in letters
    rows = await client.get("/review/rows", params={"after": "1"})
    assert rows.headers["X-Newest-Id"] == "3"
    text = await rows.text()
    assert "/decisions/R2" in text and "/decisions/R1" not in text


async def test_the_decision_page_explains_and_refuses_what_may_not_be_released(client):
    await sign_in(client, "rita")
    page = await (await client.get("/decisions/R2")).text()
    assert "default/quiet-hours" in page and "gatekeeper baseline R3" in page
    assert "Cannot be released: blocked by rules that are not overridable" in page
    missing = await client.get("/decisions/nope")
    assert missing.status == 404


async def test_a_release_while_kafka_is_away_releases_nothing_and_says_so(client):
    csrf = await sign_in(client, "rita")
    answer = await client.post("/actions/release", data={"csrf": csrf, "request_id": "R1",
                                                         "reason": "asked by the debtor"})
    assert answer.status == 200
    assert "Not released: Kafka is not reachable" in await answer.text()


async def test_the_debtor_csv_quotes_what_a_spreadsheet_would_run(client):
    await sign_in(client, "rita")
    answer = await client.get("/debtors/D1/timeline.csv")
    assert answer.headers["Content-Disposition"] == \
        'attachment; filename="debtor-D1-timeline.csv"'
    lines = (await answer.text()).splitlines()
    assert lines[0] == "time_utc,what,label,request_id,summary,message"
    assert any(line.split(",")[3] == "=cmd()" for line in lines[1:])  # the id column as is
    assert not any(",=" in line.split(",", 4)[4][:2] for line in lines[1:])


async def test_an_admin_adds_and_changes_accounts_and_each_change_is_audited(client):
    csrf = await sign_in(client, "ada")
    answer = await client.post("/admin/accounts", data={
        "csrf": csrf, "name": "nora", "role": "viewer", "password": "short"})
    assert "password: expected at least 10 characters" in await answer.text()
    await client.post("/admin/accounts", data={"csrf": csrf, "name": "nora",
                                               "role": "viewer", "password": PASSWORD})
    await client.post("/admin/accounts/change", data={"csrf": csrf, "name": "nora",
                                                      "what": "role", "role": "reviewer"})
    own = await client.post("/admin/accounts/change", data={"csrf": csrf, "name": "ada",
                                                            "what": "disable"})
    assert "cannot disable your own account" in await own.text()
    page = await (await client.get("/admin")).text()
    assert "nora" in page and "role-reviewer" in page


async def test_cookies_are_secure_behind_tls(tmp_path: Path):
    settings = Settings.from_env(CLOSED)
    console = ConsoleSettings(directory=tmp_path, secure_cookies=True)
    accounts = Accounts(console.accounts_path, console, hasher=FAST)
    accounts.add("rita", "reviewer", PASSWORD)
    runtime = Runtime(settings, console, load_policy("default"), SqliteIndex(console.index_path),
                      accounts, feed=False)
    app = create_console(settings, console, runtime=runtime, prefix="/console")
    async with TestClient(TestServer(app)) as secure:
        answer = await secure.get("/signin")
        cookie = answer.headers["Set-Cookie"]
        assert "Secure" in cookie and "Path=/console/" in cookie


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[TestClient]:
    """``gatekeeper serve``'s application (the API's routes and guard) with the console
    mounted under /console/ as serve mounts it; the index holds this hour's decisions."""
    settings = Settings.from_env(CLOSED)
    console = ConsoleSettings(directory=tmp_path, poll_seconds=1)
    index = SqliteIndex(console.index_path)
    now = int(time.time() * 1000)
    values = [decision_message("L1", "D1", now - 60_000, blocked=True, channel="letter",
                               rules=(2,)),
              decision_message("C1", "D2", now - 30_000, blocked=False, channel="call")]
    index.ingest([Message("decisions", "t.decisions", 0, n, now, b"k", orjson.dumps(v))
                  for n, v in enumerate(values)])
    accounts = Accounts(console.accounts_path, console, hasher=FAST)
    for name, role in (("rita", "reviewer"), ("vic", "viewer")):
        accounts.add(name, role, PASSWORD)
    runtime = Runtime(settings, console, load_policy("default"), index, accounts, feed=False)
    app = build_app(None, KeyCheck(KeyFile(tmp_path / "keys")), 1 << 20)  # type: ignore[arg-type]
    assert attach_console(app, settings, console, runtime=runtime) is not None
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


def assert_secure(answer: ClientResponse) -> None:
    csp = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp, answer.url
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp, answer.url
    assert answer.headers["X-Frame-Options"] == "DENY", answer.url
    assert answer.headers["X-Content-Type-Options"] == "nosniff", answer.url


async def test_serve_answers_the_api_and_the_console_each_with_its_own_auth(served):
    home = await served.get("/", allow_redirects=False)
    assert home.status == 302 and home.headers["Location"] == "/console/"
    api = await served.get("/v1/debtors/D1")  # the API's Bearer guard still holds
    assert api.status == 401 and (await api.json())["error"]["type"] == "unauthorized"
    page = await served.get("/console/review", allow_redirects=False)  # no Bearer asked
    assert page.status == 303
    assert page.headers["Location"].startswith("/console/signin?next=")
    assert_secure(page)
    await sign_in(served, "vic", "/console")
    missing = await served.get("/console/no-such-page")
    assert missing.status == 404 and "There is no such page" in await missing.text()
    assert missing.content_type == "text/html"  # the console's page, not the API's JSON
    assert_secure(missing)


async def test_every_console_page_carries_the_security_headers(served):
    assert_secure(await served.get("/console/signin"))
    await sign_in(served, "vic", "/console")
    for path, status in (("/", 200), ("/review", 200), ("/review/rows?after=0", 200),
                         ("/decisions/L1", 200), ("/debtors/D1", 200),
                         ("/debtors/D1/timeline.csv", 200), ("/policy", 200),
                         ("/insights", 200), ("/admin", 403), ("/decisions/nope", 404),
                         ("/static/console.css", 200), ("/static/console.js", 200)):
        answer = await served.get("/console" + path, allow_redirects=False)
        assert answer.status == status, path
        assert_secure(answer)


async def test_the_insights_page_draws_the_reports_charts_from_the_index(served):
    await sign_in(served, "rita", "/console")
    page = await (await served.get("/console/insights", params={"range": "24h"})).text()
    assert 'href="/console/insights" aria-current="page"' in page  # in the navigation
    assert 'aria-label="blocks by rule"' in page  # the report's chart, drawn by svg.py
    assert "<title>default/letters-per-month: 1</title>" in page
    assert 'aria-label="block rate by channel"' in page
    assert "style=" not in page  # the CSP allows no inline style
