"""The API's description: OpenAPI 3.1 that validates, a docs page that works offline, every route described,
every refusal code worded; and schemathesis fuzzing every endpoint against it (no 5xx, answers as described)."""
from __future__ import annotations

import re
from pathlib import Path

import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi import checks
from schemathesis.specs.openapi.definitions import OPENAPI_31

from ovop.core.errors import REASONS
from ovop.web.api import openapi
from tests.conftest import TOKEN

ROOT = Path(__file__).resolve().parent.parent


def test_the_description_is_valid_openapi_3_1_and_public(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    described = response.get_json()
    assert described["openapi"] == "3.1.0"
    assert list(jsonschema_rs.validator_for(OPENAPI_31).iter_errors(described)) == []
    for name, schema in described["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name
    refs = set(re.findall(r"#/components/schemas/([\w-]+)", response.get_data(as_text=True)))
    assert refs <= set(described["components"]["schemas"])


def test_every_route_of_the_api_is_described_with_its_body_and_answers(app, client):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")}
    assert endpoints - openapi.UNDOCUMENTED == set(openapi.OPERATIONS)
    described = client.get("/api/v1/openapi.json").get_json()
    create = described["paths"]["/producers"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/NewProducer"}
    assert described["components"]["schemas"]["NewProducer"]["additionalProperties"] is False
    listed = described["paths"]["/producers"]["get"]
    assert {p["name"] for p in listed["parameters"]} >= {"cooperative_id", "q", "limit", "after"}
    page = listed["responses"]["200"]["content"]["application/json"]["schema"]
    assert page["required"] == ["items", "next"] and page["properties"]["next"]["type"] == ["string", "null"]
    assert described["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "the service's ADMIN_TOKEN"}
    assert "422" in create["responses"] and "401" in create["responses"]


def test_the_docs_page_lists_every_endpoint_and_fetches_nothing_from_elsewhere(client):
    response = client.get("/api/docs")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "text/html" in response.content_type
    described = client.get("/api/v1/openapi.json").get_json()
    for path, methods in described["paths"].items():
        for method in methods:
            assert f'id="{methods[method]["operationId"]}"' in page and f"/api/v1{path}" in page
    assert 'id="schema-NewOrder"' in page and "Other fields are refused." in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # no CDN, no outside font


def test_every_refusal_code_raised_in_the_code_has_its_english_reason():
    raised = set()
    for path in (ROOT / "ovop").rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        raised |= set(re.findall(r"""(?:Invalid|Duplicate|Refusal)\(\s*[^,()]+,\s*["']([a-z_]+)["']""", source))
        raised |= set(re.findall(r"""PydanticCustomError\(\s*["']([a-z_]+)["']""", source))
    from ovop.domain.schemas import CODES
    raised |= set(CODES.values())
    assert len(raised) > 30
    assert raised - set(REASONS) == set()


# --- schemathesis ---------------------------------------------------------------------------------------------

CHECKS = [not_a_server_error, checks.response_schema_conformance, checks.status_code_conformance, checks.content_type_conformance]


def test_no_input_makes_the_api_fail_or_answer_off_its_description(demo):
    """Every operation, a dozen generated calls each, through the WSGI app on the demo data (so ids exist):
    never a 5xx (checked on every call), and each answer's status, type and body as described."""
    described = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", demo)
    operations = [result.ok() for result in described.get_all_operations()]
    assert len(operations) == len(openapi.OPERATIONS)
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def call(case):
            case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, checks=CHECKS)

        call()
