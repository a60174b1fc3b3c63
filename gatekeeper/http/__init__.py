"""The pre-dial HTTP API (``gatekeeper serve``): a thin shell over the same core as the worker.

    settings.py   HttpSettings from the environment (GATEKEEPER_HTTP, ...)
    auth.py       API keys: hashed at rest in a file, checked in constant time
    batcher.py    concurrent checks gathered into one store round trip
    audit.py      contact.decisions / contact.review records, held while Kafka is away
    lookup.py     GET /v1/decisions: the debtor's record in Redis, the Decision from Kafka
    service.py    the check, dry run, events, outcomes and readiness, without HTTP
    app.py        the aiohttp routes, status codes and bodies
    openapi.py    the OpenAPI 3.1 document (referencing schemas/)
    cli.py        ``gatekeeper serve`` and ``gatekeeper apikeys``
"""
