"""Celery tasks of the approvals app: take ids, call one function, retry on network errors."""

from celery import shared_task

from . import notifications
from .models import ApprovalRequest

RETRY = {"autoretry_for": (OSError,), "retry_backoff": True, "max_retries": 5, "acks_late": True}


def _waiting(request_id: str) -> ApprovalRequest | None:
    waiting = ApprovalRequest.objects.filter(pk=request_id, status=ApprovalRequest.Status.PENDING_REVIEW)
    return waiting.select_related("team", "user").first()


@shared_task(name="approvals.tasks.notify_reviewers_by_email", **RETRY)
def notify_reviewers_by_email(request_id: str) -> None:
    request = _waiting(request_id)
    if request is not None:
        notifications.notify_reviewers_by_email(request=request)


@shared_task(name="approvals.tasks.notify_reviewers_by_webhook", **RETRY)
def notify_reviewers_by_webhook(request_id: str) -> None:
    request = _waiting(request_id)
    if request is not None:
        notifications.notify_reviewers_by_webhook(request=request)
