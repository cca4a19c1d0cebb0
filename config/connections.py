"""Database connections around long calls."""

from django.db import close_old_connections, connection


def drop_stale_connection() -> None:
    """After a long call outside any transaction (an LLM call, a sandbox run), let Django reconnect if the
    database dropped us meanwhile."""
    if not connection.in_atomic_block:
        close_old_connections()
