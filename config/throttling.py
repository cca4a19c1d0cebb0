"""The analyze rate limit: with Redis, counted atomically and in one round trip.

DRF's `ScopedRateThrottle` reads the caller's recent requests from the cache and writes them back: two round
trips, and two requests of one caller served at once (two web processes) can both read the old history, so a
burst gets past the limit (DRF's documentation says so: "open to race conditions"). With the Redis cache
(`CACHE_URL=rediscache://…`, what several web processes need) this throttle keeps the history in a sorted
set and checks and records a request in one Lua script, which Redis runs atomically, on its own clock. With
any other cache (one process; locmem by default) DRF's own throttle counts.
"""

from __future__ import annotations

import logging
import math
import uuid

from django.core.cache import caches
from redis.exceptions import RedisError
from rest_framework.throttling import ScopedRateThrottle, SimpleRateThrottle

from .cache import RedisCache

logger = logging.getLogger(__name__)

# KEYS[1]: the caller's recent requests; ARGV: the window in seconds, the limit, a unique member.
# Answers nothing when the request is counted, else {now, the oldest request in the window}.
SLIDING_WINDOW = """
local key, window, limit = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) + tonumber(time[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) >= limit then
    return {tostring(now), redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2]}
end
redis.call('ZADD', key, now, ARGV[3])
redis.call('EXPIRE', key, math.ceil(window))
return false
"""


class AtomicCountThrottle(SimpleRateThrottle):
    """SimpleRateThrottle's counting, done by SLIDING_WINDOW on the Redis cache (else DRF's own)."""

    wait_seconds: float | None = None

    def allow_request(self, request, view) -> bool:
        cache = caches["default"]
        if not isinstance(cache, RedisCache) or self.rate is None:
            return super().allow_request(request, view)
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        try:
            refused = cache.run_script(
                SLIDING_WINDOW,
                key=cache.make_and_validate_key(self.key),
                args=[self.duration, self.num_requests, uuid.uuid4().hex],
            )
        except RedisError:
            # Redis down: the question goes through, as analyze answers 202 while the broker is down (it runs
            # once Redis is back); its budget hold still caps what it may cost.
            logger.exception("rate limit %r not checked: the Redis cache is unreachable", self.scope)
            return True
        if refused is None:
            return True
        now, oldest = map(float, refused)
        self.wait_seconds = max(oldest + self.duration - now, 0)
        return False

    def wait(self) -> float | None:
        if self.wait_seconds is None:
            return super().wait()
        return math.ceil(self.wait_seconds)


class AtomicScopedRateThrottle(ScopedRateThrottle, AtomicCountThrottle):
    """`ScopedRateThrottle` (same scopes, rates and keys), atomic on the Redis cache.

    Its allow_request reads the view's scope and rate, then calls `super()`: by this order of bases, that is
    AtomicCountThrottle's counting.
    """
