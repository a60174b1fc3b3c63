"""Deferral (``on_block: defer``): a request blocked only by the clock is parked and
decided again, through the same gate, at the next legal time.

    rule.py      PURE: is a blocked decision deferrable, and until when
    messages.py  PURE: the messages of deferral (announcement, cancel record, release
                 outputs) and the cancel message's shape
    schedule.py  the schedule in Redis: one sorted set per request partition (the wire of
                 ``counters/lua/schedule.lua`` lives in ``counters/schedule_wire.py``)
    release.py   one due entry -> its decision (the same core) and outputs
    service.py   the worker's release loop: due entries of its partitions, paced
    rebuild.py   the schedule rebuilt from ``contact.deferred`` and ``contact.decisions``
"""
