"""The Celery broker transport on Redis (config/broker.py), against the real Redis on this machine."""

import uuid

from kombu import Connection

from tests.config.test_cache import REDIS
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


def test_a_redis_broker_url_selects_the_transport_that_keeps_its_client():
    assert broker_transport("redis://127.0.0.1:6379/13") == "config.broker:Transport"


def test_a_rediss_broker_url_keeps_kombus_own_transport_which_turns_tls_on():
    assert broker_transport("rediss://127.0.0.1:6379/13?ssl_cert_reqs=required") == "rediss"


def test_a_channel_publishes_through_one_client_and_a_new_one_after_its_pool_is_replaced():
    with Connection(REDIS, transport="config.broker:Transport") as connection:
        channel = connection.default_channel
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second
        given = object()
        with channel.conn_or_acquire(given) as passed:
            assert passed is given

        channel._after_fork()  # what kombu does in a forked child: the old pool's sockets are not its own
        with channel.conn_or_acquire() as after_fork:
            assert after_fork is not first
            assert after_fork.connection_pool is channel.pool


def test_messages_published_through_the_shared_client_arrive_in_order():
    queue = f"test-broker-{uuid.uuid4().hex}"
    with Connection(REDIS, transport="config.broker:Transport") as connection:
        inbox = connection.SimpleQueue(queue)
        try:
            for n in range(3):
                inbox.put({"n": n})
            received = []
            for _ in range(3):
                message = inbox.get(timeout=5)
                received.append(message.payload["n"])
                message.ack()
            assert received == [0, 1, 2]
        finally:
            inbox.queue.delete()
            inbox.close()
