"""The Redis cache (rate limits across web processes), against the real Redis on this machine."""

import os
import subprocess
import sys

from rest_framework.throttling import ScopedRateThrottle

from config.cache import RedisCache
from tests.config.test_settings import ROOT

REDIS = os.environ.get("TEST_REDIS_CACHE_URL", "redis://127.0.0.1:6379/13")


def test_a_rediscache_url_configures_the_cache_that_keeps_its_clients():
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])",
        ],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "CACHE_URL": "rediscache://127.0.0.1:6379/13",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.stdout.strip() == "config.cache.RedisCache", shown.stderr


def test_the_redis_cache_reuses_one_client_and_still_caches():
    cache = RedisCache(REDIS, {"KEY_PREFIX": "test-cache"})
    cache.clear()
    assert cache._cache.get_client() is cache._cache.get_client(write=True)
    cache.set("history", [3.0, 2.0, 1.0], 30)
    assert cache.get("history") == [3.0, 2.0, 1.0]
    assert cache.add("history", [], 30) is False
    cache.delete("history")
    assert cache.get("history", "gone") == "gone"


def test_the_analyze_rate_limit_counts_in_redis(rf):
    class Throttle(ScopedRateThrottle):
        cache = RedisCache(REDIS, {"KEY_PREFIX": "test-rate"})
        THROTTLE_RATES = {"analyze": "2/min"}

    class View:
        throttle_scope = "analyze"

    Throttle.cache.clear()
    request = rf.post("/api/analyze")
    request.user = type("User", (), {"is_authenticated": True, "pk": 7})()
    allowed = [
        Throttle().allow_request(request, View()) for _ in range(3)
    ]  # a new throttle each, as DRF does
    assert allowed == [True, True, False]
