"""Redis down while an analyst asks or runs: the API still answers 202, nothing is lost, and the work runs
once Redis is back (the reaper enqueues what never reached the broker)."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone

from analysis.models import Execution
from analysis.services.reaper import reap_stuck
from approvals.models import ApprovalRequest
from tests.conftest import client_for
from tests.factories import demo_dataset


def _reap_after_requeue_delay(settings) -> dict:
    return reap_stuck(now=timezone.now() + timedelta(seconds=settings.SANDGATE_REQUEUE_AFTER_SECONDS + 1))


def test_a_question_asked_while_redis_is_down_runs_once_redis_is_back(
    start_worker, app_on_private_redis, team, analyst, reviewer, settings, caplog
) -> None:
    redis_server = app_on_private_redis
    demo_dataset(team)
    worker = start_worker(CELERY_BROKER_URL=redis_server.url)
    analyst_client, reviewer_client = client_for(analyst), client_for(reviewer)

    redis_server.stop()
    with caplog.at_level(logging.ERROR, logger="analysis.tasks"):
        asked = analyst_client.post("/api/analyze", {"query": "total revenue by region"}, format="json")
    assert asked.status_code == 202, asked.content
    request_id = asked.json()["requestId"]
    assert "could not enqueue analysis.tasks.generate_code" in caplog.text
    assert ApprovalRequest.objects.get(pk=request_id).status == ApprovalRequest.Status.GENERATING

    redis_server.start()
    assert _reap_after_requeue_delay(settings)["requests_requeued"] == 1
    worker.wait_for_task("analysis.tasks.generate_code", request_id, timeout=90)
    assert ApprovalRequest.objects.get(pk=request_id).status == ApprovalRequest.Status.PENDING_REVIEW

    decision = {"requestId": request_id, "approved": True}
    approved = reviewer_client.post("/api/approve", decision, format="json")
    assert approved.status_code == 200, approved.content
    redis_server.stop()
    started = analyst_client.post("/api/execute", {"requestId": request_id}, format="json")
    assert started.status_code == 202, started.content
    execution_id = started.json()["executionId"]
    assert Execution.objects.get(pk=execution_id).status == Execution.Status.QUEUED

    redis_server.start()
    assert _reap_after_requeue_delay(settings)["executions_requeued"] == 1
    worker.wait_for_task("analysis.tasks.run_execution", execution_id, timeout=90)
    assert Execution.objects.get(pk=execution_id).status == Execution.Status.SUCCEEDED
    assert ApprovalRequest.objects.get(pk=request_id).status == ApprovalRequest.Status.SUCCEEDED


def test_with_the_rate_limit_on_that_redis_too_a_question_is_still_recorded(
    app_on_private_redis, analyst, settings, monkeypatch, caplog
) -> None:
    # Production keeps the rate limits on Redis (CACHE_URL) as well as the broker.
    from config.throttling import AtomicScopedRateThrottle

    redis_server = app_on_private_redis
    settings.CACHES = {"default": {"BACKEND": "config.cache.RedisCache", "LOCATION": redis_server.url}}
    monkeypatch.setattr(AtomicScopedRateThrottle, "THROTTLE_RATES", {"analyze": "2/min"})
    client = client_for(analyst)

    redis_server.stop()
    with caplog.at_level(logging.ERROR):
        asked = client.post("/api/analyze", {"query": "count rows"}, format="json")
    assert asked.status_code == 202, asked.content
    assert "rate limit 'analyze' not checked" in caplog.text
    recorded = ApprovalRequest.objects.get(pk=asked.json()["requestId"])
    assert recorded.status == ApprovalRequest.Status.GENERATING

    redis_server.start()  # an empty Redis (no persistence): the limit counts from here
    asks = [client.post("/api/analyze", {"query": "count rows"}, format="json") for _ in range(3)]
    assert [a.status_code for a in asks] == [202, 202, 429]
