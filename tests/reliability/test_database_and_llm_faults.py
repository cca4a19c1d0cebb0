"""The database drops every connection, and Mistral answers 5xx for a while: real workers recover or fail
cleanly, without being restarted."""

from __future__ import annotations

import json
import re

import psycopg
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.test import RequestFactory

from approvals.models import ApprovalRequest
from tests.conftest import api_token, client_for
from tests.factories import demo_dataset
from tests.fakes.mistral_server import FakeMistralServer, ScriptedResponse
from tests.worker import database_url

KEY = "test-key-reliability"
TERMINATE_OTHERS = """
    SELECT application_name, pg_terminate_backend(pid) FROM pg_stat_activity
    WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


def _terminate_every_other_connection() -> list[str]:
    """What a PostgreSQL restart does to the app, without restarting the cluster other tests share."""
    with psycopg.connect(database_url(), autocommit=True) as admin:
        return [name for name, terminated in admin.execute(TERMINATE_OTHERS).fetchall() if terminated]


def _ask(client, query: str) -> str:
    asked = client.post("/api/analyze", {"query": query}, format="json")
    assert asked.status_code == 202, asked.content
    return asked.json()["requestId"]


def _ask_through_wsgi(token: str, query: str) -> str:
    """POST /api/analyze through Django's WSGI handler, as gunicorn calls it: unlike the test client, it runs
    the connection housekeeping of a real request (close_old_connections, health checks)."""
    environ = (
        RequestFactory()
        .post(
            "/api/analyze",
            data=json.dumps({"query": query}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Token {token}",
        )
        .environ
    )
    answered = []
    body = WSGIHandler()(environ, lambda status, headers: answered.append(status))
    content = b"".join(body)
    body.close()
    assert answered[0].startswith("202"), content
    return json.loads(content)["requestId"]


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="terminates server-side connections with pg_terminate_backend: PostgreSQL only (CI runs it)",
)
def test_web_and_worker_recover_when_the_database_drops_their_connections(
    start_worker, team, analyst
) -> None:
    demo_dataset(team)
    worker = start_worker()  # it keeps its connection between tasks (DJANGO_CONN_MAX_AGE)
    client = client_for(analyst)
    first = _ask(client, "total revenue by region")
    worker.wait_for_task("analysis.tasks.generate_code", first)
    token = api_token(analyst)  # and this process holds a connection, now dropped

    assert _terminate_every_other_connection()

    second = _ask_through_wsgi(token, "average revenue by region")
    worker.wait_for_task("analysis.tasks.generate_code", second)
    statuses = ApprovalRequest.objects.filter(pk__in=[first, second]).values_list("status", flat=True)
    assert set(statuses) == {ApprovalRequest.Status.PENDING_REVIEW}
    failed_attempts = re.compile(r"Task analysis\.tasks\.\w+\[.*\] (retry|raised)")
    assert not [line for line in worker.log if failed_attempts.search(line)]  # recovered at the first try


def test_a_mistral_5xx_storm_ends_generation_failed_after_capped_retries(
    start_worker, team, analyst, settings
) -> None:
    demo_dataset(team)
    with FakeMistralServer(api_key=KEY) as mistral:
        mistral.always(ScriptedResponse(status=503, headers={"Retry-After": "0"}))
        settings.MISTRAL_API_KEY = KEY
        worker = start_worker(
            MISTRAL_API_KEY=KEY, MISTRAL_SERVER_URL=mistral.url, MISTRAL_TIMEOUT_SECONDS="2"
        )
        request_id = _ask(client_for(analyst), "total revenue by region")
        worker.wait_for_task("analysis.tasks.generate_code", request_id)

        request = ApprovalRequest.objects.get(pk=request_id)
        assert request.status == ApprovalRequest.Status.GENERATION_FAILED
        assert "HTTP 503" in request.generation_error
        assert len(mistral.requests) == 4  # the first call and three retries, then no more
