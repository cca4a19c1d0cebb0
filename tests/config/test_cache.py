"""The Redis cache (rate limits across web processes), against the real Redis on this machine."""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache import caches

from config.cache import RedisCache
from config.throttling import AtomicScopedRateThrottle
from tests.config.test_settings import manage

REDIS = os.environ.get("TEST_REDIS_CACHE_URL", "redis://127.0.0.1:6379/13")


def test_a_rediscache_url_configures_the_cache_that_keeps_its_clients():
    shown = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])",
        DJANGO_SETTINGS_MODULE="config.settings.local",
        CACHE_URL="rediscache://127.0.0.1:6379/13",
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


@pytest.fixture
def redis_cache(settings):
    settings.CACHES = {"default": {"BACKEND": "config.cache.RedisCache", "LOCATION": REDIS}}
    caches["default"].clear()
    yield caches["default"]
    caches["default"].clear()


class Throttle(AtomicScopedRateThrottle):
    THROTTLE_RATES = {"analyze": "3/min"}


class View:
    throttle_scope = "analyze"


def caller(rf, pk=7):
    request = rf.post("/api/analyze")
    request.user = type("User", (), {"is_authenticated": True, "pk": pk})()
    return request


def test_the_rate_limit_counts_each_caller_in_redis_and_says_when_to_retry(redis_cache, rf):
    throttles = [Throttle() for _ in range(4)]  # a new one per request, as DRF makes them
    allowed = [throttle.allow_request(caller(rf), View()) for throttle in throttles]
    assert allowed == [True, True, True, False]
    assert 55 <= throttles[-1].wait() <= 60
    assert Throttle().allow_request(caller(rf, pk=8), View()) is True  # another caller has their own count


def test_concurrent_requests_of_one_caller_never_pass_the_limit(redis_cache, rf):
    # DRF's own throttle reads and writes the history in two steps, so requests served at once can both pass.
    barrier = threading.Barrier(12)

    def one(_):
        barrier.wait()
        return Throttle().allow_request(caller(rf), View())

    with ThreadPoolExecutor(max_workers=12) as pool:
        allowed = list(pool.map(one, range(12)))
    assert allowed.count(True) == 3


def test_without_redis_the_rate_limit_is_drfs_own(settings, rf):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    throttles = [Throttle() for _ in range(4)]
    assert [t.allow_request(caller(rf), View()) for t in throttles] == [True, True, True, False]
    assert throttles[-1].wait() is not None


def test_over_the_analyze_limit_the_api_answers_429_with_retry_after(
    redis_cache, as_user, analyst, monkeypatch
):
    monkeypatch.setattr(AtomicScopedRateThrottle, "THROTTLE_RATES", {"analyze": "1/min"})
    client = as_user(analyst)
    first, second = (client.post("/api/analyze", {"query": "count rows"}, format="json") for _ in range(2))
    assert (first.status_code, second.status_code) == (202, 429)
    assert second.json()["error"]["code"] == "rate_limited"
    assert 55 <= int(second["Retry-After"]) <= 60
