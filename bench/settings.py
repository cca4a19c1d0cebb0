"""The benchmark's settings: the local settings with the bench-only URLconf (adds `/bench/ping`)."""

import os
from pathlib import Path

from config.settings.local import *  # noqa: F403

ROOT_URLCONF = "bench.urls"

if os.environ.get("BENCH_BROKER_DIR") and CELERY_BROKER_URL.startswith("filesystem://"):  # noqa: F405
    # The embedded measurement's own broker folder: a dev worker on this machine never takes its tasks.
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(Path(os.environ["BENCH_BROKER_DIR"]))  # noqa: F405
