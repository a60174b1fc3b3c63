"""The benchmark's phases, each a coroutine ``phase_*(run, ...) -> dict`` of figures:

    passthrough   the aiokafka and faust passthrough baselines (saturation)
    worker        the gatekeeper worker at saturation, with its Redis cost
    latency       end-to-end latency at fixed offered loads (worker, faust passthrough)
    lua           the decide script alone vs SET, pipelined; Gate.decide in-process
    durability    decide.lua with Redis AOF off, appendfsync everysec and always
    profile       the worker under py-spy, by component
"""
