"""A migration step that runs SQL on PostgreSQL only; on SQLite it does nothing.

Used by the migrations that installed PL/pgSQL functions and by the ones that drop them again.
"""

from django.db import migrations


def run_sql_on_postgresql(forward_sql: str, reverse_sql: str) -> migrations.RunPython:
    """Run `forward_sql` when migrating forward and `reverse_sql` back, on PostgreSQL; elsewhere nothing."""

    def run(sql: str):
        def operation(apps, schema_editor):
            if schema_editor.connection.vendor == "postgresql":
                schema_editor.execute(sql, params=None)

        return operation

    return migrations.RunPython(run(forward_sql), run(reverse_sql))
