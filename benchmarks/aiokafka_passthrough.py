"""The plain baseline: an aiokafka consume-and-produce loop, no faust, no checks.

It does what the worker's request agent does with Kafka, with nothing else: read a batch
(up to GATEKEEPER_BATCH_SIZE records, waiting at most GATEKEEPER_BATCH_WITHIN), produce each
record's key and value to the output topic (linger 1 ms, acks=all, as the worker), wait for
every acknowledgement; the consumed offsets are committed every 0.5 s (the worker's
broker_commit_interval).

    aiokafka_passthrough.py BOOTSTRAP GROUP INPUT_TOPIC OUTPUT_TOPIC
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


async def main(bootstrap: str, group: str, source: str, target: str) -> None:
    batch = int(os.environ.get("GATEKEEPER_BATCH_SIZE", "500"))
    within = float(os.environ.get("GATEKEEPER_BATCH_WITHIN", "0.01"))
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id=group,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                session_timeout_ms=10000, heartbeat_interval_ms=1000)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=1, acks="all")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await producer.start()
    await consumer.start()
    print("aiokafka passthrough ready", flush=True)
    committed = time.monotonic()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=int(within * 1000), max_records=batch)
            if not batches:
                continue
            futures = [await producer.send(target, r.value, key=r.key)
                       for records in batches.values() for r in records]
            await asyncio.gather(*futures)
            if time.monotonic() - committed >= 0.5:
                await consumer.commit()
                committed = time.monotonic()
        await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
