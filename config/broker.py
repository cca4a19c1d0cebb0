"""The Celery broker on Redis: kombu's Redis transport, publishing through one client per channel.

kombu builds a new `redis.Redis` for every message it publishes (`Channel.conn_or_acquire`): a client is only
a handle on the channel's connection pool, yet building one copies some 170 response callbacks, a fifth of
the CPU of `task.delay()` in the web request that queues a generation. A client is thread-safe and the pool
it wraps is fork-safe, so one per channel (rebuilt if kombu replaces the channel's pool, as after a fork)
serves every call. Selected for `redis://` broker URLs in settings; `rediss://` keeps kombu's own transport,
whose name kombu checks to turn TLS on.
"""

from __future__ import annotations

from contextlib import contextmanager

from kombu.transport import redis


class Channel(redis.Channel):
    _shared_client = None

    @contextmanager
    def conn_or_acquire(self, client=None):
        if client is not None:
            yield client
            return
        pool = self.pool
        if self._shared_client is None or self._shared_client.connection_pool is not pool:
            self._shared_client = self._create_client()
        yield self._shared_client


class Transport(redis.Transport):
    Channel = Channel
