"""The API's common error answers, declared once for every operation of the OpenAPI schema.

Every view can answer with the error shape of `config/exceptions.py` (`{"error": {"code", "message", …}}`):
401 without a valid token, 403 for a wrong role, 404 for what is not yours, 400 for bad input; writes can
also answer 402 (budget exceeded), 409 (wrong state) and 429 (rate limited). Declaring these per view would
repeat them on every endpoint and drift; this drf-spectacular postprocessing hook adds them in one place.
"""

from __future__ import annotations

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string", "description": "stable, for clients (e.g. `not_found`)"},
                "message": {"type": "string", "description": "for people"},
                "fields": {"type": "object", "description": "input errors by field (400 only)"},
            },
            # Some errors add details (e.g. 409 `stale_code` carries the current hash).
            "additionalProperties": True,
            "required": ["code", "message"],
        }
    },
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


def add_error_responses(result, generator, request, public):
    """drf-spectacular POSTPROCESSING_HOOKS entry: the error responses every operation can give."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            errors = {**COMMON_ERRORS, **(WRITE_ERRORS if method in WRITE_METHODS else {})}
            responses = operation.setdefault("responses", {})
            content = {"application/json": {"schema": ref}}
            if _offers_csv(responses):  # the CSV renderer writes errors as a `code,message` table
                content["text/csv"] = {"schema": {"type": "string"}}
            for code, description in errors.items():
                responses.setdefault(code, {"content": content, "description": description})
    return result


def _offers_csv(responses: dict) -> bool:
    return any("text/csv" in answer.get("content", {}) for answer in responses.values())
