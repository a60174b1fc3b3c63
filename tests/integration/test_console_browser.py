"""The review console in a real browser: Debian's chromium driven by Playwright.

A worker decides requests produced to Kafka; ``gatekeeper serve`` (a subprocess, as an
operator runs it: the HTTP API and, under /console/, the console) indexes the topics; the
browser signs in, reads the queue, filters, opens a decision and a debtor, exports CSV,
releases an overridable block (and the release is read back from contact.allowed, signed),
opens Insights, and is refused where its role or its CSRF token says so.
Screenshots of every page go to ``test-artifacts/console/`` (``GK_TEST_ARTIFACTS``).

Needs the stack, ``chromium`` (``scripts/browser-deps`` installs it) and ``playwright``
(the dev extra): skipped locally when missing, failed in CI.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import kafka_helpers
import orjson
import pytest
from services import skip_or_fail
from worker_process import WorkerProcess, worker_env

from gatekeeper.settings import Settings
from gatekeeper.signing import verify
from gatekeeper.topics import ensure_topics
from gatekeeper.traffic import zone_at

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("GK_TEST_ARTIFACTS", ROOT / "test-artifacts" / "console"))
CHROMIUM = os.environ.get("GK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PASSWORD = "correct horse battery staple"
SIGNING_KEY = "console-test-signing-key"
CONTENT = {"amount_due": 120.5, "currency": "USD", "due_date": "2026-12-31",
           "payment_options": ["online"], "opt_out_instructions": "reply STOP"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _own_database(stack: Any) -> str:
    """The last logical database of the stack's Redis, flushed: this module's alone while it
    runs (the per-test fixture is function-scoped; the worker here lives for the module)."""
    import redis

    parts = urlsplit(stack.redis_url)
    url = urlunsplit((parts.scheme, parts.netloc, f"/{stack.redis_databases - 1}", "", ""))
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()
    return url


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _letter(request_id: str, debtor: str, zone: str = "America/New_York") -> bytes:
    return orjson.dumps({"request_id": request_id, "debtor_id": debtor, "channel": "letter",
                         "destination": f"ADDR-{debtor}", "requested_at": _now(),
                         "debtor": {"region": "US-NY", "timezone": zone},
                         "content": CONTENT})


class ConsoleStack:
    """One worker, one console and the messages that make three blocks."""

    def __init__(self, stack: Any, tmp: Path):
        self.prefix = f"t{uuid.uuid4().hex[:8]}."
        self.bootstrap = stack.bootstrap
        self.port = _free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        self.base = f"{self.root}/console"
        self.dir = tmp / "console"
        self.env = worker_env(stack.broker_url, _own_database(stack), self.prefix,
                              f"gk-console-{uuid.uuid4().hex[:6]}", Path("default"),
                              SIGNING_KEY)
        self.settings = Settings.from_env(self.env)
        self.worker = WorkerProcess(tmp / "worker.log", self.env)
        self.console: subprocess.Popen[bytes] | None = None
        self.console_log = tmp / "console.log"
        self.run = uuid.uuid4().hex[:6]

    def debtor(self, name: str) -> str:
        return f"{name}-{self.run}"

    def gatekeeper(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **self.env, "GATEKEEPER_CONSOLE_DIR": str(self.dir)}
        return subprocess.run([sys.executable, "-m", "gatekeeper", *args], input=stdin,
                              env=env, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        asyncio.run(ensure_topics(self.settings))
        for name, role in (("rita", "reviewer"), ("vic", "viewer"), ("ada", "admin")):
            done = self.gatekeeper("users", "add", name, "--role", role, stdin=PASSWORD + "\n")
            assert done.returncode == 0, done.stderr
        self.worker.start()
        events = self.settings.topics["events"]
        asyncio.run(kafka_helpers.produce(self.bootstrap, events, [
            (self.debtor("OPT").encode(), orjson.dumps({
                "event_id": f"e-{self.run}", "debtor_id": self.debtor("OPT"), "type": "opt_out",
                "channel": "letter", "occurred_at": _now()}))]))
        time.sleep(1)
        letters = self.debtor("LETTERS")
        requests = [(letters.encode(), _letter(f"{letters}-{n}", letters)) for n in (1, 2, 3)]
        requests.append((self.debtor("OPT").encode(),
                         _letter(f"{self.debtor('OPT')}-1", self.debtor("OPT"))))
        night = self.debtor("NIGHT")
        requests.append((night.encode(), orjson.dumps({
            "request_id": f"{night}-1", "debtor_id": night, "channel": "call",
            "destination": "+442071234567", "requested_at": _now(),
            "debtor": {"region": "GB", "timezone": zone_at(2)}})))
        asyncio.run(kafka_helpers.produce(self.bootstrap, self.settings.topics["requests"],
                                          requests))
        env = {**os.environ, **self.env, "GATEKEEPER_CONSOLE_DIR": str(self.dir),
               "GATEKEEPER_CONSOLE_POLL_SECONDS": "1"}
        log = self.console_log.open("ab")
        self.console = subprocess.Popen(
            [sys.executable, "-m", "gatekeeper", "serve", "--bind", f"127.0.0.1:{self.port}",
             "--keys-dir", str(self.dir / "api-keys"), "--loglevel", "info"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(self.base + "/signin", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            if self.console.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"serve did not start:\n{self.console_log.read_text()}")
            time.sleep(0.3)

    def stop(self) -> None:
        if self.console is not None and self.console.poll() is None:
            self.console.terminate()
            try:
                self.console.wait(20)
            except subprocess.TimeoutExpired:
                self.console.kill()
        self.worker.stop()

    def consume(self, kind: str, n: int, timeout: float = 20) -> list[Any]:
        """Read a topic from the beginning (in a thread of its own: Playwright's sync API
        keeps an event loop running in this one)."""
        coroutine = kafka_helpers.consume(self.bootstrap, self.settings.topics[kind], n,
                                          timeout=timeout)
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(scope="module")
def console_stack(stack: Any, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[ConsoleStack]:
    try:
        import playwright  # noqa: F401
    except ImportError:
        skip_or_fail("playwright is not installed (pip install -e '.[dev]')")
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        skip_or_fail(f"no chromium at {CHROMIUM} (scripts/browser-deps installs it)")
    running = ConsoleStack(stack, tmp_path_factory.mktemp("console"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser(console_stack: ConsoleStack) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _page(browser: Any, stack: ConsoleStack, name: str) -> Any:
    context = browser.new_context(viewport={"width": 1360, "height": 900},
                                  accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(stack.base + "/")
    assert "/console/signin" in page.url  # no session: every page sends to sign-in
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(stack.base + "/")
    return page


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def reviewer(browser: Any, console_stack: ConsoleStack) -> Any:
    return _page(browser, console_stack, "rita")


def _queue_rows(page: Any, wanted: int, query: str = "") -> list[Any]:
    deadline = time.monotonic() + 45
    while True:
        rows = page.query_selector_all("#rows tr")
        if len(rows) >= wanted or time.monotonic() > deadline:
            return rows
        time.sleep(1)
        page.goto(page.url.split("?")[0] + query)


def test_sign_in_rejects_a_wrong_password(browser, console_stack):
    context = browser.new_context()
    page = context.new_page()
    page.goto(console_stack.base + "/signin")
    page.fill("#name", "rita")
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    assert page.inner_text(".flash.error") == "wrong name or password"
    _shot(page, "signin-failed")
    context.close()


def test_the_queue_shows_the_blocks_produced_through_kafka(reviewer, console_stack):
    _shot(reviewer, "overview")
    reviewer.goto(console_stack.base + "/review")
    rows = _queue_rows(reviewer, 3)
    text = reviewer.inner_text("#rows")
    for debtor in ("LETTERS", "OPT", "NIGHT"):
        assert console_stack.debtor(debtor) in text
    assert len(rows) == 3
    assert "default/letters-per-month" in text and "default/opt-outs" in text
    assert "default/quiet-hours" in text
    _shot(reviewer, "review-queue")


def test_filter_by_rule_and_by_debtor(reviewer, console_stack):
    reviewer.goto(console_stack.base + "/review")
    reviewer.select_option("select[name=rule]", "default/opt-outs")
    reviewer.click(".filters button[type=submit]")
    rows = reviewer.query_selector_all("#rows tr")
    assert len(rows) == 1 and console_stack.debtor("OPT") in rows[0].inner_text()
    _shot(reviewer, "review-filtered")
    reviewer.goto(console_stack.base + "/review")
    reviewer.fill("#debtor-filter", console_stack.debtor("NIGHT"))
    reviewer.press("#debtor-filter", "Enter")
    rows = reviewer.query_selector_all("#rows tr")
    assert len(rows) == 1 and "default/quiet-hours" in rows[0].inner_text()
    reviewer.click("h1")  # the keyboard: j selects the first row, Enter opens it
    reviewer.keyboard.press("j")
    assert reviewer.query_selector("#rows tr.selected") is not None
    reviewer.keyboard.press("Enter")
    reviewer.wait_for_url(f"**/decisions/{console_stack.debtor('NIGHT')}-1")


def test_a_decision_page_names_every_reason_with_its_citation(reviewer, console_stack):
    reviewer.goto(f"{console_stack.base}/decisions/{console_stack.debtor('OPT')}-1")
    reasons = reviewer.inner_text("table.reasons")
    assert "default/opt-outs" in reasons and "gatekeeper baseline R7" in reasons
    assert reviewer.is_disabled("button.danger")  # opt-outs are not overridable
    assert "not overridable" in reviewer.inner_text(".actions")
    assert "default@" in reviewer.inner_text("dl.facts >> nth=1")  # the policy version
    _shot(reviewer, "decision")


def test_the_debtor_page_and_its_csv_export(reviewer, console_stack):
    letters = console_stack.debtor("LETTERS")
    reviewer.goto(f"{console_stack.base}/debtors/{letters}")
    history = reviewer.inner_text("table.timeline-table")
    assert history.count("allowed") == 2 and history.count("blocked") == 1
    counters = reviewer.inner_text("table.compact")
    assert "default/letters-per-month" in counters
    _shot(reviewer, "debtor")
    with reviewer.expect_download() as download:
        reviewer.click("text=Export CSV")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [r["request_id"] for r in rows if r["what"] == "decision"] == \
        [f"{letters}-1", f"{letters}-2", f"{letters}-3"]
    assert rows[-1]["label"] == "blocked"


def test_a_viewer_reads_but_is_refused_any_action(browser, console_stack):
    viewer = _page(browser, console_stack, "vic")
    request_id = f"{console_stack.debtor('LETTERS')}-3"
    viewer.goto(f"{console_stack.base}/decisions/{request_id}")
    assert viewer.query_selector("form[action$='/actions/release']") is None
    csrf = viewer.get_attribute("form.who input[name=csrf]", "value")
    answer = viewer.request.post(console_stack.base + "/actions/release",
                                 form={"csrf": csrf, "request_id": request_id,
                                       "reason": "viewer tries"}, max_redirects=0)
    assert answer.status == 403
    answer = viewer.request.get(console_stack.base + "/admin", max_redirects=0)
    assert answer.status == 403
    viewer.goto(console_stack.base + "/admin")
    _shot(viewer, "viewer-refused")
    viewer.context.close()


def test_every_form_needs_its_csrf_token(reviewer, console_stack):
    request_id = f"{console_stack.debtor('NIGHT')}-1"
    for token in ("", "forged-token"):
        answer = reviewer.request.post(console_stack.base + "/actions/acknowledge",
                                       form={"csrf": token, "request_id": request_id},
                                       max_redirects=0)
        assert answer.status == 403 and "CSRF" in answer.text()
    fresh = reviewer.context.browser.new_context()
    page = fresh.new_page()
    page.goto(console_stack.base + "/signin")  # the sign-in form has its own token
    answer = page.request.post(console_stack.base + "/signin",
                               form={"csrf": "forged", "name": "rita", "password": PASSWORD},
                               max_redirects=0)
    assert answer.status == 403
    fresh.close()
    reviewer.goto(f"{console_stack.base}/decisions/{request_id}")
    assert "acknowledge" not in reviewer.inner_text("ol.timeline")  # nothing was recorded


def test_the_policy_page_and_the_accounts_page(browser, reviewer, console_stack):
    reviewer.goto(console_stack.base + "/policy")
    row = reviewer.inner_text("#default-letters-per-month")
    assert "overridable" in row and "gatekeeper baseline R2" in row
    assert "overridable" not in reviewer.inner_text("#default-opt-outs")
    _shot(reviewer, "policy")
    admin = _page(browser, console_stack, "ada")
    admin.goto(console_stack.base + "/admin")
    admin.fill("#new-name", "nora")
    admin.select_option("#new-role", "viewer")
    admin.fill("#new-password", PASSWORD)
    admin.click("text=Add account")
    assert admin.inner_text(".flash.ok") == "Account nora added."
    assert "nora" in admin.inner_text("table")
    _shot(admin, "admin")
    admin.context.close()


def test_releasing_an_overridable_block_reaches_contact_allowed_signed(reviewer, console_stack):
    request_id = f"{console_stack.debtor('LETTERS')}-3"
    reviewer.goto(f"{console_stack.base}/decisions/{request_id}")
    reviewer.fill("#release-reason", "debtor asked for the statement by post")
    reviewer.click("button.danger")
    assert reviewer.inner_text(".flash").startswith("Released")
    allowed = [r for r in console_stack.consume("allowed", 3)  # two letters and the release
               if dict(r.headers).get("gk-override-by") == b"rita"]
    assert len(allowed) == 1
    headers = dict(allowed[0].headers)
    assert headers["gk-override-reason"] == b"debtor asked for the statement by post"
    assert orjson.loads(allowed[0].value)["request_id"] == request_id
    assert verify([SIGNING_KEY.encode()], headers["gk-signature"].decode(), request_id,
                  headers["gk-decision-id"].decode(), headers["gk-policy"].decode(),
                  allowed[0].value)
    records = [orjson.loads(r.value) for r in console_stack.consume("decisions", 6)]
    override = [r for r in records if r.get("via") == "override"]
    assert len(override) == 1 and override[0]["actor"] == "rita"
    assert override[0]["releases"] == request_id
    assert override[0]["decision"]["decision"] == "allowed"
    assert [s["rule"] for s in override[0]["decision"]["shadow"]] == \
        ["default/letters-per-month"]  # waived: counted, reported, not enforced
    deadline = time.monotonic() + 20
    while "release by rita" not in reviewer.inner_text("ol.timeline"):
        assert time.monotonic() < deadline, reviewer.inner_text("ol.timeline")
        time.sleep(1)
        reviewer.reload()
    _shot(reviewer, "decision-released")


def test_the_audit_chain_verifies(console_stack):
    deadline = time.monotonic() + 20
    while True:
        done = console_stack.gatekeeper("audit", "verify")
        if done.returncode == 0 and "ok:" in done.stdout:
            records = [orjson.loads(r.value) for r in console_stack.consume("audit", 100, 5)]
            actions = [r["action"] for r in records]
            if "release" in actions:
                break
        assert time.monotonic() < deadline, done.stdout + done.stderr
        time.sleep(1)
    assert {"account_added", "sign_in", "sign_in_failed", "release"} <= set(actions)
    assert actions.count("account_added") == 4  # three by the command, nora by the admin


def test_one_server_answers_the_api_and_the_console(console_stack):
    with urllib.request.urlopen(console_stack.root + "/healthz", timeout=10) as answer:
        assert answer.status == 200
    with pytest.raises(urllib.error.HTTPError) as refused:  # the API keeps its Bearer guard
        urllib.request.urlopen(console_stack.root + "/v1/debtors/nobody", timeout=10)
    assert refused.value.code == 401


def test_insights_draws_the_reports_charts_from_the_index(reviewer, console_stack):
    reviewer.goto(console_stack.base + "/")
    reviewer.click("header nav >> text=Insights")
    reviewer.wait_for_url(console_stack.base + "/insights")
    reviewer.click("nav.segmented >> text=24h")
    chart = reviewer.locator("svg[aria-label='blocks by rule']")
    assert chart.count() == 1
    titles = chart.locator("title").all_text_contents()
    assert any(t.startswith("default/letters-per-month: ") for t in titles), titles
    assert any(t.startswith("default/opt-outs: ") for t in titles), titles
    assert reviewer.locator("svg[aria-label='block rate by channel']").count() == 1
    _shot(reviewer, "insights")


def test_new_blocks_appear_in_the_queue_without_a_reload(reviewer, console_stack):
    reviewer.goto(console_stack.base + "/review")
    reviewer.evaluate("window.gkNotReloaded = true")  # gone if the page were loaded again
    late = console_stack.debtor("LATE")
    request = orjson.dumps({"request_id": f"{late}-1", "debtor_id": late, "channel": "call",
                            "destination": "+442071234568", "requested_at": _now(),
                            "debtor": {"region": "GB", "timezone": zone_at(2)}})
    coroutine = kafka_helpers.produce(console_stack.bootstrap,
                                      console_stack.settings.topics["requests"],
                                      [(late.encode(), request)])
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coroutine).result()
    reviewer.wait_for_selector(f"#rows tr:has-text('{late}')", timeout=60_000)
    assert reviewer.evaluate("window.gkNotReloaded") is True
    assert "default/quiet-hours" in reviewer.inner_text(f"#rows tr:has-text('{late}')")
    _shot(reviewer, "review-live")
