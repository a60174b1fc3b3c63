"""The routes of ``gatekeeper serve``: status codes and bodies over ``service.Service``.

Every error body is ``{"error": {type, message, field, expected, found}}``; nothing answers
with a traceback. ``/v1/`` needs ``Authorization: Bearer <API key>``; the key's name goes
with each decision to contact.decisions as its ``source``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gatekeeper.errors import InvalidInput
from gatekeeper.http import metrics
from gatekeeper.http.auth import KeyCheck, Unauthorized
from gatekeeper.http.openapi import SCHEMA_FILES, document
from gatekeeper.http.service import Service, Unavailable
from gatekeeper.model import Decision
from gatekeeper.paths import SCHEMAS
from gatekeeper.validate import decode as decode_json
from gatekeeper.validate import request_from_dict

log = logging.getLogger("gatekeeper.http")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SERVICE = web.AppKey("service", Service)
KEYS = web.AppKey("keys", KeyCheck)
MAX_BODY = web.AppKey("max_body", int)
CONSOLE = "/console"
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no", "")
JSON_TYPE = {"Content-Type": "application/json"}


class BodyError(Exception):
    def __init__(self, status: int, kind: str, message: str, field: str, expected: str,
                 found: Any):
        super().__init__(message)
        self.status = status
        self.body = _error(kind, message, field, expected, found)


def _error(kind: str, message: str, field: str = "", expected: str = "",
           found: Any = None) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message, "field": field, "expected": expected,
                      "found": found}}


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None
          ) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status,
                        headers={**JSON_TYPE, **headers} if headers else JSON_TYPE)


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Auth for /v1/, and every failure as a JSON body with its status."""
    if request.path.startswith(CONSOLE):  # its own session auth, CSRF and error pages
        return await handler(request)
    route = request.match_info.route.resource
    name = route.canonical if route is not None else "unmatched"
    status = 500
    try:
        if request.path.startswith("/v1/"):
            request["api_key"] = request.app[KEYS].identify(request.headers.get("Authorization"))
        response = await handler(request)
        status = response.status
        return response
    except Unauthorized as exc:
        status = 401
        return _json(_error("unauthorized", exc.message, "Authorization",
                            "Bearer <API key> (gatekeeper apikeys add NAME)", exc.found), 401,
                     {"WWW-Authenticate": 'Bearer realm="gatekeeper"'})
    except BodyError as exc:
        status = exc.status
        return _json(exc.body, exc.status)
    except InvalidInput as exc:
        status = 422
        return _json({"error": exc.as_dict()}, 422)
    except Unavailable as exc:
        status = 503
        return _json(_error("unavailable", exc.message), 503,
                     {"Retry-After": str(exc.retry_after)})
    except web.HTTPException as exc:  # the router's 404 and 405
        status = exc.status
        return _json(_error("not_found" if exc.status == 404 else "method_not_allowed",
                            f"{request.method} {request.path}: {exc.reason}"), exc.status,
                     {k: v for k, v in exc.headers.items() if k == "Allow"})
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return _json(_error("internal", "the server failed; the failure is logged"), 500)
    finally:
        metrics.count_request(name, status)


async def read_body(request: web.Request) -> bytes:
    """The JSON body, or 415 / 413."""
    limit = request.app[MAX_BODY]
    if request.content_type != "application/json":
        raise BodyError(415, "unsupported_media_type", "the body must be JSON",
                        "Content-Type", "application/json", request.content_type)
    if request.content_length is not None and request.content_length > limit:
        raise BodyError(413, "too_large", f"the body is {request.content_length} bytes, "
                        f"larger than {limit}", "", f"at most {limit} bytes",
                        request.content_length)
    if request.content_length is not None:  # the usual case: one read, at most the limit
        return await request.read()
    body = bytearray()  # chunked: counted as it comes
    async for chunk in request.content.iter_any():
        body += chunk
        if len(body) > limit:
            raise BodyError(413, "too_large", f"the body is larger than {limit} bytes", "",
                            f"at most {limit} bytes", f"more than {limit} bytes")
    return bytes(body)


def _flag(request: web.Request, name: str) -> bool:
    if not request.query_string:  # most checks: no query to parse
        return False
    raw = request.query.get(name, "").strip().lower()
    if raw in TRUE or raw in FALSE:
        return raw in TRUE
    raise InvalidInput(f"query parameter {name}: not a boolean", field=name,
                       expected="true or false", found=request.query.get(name))


def _decided(decision: Decision | InvalidInput, dry_run: bool = False) -> web.Response:
    if isinstance(decision, InvalidInput):
        raise decision
    body = {**decision, "dry_run": True} if dry_run else decision
    return _json(body, 200 if decision["decision"] == "allowed" else 409)


async def check(request: web.Request) -> web.Response:
    started = time.perf_counter()
    body = await read_body(request)
    dry_run = _flag(request, "dry_run")
    parsed = request_from_dict(decode_json(body))
    service = request.app[SERVICE]
    if dry_run:
        return _decided(await service.dry_run(parsed), dry_run=True)
    checked = await service.check(parsed, request["api_key"])
    metrics.CHECK_SECONDS.observe(time.perf_counter() - started)
    return _decided(checked.decision)


async def decision(request: web.Request) -> web.Response:
    request_id = request.match_info["request_id"]
    debtor_id = request.query.get("debtor_id", "")
    if not debtor_id:
        raise InvalidInput("query parameter debtor_id: required (decisions are kept per "
                           "debtor)", field="debtor_id", expected="the request's debtor_id",
                           found=None)
    found = await request.app[SERVICE].decision(request_id, debtor_id)
    if found is None:
        return _json(_error("not_found", f"no decision on record for request_id "
                                         f"{request_id!r} of debtor {debtor_id!r}",
                            "request_id", "a request id decided in the last "
                            "decision TTL", request_id), 404)
    return _json(found)


async def debtor(request: web.Request) -> web.Response:
    return _json(await request.app[SERVICE].debtor(request.match_info["debtor_id"]))


async def event(request: web.Request) -> web.Response:
    return _json(await request.app[SERVICE].event(await read_body(request)), 202)


async def outcome(request: web.Request) -> web.Response:
    return _json(await request.app[SERVICE].outcome(await read_body(request)), 202)


async def healthz(request: web.Request) -> web.Response:
    return _json({"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    ready, checks = await request.app[SERVICE].readiness()
    return _json({"ready": ready, "checks": checks}, 200 if ready else 503)


async def prometheus(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(request: web.Request) -> web.Response:
    return _json(document())


async def schema(request: web.Request) -> web.Response:
    name = request.match_info["name"].removesuffix(".schema.json")
    if name not in SCHEMA_FILES:
        raise web.HTTPNotFound()
    return web.Response(body=(SCHEMAS / f"{name}.schema.json").read_bytes(),
                        content_type="application/schema+json")


def build_app(service: Service, keys: KeyCheck, max_body: int) -> web.Application:
    app = web.Application(middlewares=[guard], client_max_size=max_body)
    app[SERVICE] = service
    app[KEYS] = keys
    app[MAX_BODY] = max_body
    app.router.add_post("/v1/check", check)
    app.router.add_get("/v1/decisions/{request_id}", decision)
    app.router.add_get("/v1/debtors/{debtor_id}", debtor)
    app.router.add_post("/v1/events", event)
    app.router.add_post("/v1/outcomes", outcome)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", prometheus)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/schemas/{name}", schema)
    return app
