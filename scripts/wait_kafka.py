#!/usr/bin/env python3
"""Wait until a Kafka broker answers a metadata request (used by scripts/stack).

    wait_kafka.py [--bootstrap 127.0.0.1:9092] [--timeout 90] [--pid PID] [--warm] [--quiet]

--bootstrap takes what GATEKEEPER_BROKER takes (gatekeeper.brokers: one or several brokers,
with or without kafka://); the gatekeeper package is imported from this checkout.

Exit codes: 0 ready, 1 timeout, 2 --bootstrap is no broker URL, 3 the process given with
--pid died while we waited, 4 aiokafka is not importable.

"Ready" is stricter than an open TCP port: the broker must return metadata listing at least
one broker (in KRaft that happens once the broker is registered with the controller and
unfenced). With --warm it then also asks for the group coordinator of a throw-away group until
that succeeds: the first FindCoordinator makes the broker create __consumer_offsets, so the
first real consumer group later joins without waiting for that.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # gatekeeper from this checkout


def _alive(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # an exited child of the (busy) shell stays a zombie until it is reaped
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


async def _metadata_ok(bootstrap: str, timeout_s: float) -> bool:
    from aiokafka.client import AIOKafkaClient

    from gatekeeper.kafka_security import kafka_options

    client = AIOKafkaClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=int(timeout_s * 1000),
        metadata_max_age_ms=1000,
        **kafka_options(),  # GATEKEEPER_KAFKA_* (the secure stack's administrator)
    )
    try:
        await asyncio.wait_for(client.bootstrap(), timeout_s)
        md = await asyncio.wait_for(client.fetch_all_metadata(), timeout_s)
        return bool(md.brokers())
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            await client.close()


async def _coordinator_ok(bootstrap: str, timeout_s: float) -> bool:
    from aiokafka.client import AIOKafkaClient, CoordinationType

    from gatekeeper.kafka_security import kafka_options

    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000),
                            **kafka_options())
    try:
        await asyncio.wait_for(client.bootstrap(), timeout_s)
        await asyncio.wait_for(
            client.coordinator_lookup(CoordinationType.GROUP, "gatekeeper-stack-warmup"), timeout_s
        )
        return True
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            await client.close()


async def _main(args: argparse.Namespace) -> int:
    deadline = time.monotonic() + args.timeout
    t0 = time.monotonic()
    while True:
        if not _alive(args.pid):
            return 3
        if await _metadata_ok(args.bootstrap, 2.0):
            break
        if time.monotonic() > deadline:
            return 1
        await asyncio.sleep(0.25)
    if not args.quiet:
        print(f"kafka: metadata answered after {time.monotonic() - t0:.1f}s", file=sys.stderr)
    if args.warm:
        t1 = time.monotonic()
        while True:
            if not _alive(args.pid):
                return 3
            if await _coordinator_ok(args.bootstrap, 5.0):
                break
            if time.monotonic() > deadline:
                return 1
            await asyncio.sleep(0.25)
        if not args.quiet:
            took = time.monotonic() - t1
            print(f"kafka: group coordinator ready after {took:.1f}s more", file=sys.stderr)
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bootstrap", default="127.0.0.1:9092",
                   help="broker URL(s), e.g. 127.0.0.1:9092 or kafka://h1:9092;kafka://h2:9092")
    p.add_argument("--timeout", type=float, default=90.0)
    p.add_argument("--pid", type=int, default=None)
    p.add_argument("--warm", action="store_true")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()
    from gatekeeper.brokers import BrokerURLError, bootstrap

    try:
        args.bootstrap = bootstrap(args.bootstrap, variable="--bootstrap")
    except BrokerURLError as exc:
        print(f"wait_kafka.py: {exc}", file=sys.stderr)
        return 2
    try:
        import aiokafka  # noqa: F401
    except ImportError:
        print("wait_kafka.py: aiokafka is not importable", file=sys.stderr)
        return 4
    # aiokafka logs every refused connection at ERROR while the broker boots; keep it quiet.
    logging.basicConfig(level=logging.CRITICAL)
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
