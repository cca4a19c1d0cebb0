"""The hot paths' PL/pgSQL functions: installing them (PostgreSQL only; SQLite runs their ORM twins), calling
them."""

import contextlib

from django.db import connection, migrations, transaction


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
