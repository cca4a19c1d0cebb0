"""The hot paths' PL/pgSQL functions: installing them (PostgreSQL only; SQLite runs their ORM twins), calling
them."""

import contextlib
from dataclasses import dataclass

from django.db import DatabaseError, connection, migrations, transaction


def run_sql_on_postgresql(forward_sql: str, reverse_sql: str) -> migrations.RunPython:
    """Run `forward_sql` when migrating forward and `reverse_sql` back, on PostgreSQL; elsewhere nothing."""

    def run(sql: str):
        def operation(apps, schema_editor):
            if schema_editor.connection.vendor == "postgresql":
                schema_editor.execute(sql, params=None)

        return operation

    return migrations.RunPython(run(forward_sql), run(reverse_sql))


def call_function(sql: str, params: list) -> tuple:
    """The row of one `SELECT … FROM sandgate_…(…)`.

    Outside a transaction the statement is its own (no BEGIN and COMMIT round trips); in a caller's, a
    savepoint, so that a refusal (an exception the function raises) leaves the caller's transaction usable.
    """
    scope = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    with scope, connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


@dataclass(frozen=True)
class Refused:
    """What a function's `RAISE EXCEPTION USING ERRCODE = 'SG…'` said: the caller maps it to its answer."""

    sqlstate: str
    message: str
    detail: str


def refused_by_function(error: DatabaseError) -> Refused | None:
    """The refusal a sandgate_… function raised (an `SG…` SQLSTATE); None for any other database error."""
    cause = error.__cause__
    sqlstate = getattr(cause, "sqlstate", None) or ""
    if not sqlstate.startswith("SG"):
        return None
    return Refused(sqlstate, cause.diag.message_primary or "", cause.diag.message_detail or "")
