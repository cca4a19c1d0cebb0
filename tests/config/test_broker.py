"""The Celery broker on Redis is kombu's own transport, against the real Redis on this machine."""

from tests.config.test_settings import manage


def broker_transport(url: str) -> str:
    shown = manage(
        "shell",
        "--no-imports",
        "-c",
        "from config.celery import app; print(app.connection_for_write().transport_cls)",
        DJANGO_SETTINGS_MODULE="config.settings.local",
        CELERY_BROKER_URL=url,
    )
    assert shown.returncode == 0, shown.stderr
    return shown.stdout.strip()


def test_a_redis_broker_url_uses_kombus_own_transport():
    assert broker_transport("redis://127.0.0.1:6379/13") == "redis"


def test_a_rediss_broker_url_uses_kombus_own_transport_which_turns_tls_on():
    assert broker_transport("rediss://127.0.0.1:6379/13?ssl_cert_reqs=required") == "rediss"


def test_the_filesystem_broker_polls_its_folder_every_fiftieth_of_a_second_by_default():
    shown = manage(
        "shell",
        "--no-imports",
        "-c",
        "from config.celery import app; print(app.conf.broker_transport_options['polling_interval'])",
        DJANGO_SETTINGS_MODULE="config.settings.local",
        CELERY_BROKER_URL="filesystem://",
    )
    assert shown.returncode == 0, shown.stderr
    assert float(shown.stdout.strip()) == 0.05


def test_a_worker_started_without_queues_serves_every_queue_and_says_so(transactional_db, team, analyst):
    from analysis.services.asking import analysis_submit
    from tests.factories import demo_dataset
    from tests.worker import WorkerProcess, purge_queues_of_this_run, queues_of_this_run

    purge_queues_of_this_run()
    worker = WorkerProcess(every_queue_by_default=True)
    try:
        served = next(line for line in worker.log if "serves the queues: " in line)  # logged before "ready"
        assert served.split("serves the queues: ")[1].strip().split(", ") == queues_of_this_run()
        demo_dataset(team)
        request = analysis_submit(user=analyst, query="total revenue by region")
        worker.wait_for_task("analysis.tasks.generate_code", str(request.pk), timeout=60)
        request.refresh_from_db()
        assert request.status != "generating"
    finally:
        worker.stop()
