import os

from celery import Celery
from celery.signals import worker_init, worker_process_shutdown, worker_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("sandgate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _allow_warm_sandboxes(**kwargs) -> None:
    """Warm sandboxes are started (lazily, at the first execution) in worker processes only, never in web."""
    from analysis.sandboxes import warm

    warm.enable()


@worker_shutdown.connect
@worker_process_shutdown.connect
def _destroy_warm_sandboxes(**kwargs) -> None:
    """Idle warm sandboxes die with the worker anyway; this also removes their cgroups and directories."""
    from analysis.sandboxes import warm

    warm.shutdown()
