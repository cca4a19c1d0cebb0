"""Celery tasks: take ids, call one service. Generation and execution run on separate queues."""

from celery import shared_task

from . import services


@shared_task(name="analysis.tasks.generate_code", acks_late=True)
def generate_code(request_id: str) -> None:
    services.request_generate_code(request_id=request_id)


@shared_task(name="analysis.tasks.run_execution", acks_late=True)
def run_execution(execution_id: str) -> None:
    services.execution_run(execution_id=execution_id)


@shared_task(name="analysis.tasks.expire_idle_sessions")
def expire_idle_sessions() -> int:
    return services.session_expire_idle()
