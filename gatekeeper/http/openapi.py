"""The OpenAPI 3.1 document of the HTTP API (``GET /openapi.json``).

Request and decision bodies are not restated here: they are ``$ref``s to the JSON Schemas in
``schemas/`` (served beside the document at ``/schemas/<file>``), so the contract has one
source. Only the shapes that exist over HTTP alone (errors, acceptances, readiness, the
debtor view) are written out.
"""

from __future__ import annotations

from typing import Any

from gatekeeper import __version__
from gatekeeper.paths import SCHEMAS

SCHEMA_FILES = ("contact_request", "decision", "debtor_event", "contact_outcome")


def schema_ref(name: str) -> dict[str, str]:
    return {"$ref": f"schemas/{name}.schema.json"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json({"$ref": "#/components/schemas/Error"}, description)


def _unavailable(description: str) -> dict[str, Any]:
    answer = _error(description)
    answer["headers"] = {"Retry-After": {"description": "seconds to wait before trying again",
                                         "schema": {"type": "integer"}}}
    return answer


ERRORS = {
    "401": _error("no valid API key (header WWW-Authenticate: Bearer)"),
    "413": _error("the body is larger than the limit (GATEKEEPER_HTTP_MAX_BODY)"),
    "415": _error("the body is not application/json"),
    "422": _error("invalid: malformed JSON, or a schema error naming the field"),
}
DECISION = schema_ref("decision")
ERROR = {
    "type": "object", "required": ["error"],
    "properties": {"error": {
        "type": "object", "required": ["type", "message"],
        "properties": {
            "type": {"type": "string", "examples": ["invalid_input", "unauthorized",
                                                    "too_large", "unavailable"]},
            "message": {"type": "string"},
            "field": {"type": "string", "description": "dotted path of the field at fault"},
            "expected": {"type": "string"},
            "found": {"description": "a short rendering of what arrived"}}}},
}
ACCEPTED = {"type": "object", "required": ["accepted", "topic", "partition", "offset"],
            "properties": {"accepted": {"const": True}, "topic": {"type": "string"},
                           "partition": {"type": "integer"}, "offset": {"type": "integer"}}}


def _post(summary: str, body: str, answers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"post": {"summary": summary, "security": [{"apiKey": []}],
                     "requestBody": {"required": True, "content": {
                         "application/json": {"schema": schema_ref(body)}}},
                     "responses": {**answers, **ERRORS}, **extra}}


def document() -> dict[str, Any]:
    missing = [n for n in SCHEMA_FILES if not (SCHEMAS / f"{n}.schema.json").is_file()]
    if missing:
        raise FileNotFoundError(f"schemas missing from {SCHEMAS}: {missing}")
    dry_run = {"name": "dry_run", "in": "query", "required": False,
               "schema": {"type": "boolean", "default": False},
               "description": "the decision now; nothing is counted or recorded"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "gatekeeper pre-dial API", "version": __version__,
                 "description": "Check a contact before placing it: 200 place it, 409 do not. "
                                "Same policy, counters and idempotency as the Kafka stream."},
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer",
                                           "description": "gatekeeper apikeys add NAME"}},
            "schemas": {"Error": ERROR, "Accepted": ACCEPTED},
        },
        "paths": {
            "/v1/check": _post(
                "Decide a contact request (counted and recorded when allowed)",
                "contact_request",
                {"200": _json(DECISION, "allowed: place the contact"),
                 "409": _json(DECISION, "blocked: do not place it (reasons, retry_at)"),
                 "503": _unavailable("Redis unavailable or being rebuilt, or too many audit "
                                     "records waiting for Kafka: nothing was decided")},
                parameters=[dry_run]),
            "/v1/decisions/{request_id}": {"get": {
                "summary": "A recorded decision (either path)", "security": [{"apiKey": []}],
                "parameters": [
                    {"name": "request_id", "in": "path", "required": True,
                     "schema": {"type": "string"}},
                    {"name": "debtor_id", "in": "query", "required": True,
                     "schema": {"type": "string"},
                     "description": "the debtor of the request (records are kept per debtor)"}],
                "responses": {"200": _json(DECISION, "the decision"),
                              "404": _error("no decision on record"),
                              "401": ERRORS["401"], "422": ERRORS["422"],
                              "503": _unavailable("the store or Kafka cannot be read now")}}},
            "/v1/debtors/{debtor_id}": {"get": {
                "summary": "A debtor's state and current counters, in plain words",
                "security": [{"apiKey": []}],
                "parameters": [{"name": "debtor_id", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {"200": _json({"type": "object"}, "the debtor"),
                              "401": ERRORS["401"],
                              "503": _unavailable("the store cannot be read now")}}},
            "/v1/events": _post(
                "Record a debtor event on debtor.events", "debtor_event",
                {"202": _json({"$ref": "#/components/schemas/Accepted"},
                              "acknowledged by Kafka"),
                 "503": _unavailable("Kafka did not acknowledge")}),
            "/v1/outcomes": _post(
                "Report a contact's outcome on contact.outcomes", "contact_outcome",
                {"202": _json({"$ref": "#/components/schemas/Accepted"},
                              "acknowledged by Kafka"),
                 "503": _unavailable("Kafka did not acknowledge")}),
            "/healthz": {"get": {"summary": "Liveness", "responses": {
                "200": _json({"type": "object"}, "the process answers")}}},
            "/readyz": {"get": {"summary": "Readiness: Redis and Kafka answer, scripts "
                                           "loaded, nothing being rebuilt", "responses": {
                "200": _json({"type": "object"}, "ready"),
                "503": _json({"type": "object"}, "not ready, with what is not")}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {
                "200": {"description": "text exposition format",
                        "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/openapi.json": {"get": {"summary": "This document", "responses": {
                "200": _json({"type": "object"}, "OpenAPI 3.1")}}},
        },
    }
