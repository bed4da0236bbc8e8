"""The OpenAPI 3.1 description at /api/openapi.json: served without a token, structurally sound,
and in step with the URLconf (every route and method has an entry, and no entry is stale)."""

import re

import pytest
from django.urls import URLPattern

from conversations.api import urls as api_urls
from conversations.api.http import not_found
from conversations.api.openapi import SCHEMA

HTTP_METHODS = {"get", "post", "put", "patch", "delete", "head", "options", "trace"}
# Django path converters' names -> the schema's parameter names.
PARAM_NAMES = {"pk": "id"}


def routes() -> dict[str, set[str]]:
    """/api/... path template -> methods, read from the API's URLconf."""
    found = {}
    for pattern in api_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        if pattern.callback is not_found:
            continue
        template = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: "{" + PARAM_NAMES.get(m[1], m[1]) + "}", str(pattern.pattern))
        handlers = getattr(pattern.callback, "api_handlers", {"GET": None})
        found["/api/" + template] = {m.lower() for m in handlers}
    return found


def test_the_schema_is_served_without_a_token(client, db):
    response = client.get("/api/openapi.json")

    assert response.status_code == 200
    body = response.json()
    assert body["openapi"] == "3.1.0" and body["servers"] == [{"url": "http://testserver"}]


def test_every_route_and_method_has_an_entry_and_no_entry_is_stale():
    documented = {path: set(item) & HTTP_METHODS for path, item in SCHEMA["paths"].items()}

    assert documented == routes()


def test_every_reference_resolves():
    def refs(node):
        if isinstance(node, dict):
            if "$ref" in node:
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    found = set(refs(SCHEMA))
    assert found
    for ref in found:
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in SCHEMA["components"]["schemas"]


def test_operations_are_complete():
    ids = []
    for path, item in SCHEMA["paths"].items():
        templated = set(re.findall(r"{(\w+)}", path))
        for method, operation in item.items():
            ids.append(operation["operationId"])
            assert operation["responses"], (path, method)
            assert all(re.fullmatch(r"[1-5][0-9][0-9]", code) for code in operation["responses"])
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == templated, (path, method)
            if operation.get("security") != []:
                assert "401" in operation["responses"], (path, method)
    assert len(ids) == len(set(ids))


def test_it_validates_against_the_openapi_3_1_specification():
    validators = pytest.importorskip("openapi_spec_validator.validation.validators")
    from openapi_spec_validator import validate

    validate(SCHEMA, cls=validators.OpenAPIV31SpecValidator)
