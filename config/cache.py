"""Django's Redis cache backend, keeping one `redis.Redis` per connection pool instead of one per call.

Django's `RedisCacheClient.get_client` builds a new `redis.Redis` for every cache operation, and redis-py
copies its ~170 response callbacks into each one (~0.1 ms of CPU here). The analyze and login rate limits
make two cache calls per request. A client holds no connection of its own (it borrows from the pool per
command) and is safe to share between threads, so one per pool does the same work.
"""

from django.core.cache.backends import redis


class RedisCacheClient(redis.RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(pool)
        if client is None:  # two threads may both build one: the last one stays, either works
            client = self._clients[pool] = self._client(connection_pool=pool)
        return client


class RedisCache(redis.RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient
        self._scripts = {}

    def run_script(self, source: str, *, key: str, args: list):
        """Run a Lua script on the key (EVALSHA; the script is loaded on first use)."""
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self._cache.get_client(write=True).register_script(source)
        return script(keys=[key], args=args)
