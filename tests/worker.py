"""A real Celery worker process for end-to-end tests, on the test database and the configured broker.

Synchronisation is by the worker's own log lines (read from its pipe), never by sleeping.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.db import connection

from tests.processes import Output

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def queues_of_this_run() -> list[str]:
    """Every queue of this test run (suffixed per run, see config/settings/test.py)."""
    return sorted(
        {r["queue"] for r in settings.CELERY_TASK_ROUTES.values()} | {settings.CELERY_TASK_DEFAULT_QUEUE}
    )


def purge_queues_of_this_run() -> None:
    """Drop every message waiting in this run's queues, whichever published it."""
    from config.celery import app

    with app.connection_for_write() as conn:
        for name in queues_of_this_run():
            conn.default_channel.queue_purge(name)


class WorkerProcess:
    def __init__(self, env: dict[str, str] | None = None, *, every_queue_by_default: bool = False):
        """`every_queue_by_default`: started without -Q, as `celery -A config worker` is in the README."""
        queues = ",".join(queues_of_this_run())
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url(),
            "SANDGATE_MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "SANDGATE_DATASET_CACHE_DIR": str(settings.SANDGATE_DATASET_CACHE_DIR),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        cmd = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo"]
        cmd += [] if every_queue_by_default else ["-Q", queues]
        cmd += ["--without-heartbeat", "--without-mingle", "--without-gossip", "--loglevel", "INFO"]
        # Its own process group, so kill_hard() can take the worker down the way a lost machine would.
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.output = Output(self.proc.stdout, name="worker")
        self.lines, self.log = self.output.lines, self.output.log
        self.wait_for(r"celery@\S+ ready\.", timeout=60)

    def wait_for(self, pattern: str, *, timeout: float = 120) -> str:
        """Block until the worker logs a line matching `pattern`."""
        return self.output.wait_for(pattern, timeout=timeout)

    def wait_for_task(self, name: str, task_arg: str, *, timeout: float = 120) -> None:
        self.wait_for(rf"Task {re.escape(name)}\[.*\] received", timeout=timeout)
        self.wait_for(rf"Task {re.escape(name)}\[.*\] (succeeded|raised)", timeout=timeout)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def descendants(self) -> list[int]:
        """Every process below the worker (sandboxes run in sessions of their own), from /proc."""
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                pid, rest = stat.read_text().split(" ", 1)
            except OSError:
                continue  # exited meanwhile
            ppid = int(rest.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(pid))
        found, todo = [], [self.pid]
        while todo:
            for child in children.get(todo.pop(), []):
                found.append(child)
                todo.append(child)
        return found

    def kill_hard(self) -> None:
        """SIGKILL the worker, its process group and every descendant's group: no cleanup code runs."""
        victims = [self.pid, *self.descendants()]
        for pid in victims:
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        self.proc.wait(timeout=20)

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
