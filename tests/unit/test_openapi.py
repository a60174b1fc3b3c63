"""The OpenAPI document: every route documented, bodies by reference to schemas/."""

from __future__ import annotations

from typing import Any, cast

from gatekeeper.http.app import build_app
from gatekeeper.http.auth import KeyCheck, KeyFile
from gatekeeper.http.openapi import document
from gatekeeper.http.service import Service
from gatekeeper.paths import SCHEMAS


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [
            r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def test_it_is_openapi_3_1_and_documents_every_route_of_the_server(tmp_path: Any) -> None:
    doc = document()
    assert doc["openapi"].startswith("3.1")
    app = build_app(cast(Service, object()), KeyCheck(KeyFile(tmp_path)), 1024)
    served = {(route.method.lower(), route.resource.canonical) for route in app.router.routes()
              if route.resource is not None and route.method != "HEAD"}
    documented = {(method, path) for path, item in doc["paths"].items() for method in item}
    assert served - {("get", "/schemas/{name}")} == documented


def test_bodies_are_references_to_the_json_schemas_of_the_contract() -> None:
    doc = document()
    files = {r for r in refs(doc) if not r.startswith("#")}
    assert files == {"schemas/contact_request.schema.json", "schemas/decision.schema.json",
                     "schemas/debtor_event.schema.json", "schemas/contact_outcome.schema.json"}
    for ref in files:
        assert (SCHEMAS / ref.removeprefix("schemas/")).is_file()
    check = doc["paths"]["/v1/check"]["post"]
    assert check["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "schemas/contact_request.schema.json"}
    assert set(check["responses"]) == {"200", "409", "401", "413", "415", "422", "503"}
    assert "Retry-After" in check["responses"]["503"]["headers"]
    for ref in refs(doc):
        if ref.startswith("#/components/schemas/"):
            assert ref.rsplit("/", 1)[1] in doc["components"]["schemas"]


def test_every_v1_route_needs_the_api_key_and_the_probes_do_not() -> None:
    for path, item in document()["paths"].items():
        for operation in item.values():
            assert ("security" in operation) == path.startswith("/v1/"), path
