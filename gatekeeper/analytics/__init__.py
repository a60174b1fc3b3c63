"""Analytics over the Kafka record: ``gatekeeper report`` (volumes, block rates, contact
outcomes by channel, local hour and stage) and ``gatekeeper backtest`` (a candidate policy
replayed over recorded history through the same core and Lua, compared with the recorded
decisions), and the synthetic history both are shown and tested on.

    dimensions   PURE  stage bands, local hours, the words of outcomes
    synthetic    PURE  a seeded month of traffic whose outcomes have a known structure
    recorder           decides synthetic traffic through the gate: the record a worker writes
    entries      PURE  Kafka record items -> typed entries (request, decision, event, outcome)
    figures      PURE  entries -> the report's figures (JSON-ready)
    compare      PURE  recorded vs candidate decisions -> the backtest's figures
    backtest           the replay on a private redis-server
    svg page     PURE  charts as inline SVG; the self-contained HTML pages
    sources            the record of a time range, read from Kafka
    progress           a progress bar on standard error
    commands           the click commands (report, backtest, history generate)
"""
