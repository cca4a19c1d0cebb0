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
