"""Tests: the real database and broker from the environment, a fast password hasher."""

import os
from pathlib import Path

from kombu import Queue

from .base import *  # noqa: F403
from .base import CELERY_BROKER_URL, DATABASES, VAR_DIR, env, filesystem_broker_options

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY", default="test-only-key-not-secret-0123456789abcdef")
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory: the Celery worker process of the end-to-end tests must see the same database.
    # One file per test run, so two runs on one machine never share (and delete) each other's database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
MEDIA_ROOT = Path(env("SANDGATE_MEDIA_ROOT", default=str(VAR_DIR / "test-media")))
# Tests get their own filesystem broker folder, so a running dev worker never takes their tasks.
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(VAR_DIR / "broker-test")

# Queues named per test run (the worker process inherits the variable), so concurrent test runs and dev
# workers sharing one broker never take each other's tasks.
QUEUE_SUFFIX = os.environ.setdefault("SANDGATE_TEST_QUEUE_SUFFIX", f".test{os.getpid()}")
CELERY_TASK_ROUTES = {
    name: {**route, "queue": route["queue"] + QUEUE_SUFFIX}
    for name, route in CELERY_TASK_ROUTES.items()  # noqa: F405
}
CELERY_TASK_DEFAULT_QUEUE = "celery" + QUEUE_SUFFIX
CELERY_TASK_QUEUES = tuple(Queue(queue.name + QUEUE_SUFFIX) for queue in CELERY_TASK_QUEUES)  # noqa: F405
(VAR_DIR / "static").mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every request otherwise
