"""One domain error type for services, and one JSON error shape for the API.

Every API error answers `{"error": {"code": "...", "message": "..."}}`, plus `fields` for input errors
(field name → its messages) and, for some codes, details (a 409 `invalid_state` names the current `status`).
`code` is one of `ErrorCode`: the OpenAPI schema enumerates them, and tests/config/test_error_codes.py fails
when the code base raises a code that is not listed here.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import models
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class ErrorCode(models.TextChoices):
    """Every `error.code` the API answers with; the label says what it means, for the schema and docs."""

    # Input (400)
    INVALID_INPUT = "invalid_input", "A field is missing or invalid; `fields` says which and why."
    MALFORMED_JSON = "malformed_json", "The body is not valid JSON."
    BAD_REQUEST = "bad_request", "The request could not be read."
    INVALID = "invalid", "The values are invalid together; `fields` may say which."
    SESSION_MISMATCH = "session_mismatch", "sessionId is not the request's session."
    INVALID_DATASET = "invalid_dataset", "The uploaded file is not a dataset Sandgate can read."
    DATASET_TOO_LARGE = "dataset_too_large", "The uploaded file is over the size limit."
    EMPTY_CODE = "empty_code", "The edited code is empty."
    UNCHANGED = "unchanged", "The edited code is the same as before."
    UNKNOWN_RULE = "unknown_rule", "No policy rule has this code."
    INVALID_SEVERITY = "invalid_severity", "Not a severity of the policy."
    RULE_FLOOR = "rule_floor", "That policy rule stays on, at its floor severity or above."
    # Authentication (401)
    NOT_AUTHENTICATED = "not_authenticated", "No token (or session) was sent."
    AUTHENTICATION_FAILED = "authentication_failed", "The token is unknown, revoked or expired."
    # Money (402)
    BUDGET_EXCEEDED = "budget_exceeded", "A budget's hard limit would be exceeded; nothing was started."
    # Not allowed (403)
    FORBIDDEN = "forbidden", "Not allowed for your role."
    NO_TEAM = "no_team", "You are not an analyst or reviewer in any team."
    NOT_A_REVIEWER = "not_a_reviewer", "Only a reviewer of the request's team can decide on it."
    SELF_APPROVAL = "self_approval", "Nobody reviews their own request."
    OWN_EDIT = "own_edit", "You edited this version; another reviewer must approve it."
    NOT_YOUR_REQUEST = "not_your_request", "Only the analyst who asked starts the run."
    NOT_YOUR_SESSION = "not_your_session", "Only the session's own analyst can do this."
    NOT_ALLOWED = "not_allowed", "Only the request's analyst or a reviewer of its team can ask again."
    NOT_AN_AUDITOR = "not_an_auditor", "Only auditors read the audit trail."
    SESSION_REQUIRED = "session_required", "Only a logged-in session (not a token) can do this."
    # Not found (404), wrong method or format (405, 406, 415)
    NOT_FOUND = "not_found", "Not found, or not yours."
    METHOD_NOT_ALLOWED = "method_not_allowed", "This path does not take this method."
    NOT_ACCEPTABLE = "not_acceptable", "No answer in a format the Accept header allows."
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type", "The body is not JSON."
    # Wrong state (409)
    CONFLICT = "conflict", "Not allowed in the current state."
    INVALID_STATE = "invalid_state", "The request's status does not allow this; `status` is its status now."
    NOT_APPROVED = "not_approved", "Only approved requests run; `status` is the request's status now."
    CODE_CHANGED = "code_changed", "The code changed since you read it (codeSha256); review it again."
    VOTED = "voted", "You already approved this request; it waits for another reviewer."
    ALREADY_REVISED = "already_revised", "A new version of this request was already asked for."
    SESSION_CLOSED = "session_closed", "The session is archived or expired; start a new one."
    DATASET_NAME_TAKEN = "dataset_name_taken", "The team already has a dataset of this name."
    DATASET_NOT_READY = (
        "dataset_not_ready",
        "A chosen dataset is still being profiled or failed; `datasetId` and its `status` say which.",
    )
    TOO_MANY_TOKENS = "too_many_tokens", "You have the most live API tokens allowed; revoke one first."
    # Rate limited (429), and the rest (500)
    RATE_LIMITED = "rate_limited", "Too many requests; retry later."
    SERVER_ERROR = "server_error", "Something went wrong on the server."
    ERROR = "error", "Another error of the API framework."


class ApplicationError(Exception):
    """Raised by services; `code` is stable for clients, `message` is for people."""

    def __init__(
        self, message: str, *, code: str = "invalid", status_code: int = 400, extra: dict | None = None
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status_code = status_code
        self.extra = extra or {}


class NotFound(ApplicationError):
    def __init__(self, message: str = "Not found."):
        super().__init__(message, code="not_found", status_code=404)


class Forbidden(ApplicationError):
    def __init__(self, message: str, *, code: str = "forbidden"):
        super().__init__(message, code=code, status_code=403)


class Conflict(ApplicationError):
    def __init__(self, message: str, *, code: str = "conflict", extra: dict | None = None):
        super().__init__(message, code=code, status_code=409, extra=extra)


_CODES = {
    exceptions.ParseError: "malformed_json",
    exceptions.ValidationError: "invalid_input",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "forbidden",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
}
_OTHER_CODE = "error"  # an APIException none of the above covers


def error_body(code: str, message: str, **extra) -> dict:
    return {"error": {"code": code, "message": message, **extra}}


def api_exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.code, exc.message, **exc.extra), status=exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    code = next((c for cls, c in _CODES.items() if isinstance(exc, cls)), _OTHER_CODE)
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        fields = {str(name): _messages(errors) for name, errors in detail.items()}
        response.data = error_body(code, _first_message(fields), fields=fields)
    else:
        response.data = error_body(code, str(exc.detail))
    if response.status_code == status.HTTP_401_UNAUTHORIZED:
        response["WWW-Authenticate"] = 'Token realm="api"'
    return response


def _messages(errors) -> list[str]:
    """One field's errors as a flat list of messages: a list item's or nested field's named in front.

    `fields` is a map of field name → messages for every input error, so a client reads it with one type:
    `datasetIds: {1: ["Must be a valid UUID."]}` becomes `datasetIds: ["1: Must be a valid UUID."]`.
    """
    if isinstance(errors, dict):
        return [f"{key}: {message}" for key, nested in errors.items() for message in _messages(nested)]
    if isinstance(errors, list):
        return [message for item in errors for message in _messages(item)]
    return [str(errors)]


def _first_message(fields: dict[str, list[str]]) -> str:
    for name, messages in fields.items():
        label = "" if name == "non_field_errors" else f"{name}: "
        return f"{label}{messages[0]}" if messages else "Invalid input."
    return "Invalid input."
