"""Analytics over the Kafka record: ``gatekeeper report`` (volumes, block rates, contact
outcomes by channel, local hour and stage) and ``gatekeeper backtest`` (a candidate policy
replayed over recorded history through the same core and Lua, compared with the recorded
decisions), and the synthetic history both are shown and tested on.

    dimensions   PURE  stage bands, local hours, profiles, the words of outcomes
    synthetic    PURE  a seeded month of traffic whose outcomes have a known structure
    recorder           decides synthetic traffic through the gate: the record a worker writes
    entries      PURE  Kafka record items -> typed entries (event, decision, outcome)
    figures      PURE  entries -> the report's figures (JSON-ready)
    replay       PURE  debtor lanes: a history applied in waves of big pipelines
    backtest           the candidate's replay on a store of its own, warm-up included
    compare      PURE  recorded vs candidate decisions -> the backtest's figures
    svg page     PURE  charts as inline SVG; the self-contained HTML pages
    sources            the record of a time range, read from Kafka (record_reader)
    run                report, backtest and history generate over Kafka
    progress           a progress bar on standard error
    commands           the click commands (added to ``gatekeeper`` by ``cli``)
"""
