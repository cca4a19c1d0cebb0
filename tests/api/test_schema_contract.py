"""What a client generator reads in `/api/schema/`: names, types and enums it can trust.

The conformance tests (test_schema_fuzz.py) check that answers match the schema; these check that the schema
says enough: every nested answer a named, typed component, every status-like field an enum built from its
model's TextChoices, one error component, stable operationIds, no defaults that make optional inputs
required, the original clients' identity fields deprecated.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from drf_spectacular.plumbing import deep_import_string

from config.exceptions import ErrorCode

ROOT = Path(__file__).resolve().parents[2]
# Stable names for generated clients' functions: `<resource>_<verb>`. Changing one breaks every client.
OPERATION_IDS = {
    ("/api/analyze", "post"): "requests_analyze",
    ("/api/requests", "get"): "requests_list",
    ("/api/requests/{request_id}", "get"): "requests_get",
    ("/api/approve", "post"): "requests_approve",
    ("/api/requests/{request_id}/revise", "post"): "requests_revise",
    ("/api/requests/{request_id}/cancel", "post"): "requests_cancel",
    ("/api/execute", "post"): "executions_start",
    ("/api/executions/{execution_id}", "get"): "executions_get",
    ("/api/executions/{execution_id}/artifacts/{name}", "get"): "executions_artifact_download",
    ("/api/sessions", "get"): "sessions_list",
    ("/api/sessions/{session_id}", "get"): "sessions_get",
    ("/api/sessions/{session_id}/archive", "post"): "sessions_archive",
    ("/api/datasets", "get"): "datasets_list",
    ("/api/datasets", "post"): "datasets_upload",
    ("/api/datasets/{dataset_id}", "get"): "datasets_get",
    ("/api/audit", "get"): "audit_list",
    ("/api/budget", "get"): "budget_get",
    ("/api/spend", "get"): "spend_get",
    ("/api/spend.csv", "get"): "spend_csv",
    ("/api/tokens", "get"): "tokens_list",
    ("/api/tokens", "post"): "tokens_create",
    ("/api/tokens", "delete"): "tokens_revoke_all",
    ("/api/tokens/{token_id}", "delete"): "tokens_revoke",
    ("/api/schema/", "get"): "schema_get",
}
# Where each named enum must be used: (component, property) pairs and (operation, query parameter) pairs.
ENUM_USES = {
    "RequestStatus": [
        ("ApprovalRequest", "status"),
        ("ApprovalRequest", "approvalStatus"),
        ("ApprovalRequestDetail", "status"),
        ("RequestVersion", "status"),
        ("AnalyzeOutput", "status"),
        ("ErrorDetail", "status"),
        ("requests_list", "status"),
    ],
    "ExecutionStatus": [("Execution", "status"), ("ExecutionSummary", "status"), ("ExecuteOutput", "status")],
    "RiskLevel": [("ApprovalRequest", "riskLevel"), ("CardRisk", "level")],
    "FindingSeverity": [("Finding", "severity")],
    "PlanFindingKind": [("CardPlanFinding", "kind")],
    "DatasetStatus": [("Dataset", "status"), ("DatasetSummary", "status"), ("ErrorDetail", "datasetStatus")],
    "AuditAction": [("AuditEvent", "action"), ("audit_list", "action")],
    "SessionStatus": [("Session", "status")],
    "MessageRole": [("Message", "role")],
    "BudgetScope": [("BudgetStatus", "scope"), ("BudgetWarning", "scope"), ("ErrorDetail", "scope")],
    "BudgetPeriod": [("BudgetStatus", "period")],
    "SpendGroup": [("SpendReport", "groupBy"), ("spend_get", "groupBy"), ("spend_csv", "groupBy")],
    "CostFeature": [("SpendRow", "feature")],
}
# Field names of status-like values (`statusLabel`, the status in words for people, is not one).
STATUS_LIKE = r"(^status$|Status$|^action$|^role$|^scope$|^period$|^severity$|[rR]iskLevel|^level$|^kind$)"
# Free-form by design: what clients store (session metadata), a console change's states before and after.
FREE_FORM = {("Session", "metadata"), ("SessionDetail", "metadata"), ("AuditDetails", "before")}
FREE_FORM |= {("AuditDetails", "after")}


@pytest.fixture(scope="module")
def schema() -> dict:
    out = io.StringIO()
    call_command("spectacular", "--format", "openapi-json", "--validate", "--fail-on-warn", stdout=out)
    return json.loads(out.getvalue())


def operations(schema: dict):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def operation(schema: dict, operation_id: str) -> dict:
    return next(op for _, _, op in operations(schema) if op["operationId"] == operation_id)


def refs(node) -> set[str]:
    """The component names a schema refers to, directly or through allOf/oneOf/anyOf."""
    if not isinstance(node, dict):
        return set()
    found = {node["$ref"].rsplit("/", 1)[1]} if "$ref" in node else set()
    for key in ("allOf", "oneOf", "anyOf"):
        for part in node.get(key, []):
            found |= refs(part)
    return found


def test_every_operation_has_its_stable_readable_id(schema):
    assert {(path, method): op["operationId"] for path, method, op in operations(schema)} == OPERATION_IDS


def test_docs_list_every_operation_id(schema):
    docs = (ROOT / "docs" / "api.md").read_text()
    assert [name for name in OPERATION_IDS.values() if f"`{name}`" not in docs] == []


@pytest.mark.parametrize("name", sorted(settings.SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]))
def test_each_enum_is_its_models_choices_and_is_used_where_the_field_is(schema, name):
    choices = deep_import_string(settings.SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"][name])
    assert schema["components"]["schemas"][name]["enum"] == list(choices.values)
    components = schema["components"]["schemas"]
    for owner, field in ENUM_USES[name]:
        if owner in components:
            used = components[owner]["properties"][field]
        else:
            used = next(p["schema"] for p in operation(schema, owner)["parameters"] if p["name"] == field)
        assert name in refs(used), (owner, field, used)


def test_no_status_like_field_is_a_plain_string(schema):
    plain = [
        (component, field)
        for component, body in schema["components"]["schemas"].items()
        for field, prop in body.get("properties", {}).items()
        if re.search(STATUS_LIKE, field) and prop.get("type") == "string"
    ]
    assert plain == []


def test_every_answer_field_is_typed(schema):
    """No `{}` a generator must type as unknown, except the free-form fields named in FREE_FORM."""
    untyped = []
    for component, body in schema["components"]["schemas"].items():
        for field, prop in body.get("properties", {}).items():
            if (component, field) in FREE_FORM:
                assert prop["type"] == "object", (component, field)
                continue
            if not ({"type", "$ref", "allOf", "oneOf", "anyOf"} & set(prop)):
                untyped.append((component, field))
            if prop.get("type") == "array" and not prop["items"]:
                untyped.append((component, f"{field}[]"))
            if prop.get("type") == "object" and not prop.get("properties"):
                if not prop.get("additionalProperties"):
                    untyped.append((component, f"{field}{{}}"))
    assert untyped == []


def test_nested_answers_are_named_components(schema):
    detail = schema["components"]["schemas"]["ApprovalRequestDetail"]["properties"]
    assert refs(detail["card"]) == {"ApprovalCard"}
    assert refs(detail["decision"]) == {"Decision"} and detail["decision"]["nullable"]
    assert refs(detail["execution"]) == {"ExecutionSummary"} and detail["execution"]["nullable"]
    assert refs(detail["previousVersion"]) == {"RequestVersion"} and detail["previousVersion"]["nullable"]
    execution = schema["components"]["schemas"]["Execution"]["properties"]
    assert refs(execution["results"]["items"]) == {"ResultItem"}
    assert refs(execution["limits"]) == {"ExecutionLimits"}
    assert refs(execution["error"]) == {"ExecutionError"} and execution["error"]["nullable"]
    assert refs(execution["artifacts"]["items"]) == {"Artifact"}
    for answer in ("AnalyzeOutput", "ExecuteOutput"):
        warning = schema["components"]["schemas"][answer]["properties"]["budgetWarning"]
        assert refs(warning) == {"BudgetWarning"} and warning["nullable"]
    assert schema["components"]["schemas"]["BudgetStatus"]["properties"]["user"]["nullable"]
    assert refs(schema["components"]["schemas"]["AuditEvent"]["properties"]["details"]) == {"AuditDetails"}
    dataset = schema["components"]["schemas"]["Dataset"]["properties"]
    assert refs(dataset["columns"]["items"]) == {"Column"}
    assert dataset["profiledAt"]["nullable"]
    listed = schema["components"]["schemas"]["DatasetSummary"]["properties"]
    assert refs(listed["firstColumns"]["items"]) == {"Column"}
    assert refs(detail["clarification"]) == {"Clarification"} and detail["clarification"]["nullable"]
    card = schema["components"]["schemas"]["ApprovalCard"]["properties"]
    assert refs(card["plan"]) == {"CardPlan"}
    plan = schema["components"]["schemas"]["CardPlan"]["properties"]
    assert refs(plan["findings"]["items"]) == {"CardPlanFinding"}
    upload = operation(schema, "datasets_upload")["requestBody"]["content"]
    assert list(upload) == ["multipart/form-data"]
    file = schema["components"]["schemas"]["DatasetUploadInput"]["properties"]["file"]
    assert (file["type"], file["format"]) == ("string", "binary")
    for status in ("201", "202"):
        answer = operation(schema, "datasets_upload")["responses"][status]["content"]["application/json"]
        assert refs(answer["schema"]) == {"Dataset"}


def test_one_error_component_for_every_error_answer(schema):
    error = schema["components"]["schemas"]["ErrorDetail"]
    assert schema["components"]["schemas"]["ErrorCode"]["enum"] == list(ErrorCode.values)
    assert refs(error["properties"]["code"]) == {"ErrorCode"}
    assert error["properties"]["fields"]["additionalProperties"] == {
        "type": "array",
        "items": {"type": "string"},
    }
    assert set(error["required"]) == {"code", "message"}
    for path, method, op in operations(schema):
        for status, answer in op["responses"].items():
            if status.startswith(("4", "5")):
                assert answer["content"] == {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}}
                }
        assert {"400", "401", "403", "404"} <= set(op["responses"]), (path, method)
        if method != "get":
            assert {"402", "409", "429"} <= set(op["responses"]), (path, method)


def test_no_default_makes_an_optional_input_required(schema):
    """openapi-typescript types a property with a default as always present: inputs declare none."""
    components = schema["components"]["schemas"]
    defaults = []
    for _path, _method, op in operations(schema):
        for parameter in op.get("parameters", []):
            if "default" in parameter.get("schema", {}):
                defaults.append((op["operationId"], parameter["name"]))
        for media in op.get("requestBody", {}).get("content", {}).values():  # JSON and multipart alike
            for name in refs(media.get("schema", {})):
                for field, prop in components[name]["properties"].items():
                    if "default" in prop:
                        defaults.append((name, field))
    assert defaults == []


def test_the_original_clients_identity_fields_are_typed_deprecated_and_ignored(schema):
    components = schema["components"]["schemas"]
    for component, field in (
        ("AnalyzeInput", "userId"),
        ("ExecuteInput", "userId"),
        ("ApproveInput", "reviewerId"),
    ):
        prop = components[component]["properties"][field]
        assert (prop["type"], prop["deprecated"], prop["nullable"]) == ("string", True, True)
        assert prop["description"].startswith("Ignored")
    team = components["AnalyzeInput"]["properties"]["teamId"]
    assert (team["type"], team["deprecated"]) == ("string", True) and "ignored" in team["description"]
    headers = [p for p in operation(schema, "requests_analyze")["parameters"] if p["in"] == "header"]
    assert {h["name"] for h in headers} == {"x-user-id", "x-team-id"}
    for header in headers:
        assert header["deprecated"] and header["schema"] == {"type": "string"}
        assert header["description"].startswith("Ignored")


def test_the_csv_export_is_its_own_operation_with_one_media_type(schema):
    assert list(operation(schema, "spend_csv")["responses"]["200"]["content"]) == ["text/csv"]
    assert list(operation(schema, "spend_get")["responses"]["200"]["content"]) == ["application/json"]
    assert {p["name"] for p in operation(schema, "spend_get")["parameters"]} == {"groupBy", "from", "to"}
