"""Celery tasks: take ids, call one service. Generation and execution run on separate queues.

Only transient infrastructure errors are retried (a database or broker connection that dropped), at most
three times with backoff; anything else is a bug or a final answer and must not run the work again. A
retry is safe because each service claims its row first: a task that already claimed does nothing.
"""

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

from .services import datasets, execution, generation, reaper, sessions

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = (OperationalError, InterfaceError, BrokerOperationalError, RedisConnectionError)
RETRY = {
    "autoretry_for": TRANSIENT_ERRORS,
    "max_retries": 3,
    "retry_backoff": 2,
    "retry_backoff_max": 30,
    "retry_jitter": True,
    "acks_late": True,
}


@shared_task(name="analysis.tasks.generate_code", **RETRY)
def generate_code(request_id: str) -> None:
    generation.request_generate_code(request_id=request_id)


@shared_task(name="analysis.tasks.run_execution", **RETRY)
def run_execution(execution_id: str) -> None:
    execution.execution_run(execution_id=execution_id)


@shared_task(name="analysis.tasks.profile_dataset", **RETRY)
def profile_dataset(dataset_id: str) -> None:
    datasets.dataset_profile(dataset_id=dataset_id)


@shared_task(name="analysis.tasks.expire_idle_sessions")
def expire_idle_sessions() -> int:
    return sessions.session_expire_idle()


@shared_task(name="analysis.tasks.reap_stuck")
def reap_stuck() -> dict:
    return reaper.reap_stuck()
