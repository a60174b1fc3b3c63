"""The security settings without services: secrets from variables or files, the Kafka and Redis
client options, the ACL table, serve's TLS settings, and docker-compose.secure.yml agreeing
with scripts/stack-secure.sh."""

from __future__ import annotations

import re
import ssl
import subprocess
from pathlib import Path

import pytest
import yaml

from gatekeeper.errors import ConfigError
from gatekeeper.http.tls import server_context
from gatekeeper.kafka_acls import TABLE, acls
from gatekeeper.kafka_security import KafkaSecurity
from gatekeeper.redis_security import redis_options
from gatekeeper.secret_env import secret

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = (ROOT / "scripts" / "stack-secure.sh").read_text()


def test_a_secret_comes_from_the_variable_or_its_file(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text("s3cret\n")
    assert secret("X", {"X": "direct"}) == "direct"
    assert secret("X", {"X_FILE": str(path)}) == "s3cret"
    assert secret("X", {}) is None
    with pytest.raises(ConfigError, match="X / X_FILE: expected one of the two, found 'both"):
        secret("X", {"X": "a", "X_FILE": str(path)})
    with pytest.raises(ConfigError, match=r"X_FILE: expected a readable file .*missing"):
        secret("X", {"X_FILE": str(tmp_path / "missing")})


def test_kafka_options_are_empty_without_settings_and_complete_with_sasl_ssl(
        tmp_path: Path) -> None:
    assert KafkaSecurity.from_env({}).aiokafka() == {}
    assert KafkaSecurity.from_env({}).faust() == {}
    password = tmp_path / "pw"
    password.write_text("pw")
    security = KafkaSecurity.from_env({
        "GATEKEEPER_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
        "GATEKEEPER_KAFKA_USERNAME": "gatekeeper",
        "GATEKEEPER_KAFKA_PASSWORD_FILE": str(password)})
    options = security.aiokafka()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("gatekeeper",
                                                                                "pw")
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert "pw" not in repr(security) and security.principal == "User:gatekeeper"
    credentials = security.faust()["broker_credentials"]
    assert credentials.protocol.value == "SASL_SSL" and credentials.username == "gatekeeper"


@pytest.mark.parametrize(("env", "message"), [
    ({"GATEKEEPER_KAFKA_SECURITY_PROTOCOL": "TLS"},
     "GATEKEEPER_KAFKA_SECURITY_PROTOCOL: expected PLAINTEXT or SSL or SASL_PLAINTEXT or "
     "SASL_SSL, found 'TLS'"),
    ({"GATEKEEPER_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
     "GATEKEEPER_KAFKA_USERNAME: expected a principal's name with SASL_SSL, found 'nothing'"),
    ({"GATEKEEPER_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "GATEKEEPER_KAFKA_USERNAME": "u"},
     "GATEKEEPER_KAFKA_PASSWORD or GATEKEEPER_KAFKA_PASSWORD_FILE: expected the password of "
     "'u' with SASL_SSL, found 'nothing'"),
    ({"GATEKEEPER_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "GATEKEEPER_KAFKA_USERNAME": "u",
      "GATEKEEPER_KAFKA_PASSWORD": "p", "GATEKEEPER_KAFKA_SASL_MECHANISM": "GSSAPI"},
     "GATEKEEPER_KAFKA_SASL_MECHANISM: expected SCRAM-SHA-512 or SCRAM-SHA-256 or PLAIN, "
     "found 'GSSAPI'"),
    ({"GATEKEEPER_KAFKA_SECURITY_PROTOCOL": "SSL", "GATEKEEPER_KAFKA_CA_FILE": "/nowhere.pem"},
     "GATEKEEPER_KAFKA_CA_FILE: expected a readable file, found '/nowhere.pem'"),
])
def test_unusable_kafka_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        KafkaSecurity.from_env(env)
    assert str(error.value) == message


def test_redis_options_add_what_the_url_lacks(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    env = {"GATEKEEPER_REDIS_PASSWORD": "pw", "GATEKEEPER_REDIS_CA_FILE": str(ca)}
    assert redis_options("redis://127.0.0.1:6379/0", {}) == {}
    assert redis_options("rediss://gatekeeper@h:6380/0", env) == {"password": "pw",
                                                                  "ssl_ca_certs": str(ca)}
    assert redis_options("redis://h:6379/0", env) == {"password": "pw"}  # no TLS: no CA
    assert redis_options("rediss://u:inurl@h:6380/0", env) == {"ssl_ca_certs": str(ca)}


def test_the_acl_table_gives_each_principal_only_its_own_writes() -> None:
    bindings = acls("t1.", "app")
    writes = {(a.principal, a.name) for a in bindings if a.operation == "WRITE"}
    assert ("User:dialer", "t1.contact.requests") in writes
    assert {name for user, name in writes if user == "User:dialer"} == {"t1.contact.requests"}
    assert {name for user, name in writes if user == "User:carrier"} == {"t1.contact.outcomes"}
    assert {name for user, name in writes if user == "User:crm"} == {"t1.debtor.events"}
    assert not any(name == "t1.contact.allowed" for user, name in writes
                   if user not in ("User:gatekeeper", "User:console"))
    groups = {(a.principal, a.name) for a in bindings if a.resource_type == 3}
    assert ("User:gatekeeper", "app") in groups and ("User:console", "console") in groups


def test_serve_tls_needs_both_files_and_loads_a_pair(tmp_path: Path) -> None:
    assert server_context({}) is None
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    with pytest.raises(ConfigError, match="GATEKEEPER_HTTP_TLS_KEY: expected a PEM file as "
                                          "well, since GATEKEEPER_HTTP_TLS_CERT is set"):
        server_context({"GATEKEEPER_HTTP_TLS_CERT": str(cert)})
    context = server_context({"GATEKEEPER_HTTP_TLS_CERT": str(cert),
                              "GATEKEEPER_HTTP_TLS_KEY": str(key)})
    assert isinstance(context, ssl.SSLContext)
    with pytest.raises(ConfigError, match="a PEM certificate and its private key"):
        server_context({"GATEKEEPER_HTTP_TLS_CERT": str(key), "GATEKEEPER_HTTP_TLS_KEY": str(key)})


def test_docker_compose_secure_agrees_with_the_script_and_holds_no_secret() -> None:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)  # !reset, !override
    text = (ROOT / "docker-compose.secure.yml").read_text()
    compose = yaml.load(text, Loader=Loader)  # noqa: S506 - SafeLoader with compose's tags
    script_users = re.search(r'^KAFKA_USERS="([^"]+)"', SCRIPT, re.MULTILINE)
    assert script_users is not None
    users = script_users.group(1).split()
    assert set(TABLE) <= set(users)
    command = compose["services"]["kafka"]["command"][0]
    assert re.search(r"for u in ([a-z ]+); do", command).group(1).split() == users  # type: ignore[union-attr]
    for user in users:
        assert compose["secrets"][f"kafka-{user}"]["file"] == (
            f".stack/secure/secrets/kafka-{user}.password")
    for service in ("worker", "serve"):
        env = compose["services"][service]["environment"]
        assert env["GATEKEEPER_KAFKA_USERNAME"] == "gatekeeper"
        assert env["GATEKEEPER_KAFKA_PASSWORD_FILE"].startswith("/run/secrets/")
        assert env["GATEKEEPER_REDIS"].startswith("rediss://gatekeeper@")
        assert not any("PASSWORD" in name and not name.endswith("_FILE") for name in env)
    assert "allow.everyone.if.no.acl.found=false" in SCRIPT
    assert "password=" not in text.replace("password=$$(cat", "")


def test_the_gatekeeper_redis_user_may_run_every_command_of_the_lua_scripts() -> None:
    """Each command a script calls is granted to the `gatekeeper` ACL user of the secure stack
    (and docker-compose.secure.yml, made from the same lines): a script that calls one more
    command must grant it, or it fails only on a locked-down Redis."""
    root = Path(__file__).resolve().parents[2]
    script = (root / "scripts" / "stack-secure.sh").read_text()
    line = next(x for x in script.splitlines() if x.startswith("user gatekeeper on"))
    granted = {g.removeprefix("+") for g in line.split() if g.startswith("+")}
    called = set()
    for lua in (root / "gatekeeper" / "counters" / "lua").glob("*.lua"):
        called |= {c.lower() for c in re.findall(r"redis\.p?call\('([A-Za-z]+)'", lua.read_text())}
    assert called, "no redis.call found: the pattern no longer matches the scripts"
    assert called <= granted, f"not granted: {sorted(called - granted)}"
    assert {"flushall", "flushdb", "config", "keys"}.isdisjoint(granted)


def test_cluster_urls_with_and_without_tls_name_their_seed_node(tmp_path: Path) -> None:
    from gatekeeper.redis_url import check_redis_url, cluster_url

    assert cluster_url("redis+cluster://h:7001") == "redis://h:7001"
    assert cluster_url("rediss+cluster://gk@h:7011") == "rediss://gk@h:7011"
    assert cluster_url("rediss://h:6380/0") is None
    assert check_redis_url("rediss+cluster://gk@h:7011", "GATEKEEPER_REDIS")
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    options = redis_options("rediss+cluster://gk@h:7011", {"GATEKEEPER_REDIS_CA_FILE": str(ca)})
    assert options["ssl_ca_certs"] == str(ca)  # the CA goes with a TLS cluster URL too
