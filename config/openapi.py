"""The API's contract as OpenAPI: shared pieces of the schema, and the drf-spectacular hooks that finish it.

- Every view can answer with the error shape of `config/exceptions.py`: one `ApiError` component (its
  `error` an `ErrorDetail`) whose `code` is the `ErrorCode` enum. 401 without a valid token, 403 for a
  wrong role, 404 for what is not yours, 400 for bad input; writes can also answer 402 (budget exceeded),
  409 (wrong state) and 429 (rate limited). Declaring these per view would repeat them on every endpoint
  and drift; `add_error_responses` adds them in one place.
- Status-like fields are enums built from the models' `TextChoices` (ENUM_NAME_OVERRIDES in settings name
  them), so a new status is in the schema as soon as it is in the model; `share_parameter_enums` makes the
  query parameters use the same named components as the answers.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from drf_spectacular.views import SpectacularAPIView
from rest_framework import serializers

from config.exceptions import ErrorCode

SCHEMAS = "#/components/schemas/"


def component_ref(name: str) -> dict:
    """A reference to a named schema component (for a field whose enum lives in another app)."""
    return {"$ref": f"{SCHEMAS}{name}"}


@extend_schema_field({"type": "string", "nullable": True, "deprecated": True})
class IgnoredIdentityField(serializers.Field):
    """An identity field the original clients send (`userId`, `reviewerId`): accepted, never read.

    Identity comes only from authentication; whatever is sent here changes nothing.
    """

    def __init__(self, *, help_text: str = "", **kwargs):
        text = "Ignored: the original clients send it; identity comes from the token."
        super().__init__(required=False, allow_null=True, help_text=f"{text} {help_text}".strip(), **kwargs)

    def to_internal_value(self, data):
        return None

    def to_representation(self, value):
        return None


@extend_schema_field({"type": "string", "nullable": True, "deprecated": True})
class DeprecatedTextField(serializers.CharField):
    """A text field kept for the original clients (`teamId`); new clients leave it out."""


def error_code_schema() -> dict:
    return {
        "type": "string",
        "enum": list(ErrorCode.values),
        "description": "\n".join(f"* `{code.value}` - {code.label}" for code in ErrorCode),
    }


ERROR_DETAIL_SCHEMA = {
    "type": "object",
    "properties": {
        "code": component_ref("ErrorCode"),
        "message": {"type": "string", "description": "For people: what went wrong and what to do."},
        "fields": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "description": "400 only: each invalid input by the name the request used (a body field or a "
            "query parameter such as `from`) → its messages; `non_field_errors` for the input as a whole.",
        },
        "status": {
            "allOf": [component_ref("RequestStatus")],
            "description": "409 `invalid_state` and `not_approved`: the request's status now.",
        },
        "datasetStatus": {
            "allOf": [component_ref("DatasetStatus")],
            "description": "409 `dataset_not_ready`: the status of the dataset that is not ready.",
        },
        "datasetId": {
            "type": "string",
            "format": "uuid",
            "description": "409 `dataset_not_ready`: the dataset that is not ready.",
        },
        "scope": {
            "allOf": [component_ref("BudgetScope")],
            "description": "402 `budget_exceeded`: the budget that would be exceeded.",
        },
        "limitUsd": {"type": "string", "format": "decimal", "description": "402: that budget's limit."},
        "spentUsd": {"type": "string", "format": "decimal", "description": "402: spent this period."},
        "reservedUsd": {"type": "string", "format": "decimal", "description": "402: held for runs."},
        "resetsAt": {
            "type": "string",
            "format": "date-time",
            "nullable": True,
            "description": "402: when the period ends (null: a total budget never resets).",
        },
    },
    "required": ["code", "message"],
}
ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": component_ref("ErrorDetail")},
    "required": ["error"],
}

COMMON_ERRORS = {
    "400": "Invalid input; nothing was written.",
    "401": "No or invalid token.",
    "403": "Not allowed for your role.",
    "404": "Not found, or not yours.",
}
WRITE_ERRORS = {
    "402": "A budget would be exceeded.",
    "409": "Not allowed in the current state.",
    "429": "Rate limited; retry later.",
}
WRITE_METHODS = {"post", "put", "patch", "delete"}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def add_error_responses(result, generator, request, public):
    """drf-spectacular POSTPROCESSING_HOOKS entry: the error responses every operation can give."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    # `ApiError`, not `Error`: a model named like its one property (`error`) trips openapi-python-client.
    schemas.update(ErrorCode=error_code_schema(), ErrorDetail=ERROR_DETAIL_SCHEMA, ApiError=ERROR_SCHEMA)
    content = {"application/json": {"schema": component_ref("ApiError")}}
    for method, operation in _operations(result):
        errors = {**COMMON_ERRORS, **(WRITE_ERRORS if method in WRITE_METHODS else {})}
        responses = operation.setdefault("responses", {})
        for code, description in errors.items():
            responses.setdefault(code, {"content": content, "description": description})
    result["components"]["schemas"] = dict(sorted(schemas.items()))
    return result


def share_parameter_enums(result, generator, request, public):
    """drf-spectacular POSTPROCESSING_HOOKS entry, after `postprocess_schema_enums`: a query parameter
    whose choices are a named enum (`status`, `action`, `groupBy`) refers to that component, so a client
    has one type for the filter and the field it filters on."""
    schemas = result.get("components", {}).get("schemas", {})
    named = {
        frozenset(schema["enum"]): name
        for name, schema in schemas.items()
        if "enum" in schema and "" not in schema["enum"] and None not in schema["enum"]
    }
    for _method, operation in _operations(result):
        for parameter in operation.get("parameters", []):
            schema = parameter.get("schema", {})
            name = named.get(frozenset(schema.get("enum", ())))
            if name is not None:
                parameter["schema"] = component_ref(name)
    return result


def _operations(result):
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method in HTTP_METHODS:
                yield method, operation


@extend_schema_view(get=extend_schema(operation_id="schema_get", tags=["schema"]))
class SchemaApi(SpectacularAPIView):
    """`GET /api/schema/`: this schema (YAML, or JSON with `?format=json`), served to anyone."""
