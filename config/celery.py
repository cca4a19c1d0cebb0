import logging
import os

from celery import Celery
from celery.signals import (
    celeryd_after_setup,
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_shutdown,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("sandgate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
logger = logging.getLogger("sandgate.worker")


@celeryd_after_setup.connect
def _log_queues_served(sender, instance, **kwargs) -> None:
    """Say which queues this worker consumes: one that serves none of generate/execute is visible at once."""
    served = sorted(instance.app.amqp.queues.consume_from or instance.app.amqp.queues)
    declared = sorted(queue.name for queue in instance.app.conf.task_queues or ())
    missing = sorted(set(declared) - set(served))
    logger.warning("worker %s serves the queues: %s", sender, ", ".join(served))
    if missing:
        logger.warning("worker %s does not serve: %s (another worker must)", sender, ", ".join(missing))


@worker_init.connect
def _allow_warm_sandboxes(**kwargs) -> None:
    """Warm sandboxes are started (lazily, at the first execution) in worker processes only, never in web.
    First, what dead workers' sandboxes left behind (data directories, cgroups) is removed."""
    from analysis.sandboxes import local, warm

    local.sweep_stale()
    warm.enable()


@worker_process_init.connect
def _name_database_connections(**kwargs) -> None:
    """Worker connections say what they are in pg_stat_activity (they are kept between tasks, see below)."""
    from django.db import connections

    for alias in connections:
        if connections[alias].vendor == "postgresql":
            connections[alias].settings_dict.setdefault("OPTIONS", {})["application_name"] = "sandgate-worker"


@task_prerun.connect
@task_postrun.connect
def _close_old_database_connections(task=None, **kwargs) -> None:
    """Around each task, what Django does around each request: close a connection older than CONN_MAX_AGE,
    broken or left in a transaction, and health-check a reused one before its first query (a database
    restart between two tasks costs no failed task). An eager task runs inside its caller's transaction."""
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


@worker_shutdown.connect
@worker_process_shutdown.connect
def _destroy_warm_sandboxes(**kwargs) -> None:
    """Idle warm sandboxes die with the worker anyway; this also removes their cgroups and directories."""
    from analysis.sandboxes import warm

    warm.shutdown()
