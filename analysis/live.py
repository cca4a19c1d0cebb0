"""Runs you can watch: what a running execution prints, forwarded as it is produced, and the heartbeat of the
worker running it.

The worker's `RunWatch` takes the sandbox's output (`write`) and, from one thread of its own, hands it to the
transport in numbered chunks (1, 2, 3…) and renews the row's heartbeat. The transport is a Redis stream per
execution when the broker is Redis (bounded length, an expiry), else `OutputChunk` rows in the database,
written at most every SANDGATE_LIVE_OUTPUT_DATABASE_SECONDS. Either keeps every chunk of the run until it
ends, so a watcher that comes late still reads it all; the execution's own stdout and stderr, written when it
ends, stay the record. Live output is capped like the final output: `output_bytes` per stream.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import redis
from django.conf import settings
from django.db import connections

from .models import OutputChunk
from .sandboxes.base import TRUNCATION_MARKER, storable

logger = logging.getLogger(__name__)

# The least time between two chunks on Redis: it bounds the stream's length (wall seconds / this).
REDIS_FLUSH_SECONDS = 0.05
# How long a run's stream outlives its end: a watcher polling it reads the execution row by then.
REDIS_ENDED_TTL_SECONDS = 120
_STREAMS = ("stdout", "stderr")


@dataclass(frozen=True)
class LiveOutput:
    """What a run printed after chunk `after`, up to chunk `seq`."""

    seq: int
    stdout: str
    stderr: str


class RedisOutput:
    """A stream per execution; chunk n has the id 0-n, so a reader asks for ids from 0-(after+1)."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)

    @staticmethod
    def key(execution_id) -> str:
        return f"sandgate:output:{execution_id}"

    def append(self, *, execution_id, seq: int, stdout: str, stderr: str, maxlen: int, ttl: int) -> None:
        key = self.key(execution_id)
        pipe = self.client.pipeline(transaction=False)
        pipe.xadd(key, {"stdout": stdout, "stderr": stderr}, id=f"0-{seq}", maxlen=maxlen, approximate=False)
        pipe.expire(key, ttl)
        pipe.execute()

    def read(self, *, execution_id, after: int) -> LiveOutput:
        entries = self.client.xrange(self.key(execution_id), min=f"0-{after + 1}", max="+")
        return _joined(after, [(int(i.split(b"-")[1]), f[b"stdout"], f[b"stderr"]) for i, f in entries])

    def end(self, *, execution_id) -> None:
        self.client.expire(self.key(execution_id), REDIS_ENDED_TTL_SECONDS)


class DatabaseOutput:
    """`OutputChunk` rows (no Redis: the embedded default)."""

    def append(self, *, execution_id, seq: int, stdout: str, stderr: str, maxlen: int, ttl: int) -> None:
        OutputChunk.objects.create(execution_id=execution_id, seq=seq, stdout=stdout, stderr=stderr)

    def read(self, *, execution_id, after: int) -> LiveOutput:
        chunks = OutputChunk.objects.filter(execution_id=execution_id, seq__gt=after).order_by("seq")
        return _joined(after, list(chunks.values_list("seq", "stdout", "stderr")))

    def end(self, *, execution_id) -> None:
        OutputChunk.objects.filter(execution_id=execution_id).delete()


def _joined(after: int, chunks: list[tuple[int, str | bytes, str | bytes]]) -> LiveOutput:
    def text(value: str | bytes) -> str:
        return value.decode() if isinstance(value, bytes) else value

    return LiveOutput(
        seq=chunks[-1][0] if chunks else after,
        stdout="".join(text(c[1]) for c in chunks),
        stderr="".join(text(c[2]) for c in chunks),
    )


@cache
def _redis_output(url: str) -> RedisOutput:
    return RedisOutput(url)


def live_output_transport() -> RedisOutput | DatabaseOutput:
    """Redis when the broker is Redis; the database otherwise."""
    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        return _redis_output(url)
    return DatabaseOutput()


def live_output_read(*, execution_id, after: int = 0) -> LiveOutput:
    """What a running execution printed after chunk `after` (nothing, should the transport be unreachable)."""
    try:
        return live_output_transport().read(execution_id=execution_id, after=after)
    except redis.RedisError:
        logger.warning("live output of %s unreadable: Redis is unreachable", execution_id)
        return LiveOutput(seq=after, stdout="", stderr="")


def live_output_end(*, execution_id) -> None:
    """The run ended: its record is the execution row; the chunks go (Redis: after a short while)."""
    try:
        live_output_transport().end(execution_id=execution_id)
    except redis.RedisError:
        logger.warning("live output of %s not ended: Redis is unreachable (it expires)", execution_id)


class _Stream:
    """One stream's text waiting to be sent, capped at `limit` bytes in all (then a truncation marker)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.sent_bytes = 0
        self.pending: list[str] = []
        self.truncated = False

    def add(self, text: str) -> None:
        if self.truncated:
            return
        data = text.encode("utf-8", "replace")
        room = self.limit - self.sent_bytes
        if len(data) > room:
            text = data[: max(room, 0)].decode("utf-8", "ignore") + TRUNCATION_MARKER
            self.truncated = True
        self.sent_bytes += len(data[: max(room, 0)])
        self.pending.append(text)

    def take(self) -> str:
        text, self.pending = "".join(self.pending), []
        return storable(text)


class RunWatch:
    """While a worker runs something: its heartbeat (`beat`) renewed every SANDGATE_HEARTBEAT_SECONDS and, for
    an execution, the output written here forwarded in chunks, all from one thread, so neither waits on the
    sandbox nor the sandbox on them. Use as a context manager; leaving it sends what is left."""

    def __init__(
        self,
        *,
        beat: Callable[[], object],
        execution_id=None,
        output_bytes: int = 0,
        wall_seconds: float = 0,
    ) -> None:
        # Called inside a transaction (an eager task in a test), nothing it writes would be seen by others
        # before that commits, and this thread's writes would wait for it: no heartbeat, no database chunks.
        in_transaction = connections["default"].in_atomic_block
        self.beat = (lambda: None) if in_transaction else beat
        self.execution_id = execution_id
        self.transport = live_output_transport() if execution_id is not None else None
        if in_transaction and isinstance(self.transport, DatabaseOutput):
            self.transport = None
        redis_transport = isinstance(self.transport, RedisOutput)
        self.flush_seconds = (
            REDIS_FLUSH_SECONDS if redis_transport else settings.SANDGATE_LIVE_OUTPUT_DATABASE_SECONDS
        )
        self.maxlen = int(wall_seconds / self.flush_seconds) + 16  # every chunk of the run, never trimmed
        self.ttl = int(settings.SANDGATE_LEASE_SECONDS)
        self.seq = 0
        self.streams = {name: _Stream(output_bytes) for name in _STREAMS}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="sandgate-run-watch", daemon=True)

    def __enter__(self) -> RunWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join()

    def write(self, stream: str, text: str) -> None:
        """Output of the run (`stdout` or `stderr`); called from the thread reading the sandbox."""
        if not text or self.transport is None:
            return
        with self._lock:
            self.streams[stream].add(text)
        self._wake.set()

    def _loop(self) -> None:
        try:
            next_beat = time.monotonic() + settings.SANDGATE_HEARTBEAT_SECONDS
            last_flush = 0.0
            while not self._stopping:
                now = time.monotonic()
                wait = next_beat - now
                if self._pending():
                    wait = min(wait, last_flush + self.flush_seconds - now)
                self._wake.wait(max(wait, 0))
                self._wake.clear()
                now = time.monotonic()
                if self._pending() and now >= last_flush + self.flush_seconds:
                    self._flush()
                    last_flush = now
                if now >= next_beat:
                    self._beat()
                    next_beat = now + settings.SANDGATE_HEARTBEAT_SECONDS
            self._flush()
        finally:
            connections.close_all()  # this thread's own connections

    def _pending(self) -> bool:
        return any(stream.pending for stream in self.streams.values())

    def _flush(self) -> None:
        with self._lock:
            if not self._pending():
                return
            stdout, stderr = (self.streams[name].take() for name in _STREAMS)
            self.seq += 1
            seq = self.seq
        try:
            self.transport.append(
                execution_id=self.execution_id,
                seq=seq,
                stdout=stdout,
                stderr=stderr,
                maxlen=self.maxlen,
                ttl=self.ttl,
            )
        except Exception:  # live output is a view; the run and its record go on without it
            logger.exception("live output of %s: chunk %s not written", self.execution_id, seq)

    def _beat(self) -> None:
        try:
            self.beat()
        except Exception:  # the database away for a moment: the next beat tries again
            logger.exception("heartbeat not renewed")
