"""Every answer of the API is what the published OpenAPI schema says, to an analyst, a reviewer, an auditor.

Schemathesis reads `/api/schema/` from the Django WSGI app, generates inputs from it and checks each answer:
never a 500, a declared status code and content type, and a body that matches the declared schema. Inputs it
makes up name rows that do not exist, so each generated case is sent a second time with the ids of the
module's real rows (tests/api/conftest.py) put in; `test_answers_about_real_rows_match_the_schema` then asks
about every row in every state, deliberately. Each test runs in the test database's transaction (`db`) on
top of those rows, so `on_commit` tasks never fire and nothing a test writes stays.
"""

from __future__ import annotations

import io
import itertools

import pytest
import schemathesis
import werkzeug.test
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from approvals.models import ApprovalRequest
from billing.models import Budget
from billing.selectors import SpendGroup
from tests.api.conftest import ROLES, World

JSON = b'{"city": ["Lyon", "Nantes"], "visits": [3, 5]}'
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Bounded so the whole suite stays well inside CI's time: about 25 operations x 3 roles x 2 calls each.
EXAMPLES_PER_OPERATION = 8

# Serving the schema reads no table, so it is fetched once, at collection, from the real endpoint.
schema = schemathesis.openapi.from_wsgi("/api/schema/", WSGIHandler())


@pytest.fixture(autouse=True)
def _keep_test_connection(db):
    """Like Django's test client: the test's connection (and its transaction) stays open between requests."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def turns():
    return itertools.count()


def put_real_ids(case, world: World, role: str, turn: int) -> bool:
    """Replace the made-up ids of `case` with ids of the world's rows (a different one each turn)."""
    params = case.path_parameters or {}
    known = {
        "request_id": world.request_ids,
        "execution_id": world.execution_ids,
        "session_id": world.session_ids,
        "dataset_id": world.dataset_ids,
        "token_id": [world.token_ids[role]],
    }
    changed = False
    if "name" in params:  # an artifact: its execution and its name go together
        params["execution_id"], params["name"] = world.artifacts[turn % len(world.artifacts)]
        changed = True
    for name, ids in known.items():
        if name in params and "name" not in params:
            params[name] = ids[turn % len(ids)]
            changed = True
    if isinstance(case.body, dict):
        for name, ids in (("requestId", world.request_ids), ("sessionId", world.session_ids)):
            if name in case.body:
                case.body[name] = ids[turn % len(ids)]
                changed = True
        if "datasetIds" in case.body:
            case.body["datasetIds"] = world.ready_dataset_ids
            changed = True
    return changed


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_its_schema_says(case, world, turns):
    for role in ROLES:
        case.call_and_validate(headers=world.headers[role], checks=CHECKS)
        if put_real_ids(case, world, role, next(turns)):
            case.call_and_validate(headers=world.headers[role], checks=CHECKS)


def call(path: str, method: str, world: World, role: str, **parts):
    case = schema[path][method].Case(**parts)
    return case.call_and_validate(headers=world.headers[role], checks=CHECKS)


def upload(world: World, role: str, *, name: str, content: bytes):
    """A dataset upload under its own file name (schemathesis names a generated file after its field, which
    is never an accepted dataset name), its answer held to the same checks."""
    client = werkzeug.test.Client(WSGIHandler())
    form = {"file": (io.BytesIO(content), name), "allowSampleSharing": "true"}
    answer = client.post("/api/datasets", data=form, headers=world.headers[role])
    case = schema["/api/datasets"]["POST"].Case(media_type="multipart/form-data")
    case.validate_response(answer, checks=CHECKS, headers=world.headers[role])
    return answer


def test_answers_about_real_rows_match_the_schema(world):
    """Every row, in every state it is in, as each role: what a polling client meets."""
    for role in ROLES:
        for request_id in world.request_ids:
            answer = call(
                "/api/requests/{request_id}", "GET", world, role, path_parameters={"request_id": request_id}
            )
            assert answer.status_code == 200, answer.text
        for execution_id in world.execution_ids:
            path = "/api/executions/{execution_id}"
            answer = call(path, "GET", world, role, path_parameters={"execution_id": execution_id})
            assert answer.status_code == 200, answer.text
        for execution_id, name in world.artifacts:
            path = "/api/executions/{execution_id}/artifacts/{name}"
            parameters = {"execution_id": execution_id, "name": name}
            assert call(path, "GET", world, role, path_parameters=parameters).status_code == 200
        for dataset_id in world.dataset_ids:
            answer = call(
                "/api/datasets/{dataset_id}", "GET", world, role, path_parameters={"dataset_id": dataset_id}
            )
            assert answer.status_code == 200
        for status in ApprovalRequest.Status.values:
            assert call("/api/requests", "GET", world, role, query={"status": status}).status_code == 200
        for group in SpendGroup.values:
            assert call("/api/spend", "GET", world, role, query={"groupBy": group}).status_code == 200
            assert call("/api/spend.csv", "GET", world, role, query={"groupBy": group}).status_code == 200
        for path in ("/api/requests", "/api/sessions", "/api/datasets", "/api/budget", "/api/tokens"):
            assert call(path, "GET", world, role).status_code == 200
        assert call("/api/audit", "GET", world, role).status_code == (200 if role == "auditor" else 403)
    for session_id in world.session_ids:
        path = "/api/sessions/{session_id}"
        assert (
            call(path, "GET", world, "analyst", path_parameters={"session_id": session_id}).status_code == 200
        )


def test_answers_to_writes_match_the_schema(world):
    """Writes that succeed, carry a budget warning, or refuse with their details (409 status, 402 amounts)."""
    asked = call(
        "/api/analyze",
        "POST",
        world,
        "analyst",
        body={"query": "count rows", "datasetIds": world.ready_dataset_ids},
    )
    assert asked.status_code == 202 and asked.json()["budgetWarning"] is not None
    started = call("/api/execute", "POST", world, "analyst", body={"requestId": world.approved_request_id})
    assert started.status_code == 202 and started.json()["budgetWarning"] is not None
    approve = {"requestId": world.pending_request_id, "approved": True}
    assert call("/api/approve", "POST", world, "reviewer", body=approve).status_code == 200
    again = call("/api/approve", "POST", world, "reviewer", body=approve)
    assert again.status_code == 409 and again.json()["error"]["status"] == "approved"
    refused = call("/api/approve", "POST", world, "analyst", body=approve)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_a_reviewer"
    bad = call("/api/analyze", "POST", world, "analyst", body={"query": "count rows", "datasetIds": ["x"]})
    assert bad.status_code == 400 and bad.json()["error"]["fields"] == {
        "datasetIds": ["0: Must be a valid UUID."]
    }
    bad_date = call("/api/spend", "GET", world, "analyst", query={"from": "yesterday"})
    assert bad_date.status_code == 400 and list(bad_date.json()["error"]["fields"]) == ["from"]
    not_ready = call(
        "/api/analyze",
        "POST",
        world,
        "analyst",
        body={"query": "count rows", "datasetIds": [world.not_ready_dataset_id]},
    )
    assert not_ready.status_code == 409 and not_ready.json()["error"] == {
        "code": "dataset_not_ready",
        "message": not_ready.json()["error"]["message"],
        "datasetId": world.not_ready_dataset_id,
        "datasetStatus": "profiling",
    }
    for role in ("analyst", "reviewer"):  # every rejected request of the world was revised once already
        path = {"request_id": world.revised_request_id}
        again = call("/api/requests/{request_id}/revise", "POST", world, role, path_parameters=path)
        assert again.status_code == 409 and again.json()["error"]["code"] == "already_revised"
    outsider = call(
        "/api/requests/{request_id}/revise",
        "POST",
        world,
        "auditor",
        path_parameters={"request_id": world.revised_request_id},
    )
    assert outsider.status_code == 403 and outsider.json()["error"]["code"] == "not_allowed"
    for name, content, status in (("week.csv", b"day,visits\nmon,3\n", 201), ("week.json", JSON, 202)):
        uploaded = upload(world, "analyst", name=name, content=content)
        assert uploaded.status_code == status, uploaded.text
    assert upload(world, "auditor", name="week.csv", content=b"day\nmon\n").status_code == 403
    archived = world.session_ids[1]
    closed = call(
        "/api/analyze", "POST", world, "analyst", body={"query": "count rows", "sessionId": archived}
    )
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "session_closed"
    Budget.objects.filter(scope=Budget.Scope.USER).update(limit_nanos=0)
    over = call("/api/analyze", "POST", world, "analyst", body={"query": "count rows"})
    assert over.status_code == 402 and over.json()["error"]["scope"] == "user"
