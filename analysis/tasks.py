"""Celery tasks: take ids, call one service. Generation and execution run on separate queues.

Only transient infrastructure errors are retried (a database or broker connection that dropped), at most
three times with backoff; anything else is a bug or a final answer and must not run the work again. A
retry is safe because each service claims its row first: a task that already claimed does nothing.
"""

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError, transaction
from kombu.exceptions import OperationalError as BrokerOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

from . import services

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
    services.request_generate_code(request_id=request_id)


@shared_task(name="analysis.tasks.run_execution", **RETRY)
def run_execution(execution_id: str) -> None:
    services.execution_run(execution_id=execution_id)


@shared_task(name="analysis.tasks.expire_idle_sessions")
def expire_idle_sessions() -> int:
    return services.session_expire_idle()


@shared_task(name="analysis.tasks.reap_stuck")
def reap_stuck() -> dict:
    return services.reap_stuck()


def enqueue_on_commit(task, object_id: str) -> None:
    """Publish `task(object_id)` once the transaction commits, never failing the caller.

    The row is already committed when the broker is asked; if the broker is down, the error is logged and
    the row waits, unclaimed, for the reaper (`reap_stuck`) to enqueue generation or execution again once
    the broker is back (reviewer notifications are best effort: they are only logged).
    """

    def publish() -> None:
        try:
            # The arguments' repr given: Celery's generic `saferepr` walk of them is a fifth of a publish.
            task.apply_async((object_id,), argsrepr=repr((object_id,)), kwargsrepr="{}")
        except Exception:  # any broker failure: the reaper is the retry
            logger.exception("could not enqueue %s(%s); is the broker down?", task.name, object_id)

    transaction.on_commit(publish)
