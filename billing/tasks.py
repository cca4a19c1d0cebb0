"""Celery tasks of billing: the periodic sweeper of reservations whose owner died."""

from celery import shared_task

from . import services


@shared_task(name="billing.tasks.sweep_reservations")
def sweep_reservations() -> int:
    return services.reservation_sweep()
