"""Fixtures of the fault tests: a private Redis that a test may stop, real workers started with extra env."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
import redis

from tests.processes import free_port
from tests.worker import WorkerProcess


class PrivateRedis:
    """A throwaway redis-server (no persistence) on its own port: stopping it disturbs no other test."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        cmd += ["--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in self.proc.stdout:  # synchronise on the server's own words, not on time
            if "Ready to accept connections" in line:
                break
        else:
            raise AssertionError("redis-server did not start")
        assert redis.Redis.from_url(self.url).ping()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def app_on_private_redis(private_redis: PrivateRedis) -> Iterator[PrivateRedis]:
    """Point this process's Celery app (what the web side publishes with) at the private Redis."""
    from config.celery import app

    saved = app.conf.broker_write_url, app.conf.broker_read_url, app.conf.broker_transport_options

    def reconnect(write_url: str, read_url: str, options: dict) -> None:
        # Celery resolves broker_url into these two when it loads the configuration.
        app.conf.broker_write_url, app.conf.broker_read_url = write_url, read_url
        app.conf.broker_transport_options = options
        # Forget (never close) the current pools: kombu keeps them in a global registry by broker URL.
        app._pool = None
        app.amqp._producer_pool = None

    reconnect(private_redis.url, private_redis.url, {"visibility_timeout": 3600})
    yield private_redis
    reconnect(*saved)


@pytest.fixture
def start_worker(transactional_db) -> Iterator:
    """Start real workers with extra environment; all are stopped at the end."""
    workers: list[WorkerProcess] = []

    def start(**env: str) -> WorkerProcess:
        workers.append(WorkerProcess(env=env))
        return workers[-1]

    yield start
    for worker in workers:
        worker.stop()
    from django.db import connection

    connection.close()  # a test may have had the server drop it; the table flush after the test reconnects
