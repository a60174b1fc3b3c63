"""The Kafka ACLs of the secure stack: which principal may do what, and the one function that
grants them (used by ``scripts/stack up --secure`` and by the tests on the secure stack).

Topic names are the contract's defaults behind a topic prefix (``GATEKEEPER_TOPIC_PREFIX``);
consumer groups and faust's internal topics are PREFIXED patterns on the app id. With the
broker's ``allow.everyone.if.no.acl.found=false``, anything not granted here is refused.

    python -m gatekeeper.kafka_acls [--topic-prefix P] [--app-id gatekeeper] [--dry-run]
        grants the table with the administrator's credentials from the environment
        (GATEKEEPER_KAFKA_*), to GATEKEEPER_BROKER.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import dataclass
from typing import Any

from gatekeeper.settings import TOPIC_DEFAULTS

# Kafka's protocol codes (org.apache.kafka.common.acl / resource)
TOPIC, GROUP = 2, 3
LITERAL, PREFIXED = 3, 4
ALLOW = 3
OPERATIONS = {"READ": 3, "WRITE": 4, "CREATE": 5, "DESCRIBE": 8, "DESCRIBE_CONFIGS": 10}

READ = ("READ", "DESCRIBE")
WRITE = ("WRITE", "DESCRIBE")
OWN = ("CREATE", "DESCRIBE_CONFIGS")  # the worker creates missing topics, checks retention
DEFERRED = "contact.deferred"

# principal -> [(topic kinds, operations)]; "deferred" is the deferred-contacts topic
TABLE: dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "gatekeeper": [
        (("requests", "events", "outcomes", "decisions", "deferred"), READ),
        (("allowed", "review", "invalid", "decisions", "deferred", "audit"), WRITE),
        (("requests", "allowed", "review", "invalid", "events", "outcomes", "decisions",
          "deferred", "audit"), OWN),
    ],
    "dialer": [(("requests",), WRITE)],
    "crm": [(("events",), WRITE)],
    "carrier": [(("allowed",), READ), (("outcomes",), WRITE)],
    # the review console indexes these; a release goes out on allowed + decisions
    "console": [(("decisions", "review", "events", "outcomes", "audit"), READ),
                (("allowed", "decisions", "audit"), WRITE), (("audit",), OWN)],
}
GROUPS = {"gatekeeper": "{app_id}", "carrier": "carrier", "console": "console"}


@dataclass(frozen=True)
class Acl:
    principal: str  # User:<name>
    resource_type: int
    name: str
    pattern: int
    operation: str

    def __str__(self) -> str:
        kind = {TOPIC: "topic", GROUP: "group"}[self.resource_type]
        how = "prefixed" if self.pattern == PREFIXED else "literal"
        return f"{self.principal} {self.operation} {kind} {self.name!r} ({how})"


def topic_name(kind: str, topic_prefix: str) -> str:
    return topic_prefix + (DEFERRED if kind == "deferred" else TOPIC_DEFAULTS[kind])


def acls(topic_prefix: str = "", app_id: str = "gatekeeper",
         table: dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]] | None = None,
         ) -> list[Acl]:
    """Every ACL of ``table`` (default: TABLE) for topics behind ``topic_prefix`` and the
    gatekeeper's groups and faust topics under ``app_id``."""
    out: list[Acl] = []
    for user, grants in (TABLE if table is None else table).items():
        principal = f"User:{user}"
        for kinds, operations in grants:
            out += [Acl(principal, TOPIC, topic_name(kind, topic_prefix), LITERAL, op)
                    for kind in kinds for op in operations]
        group = GROUPS.get(user)
        if group is not None:
            name = group.format(app_id=app_id)
            out += [Acl(principal, GROUP, name, PREFIXED, op) for op in READ]
            if user == "gatekeeper":  # faust's <app id>-__assignor-__leader topic
                out += [Acl(principal, TOPIC, name, PREFIXED, op)
                        for op in ("READ", "WRITE", "CREATE", "DESCRIBE", "DESCRIBE_CONFIGS")]
    return out


async def grant(bootstrap: str, bindings: list[Acl], **client_options: Any) -> None:
    """Create ``bindings`` on the cluster (existing ones are left as they are)."""
    await _each(bootstrap, bindings, False, client_options)


async def revoke(bootstrap: str, bindings: list[Acl], **client_options: Any) -> None:
    """Delete ``bindings`` from the cluster (those missing are left as they are)."""
    await _each(bootstrap, bindings, True, client_options)


async def _each(bootstrap: str, bindings: list[Acl], delete: bool,
                client_options: dict[str, Any]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import for_code
    from aiokafka.protocol.admin import CreateAclsRequest, DeleteAclsRequest

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000,
                                **client_options)
    await admin.start()
    try:
        for acl in bindings:
            kind = DeleteAclsRequest if delete else CreateAclsRequest
            request = kind(acl.resource_type, acl.name, acl.pattern, acl.principal, "*",
                           OPERATIONS[acl.operation], ALLOW)
            # aiokafka has no create_acls(); its admin client sends the request as is
            response = await admin._send_request(request)  # noqa: SLF001
            answers = response.filter_responses if delete else response.creation_responses
            for code, message, *_ in answers:
                if code:
                    how = "deleting" if delete else "creating"
                    raise for_code(code)(f"{how} the ACL {acl}: {message}")
    finally:
        await admin.close()


def main(argv: list[str] | None = None) -> int:
    from gatekeeper.brokers import bootstrap
    from gatekeeper.kafka_security import kafka_options

    parser = argparse.ArgumentParser(prog="python -m gatekeeper.kafka_acls",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--topic-prefix", default=os.environ.get("GATEKEEPER_TOPIC_PREFIX", ""))
    parser.add_argument("--app-id", default=os.environ.get("GATEKEEPER_APP_ID", "gatekeeper"))
    parser.add_argument("--dry-run", action="store_true", help="print the ACLs, grant nothing")
    args = parser.parse_args(argv)
    bindings = acls(args.topic_prefix, args.app_id)
    if args.dry_run:
        print("\n".join(map(str, bindings)))
        return 0
    broker = os.environ.get("GATEKEEPER_BROKER", "kafka://127.0.0.1:9092")
    asyncio.run(grant(bootstrap(broker), bindings, **kafka_options()))
    print(f"granted {len(bindings)} ACLs (topic prefix {args.topic_prefix!r}, "
          f"app id {args.app_id!r})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
