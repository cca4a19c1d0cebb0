"""Publishing a Celery task once the transaction that wrote its row commits."""

import logging

from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue_on_commit(task, object_id: str) -> None:
    """Publish `task(object_id)` once the transaction commits, never failing the caller.

    The row is already committed when the broker is asked; if the broker is down, the error is logged and
    the row waits, unclaimed, for the reaper (`analysis.services.reaper.reap_stuck`) to enqueue generation or
    execution again once the broker is back (reviewer notifications are best effort: they are only logged).
    """

    def publish() -> None:
        try:
            # The arguments' repr given: Celery's generic `saferepr` walk of them is a fifth of a publish.
            task.apply_async((object_id,), argsrepr=repr((object_id,)), kwargsrepr="{}")
        except Exception:  # any broker failure: the reaper is the retry
            logger.exception("could not enqueue %s(%s); is the broker down?", task.name, object_id)

    transaction.on_commit(publish)
