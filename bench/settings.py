"""The benchmark's settings: the local settings with the bench-only URLconf (adds `/bench/ping`)."""

from config.settings.local import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
