"""Per-debtor counters and state in Redis: key layout (``keys``), Lua scripts (``lua/``)
and the store that runs them (``store``)."""
