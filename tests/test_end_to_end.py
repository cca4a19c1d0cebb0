"""One question travels the whole way: ask, generate (worker), approve, execute (worker + sandbox), result."""

import base64
import json
from io import StringIO

from django.core.management import call_command

from tests.conftest import client_for


def seed_demo() -> dict:
    out = StringIO()
    call_command("seed_demo", "--json", "--allow-public", stdout=out)  # as `make up` on 127.0.0.1
    return json.loads(out.getvalue())


def user(seeded: dict, username: str):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=username)


def test_plot_monthly_revenue_by_region_travels_from_question_to_chart(celery_worker_process):
    worker = celery_worker_process
    seeded = seed_demo()
    analyst, reviewer = client_for(user(seeded, "analyst")), client_for(user(seeded, "reviewer"))

    asked = analyst.post(
        "/api/analyze", {"query": "Load sales.csv and plot monthly revenue by region"}, format="json"
    )
    assert asked.status_code == 202, asked.content
    request_id = asked.json()["requestId"]
    worker.wait_for_task("analysis.tasks.generate_code", request_id)

    detail = analyst.get(f"/api/requests/{request_id}").json()
    assert detail["status"] == "pending_review", detail
    assert "/data/sales.csv" in detail["code"]

    decided = reviewer.post("/api/approve", {"requestId": request_id, "approved": True}, format="json")
    assert decided.status_code == 200, decided.content

    started = analyst.post("/api/execute", {"requestId": request_id}, format="json")
    assert started.status_code == 202
    execution_id = started.json()["executionId"]
    worker.wait_for_task("analysis.tasks.run_execution", execution_id)

    execution = analyst.get(f"/api/executions/{execution_id}").json()
    assert execution["status"] == "succeeded", execution
    assert execution["stdout"].strip()
    pngs = [base64.b64decode(r["png"]) for r in execution["results"] if "png" in r]
    assert pngs and all(p.startswith(b"\x89PNG\r\n\x1a\n") for p in pngs)

    again = analyst.post("/api/execute", {"requestId": request_id}, format="json")
    assert again.json()["executionId"] == execution_id
    final = analyst.get(f"/api/requests/{request_id}").json()
    assert final["status"] == "succeeded"
    assert final["execution"]["executionId"] == execution_id
