"""The worker process's garbage collector, set for a hot loop that allocates per request.

A decided request leaves a few hundred short-lived objects (a plan, its checks, the Lua
arguments, the verdict); with Python's default threshold (700) the youngest generation is
collected every few requests, and each collection also walks what the state caches hold.
Once the worker is started, everything it holds so far (the policy, the faust app, the
libraries) is frozen out of the collector's way, and the youngest generation is collected
every ``YOUNG`` allocations instead. Cycles are still collected: later, in fewer passes.
"""

from __future__ import annotations

import gc

YOUNG = 20_000  # allocations between collections of the youngest generation (default 700)


def settle() -> None:
    """Collect once, freeze what survives (the start-up objects), collect less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG, middle, old)
