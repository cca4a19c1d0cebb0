from celery import shared_task

from .services import audit_chain_anchor


@shared_task(acks_late=True, ignore_result=True)
def audit_chain() -> None:
    """Periodic (CELERY_BEAT_SCHEDULE): chain pending events, append the chain head to AUDIT_HEAD_FILE.

    Safe to overlap or redeliver: chainers take turns on a lock, and an extra head line only repeats one.
    """
    audit_chain_anchor()
