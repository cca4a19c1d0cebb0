"""A worker keeps its PostgreSQL connection from one task to the next (Django's CONN_MAX_AGE rule, applied
around each task), so a run does not pay for a new connection; `DJANGO_CONN_MAX_AGE=0` opts out."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.conftest import client_for
from tests.factories import demo_dataset

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="reads pg_stat_activity: PostgreSQL only (CI runs it)",
)

WORKER_BACKENDS = """
    SELECT pid FROM pg_stat_activity
    WHERE datname = current_database() AND application_name = 'sandgate-worker'
"""


def _worker_backends() -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute(WORKER_BACKENDS)
        return {pid for (pid,) in cursor.fetchall()}


def _ask_and_wait(client, worker, query: str) -> None:
    asked = client.post("/api/analyze", {"query": query}, format="json")
    assert asked.status_code == 202, asked.content
    worker.wait_for_task("analysis.tasks.generate_code", asked.json()["requestId"])


def test_a_worker_runs_its_next_task_on_the_same_database_connection(start_worker, team, analyst) -> None:
    demo_dataset(team)
    worker = start_worker()
    client = client_for(analyst)

    _ask_and_wait(client, worker, "total revenue by region")
    after_first = _worker_backends()
    _ask_and_wait(client, worker, "average revenue by region")

    assert len(after_first) == 1
    assert _worker_backends() == after_first


def test_a_worker_told_not_to_keep_connections_opens_one_per_task(start_worker, team, analyst) -> None:
    demo_dataset(team)
    worker = start_worker(DJANGO_CONN_MAX_AGE="0")
    client = client_for(analyst)

    _ask_and_wait(client, worker, "total revenue by region")
    after_first = _worker_backends()
    _ask_and_wait(client, worker, "average revenue by region")

    assert not after_first & _worker_backends()
