"""Migration steps for PostgreSQL only: the hot paths' PL/pgSQL functions (SQLite runs their ORM twins)."""

from django.db import migrations


def run_sql_on_postgresql(forward_sql: str, reverse_sql: str) -> migrations.RunPython:
    """Run `forward_sql` when migrating forward and `reverse_sql` back, on PostgreSQL; elsewhere nothing."""

    def run(sql: str):
        def operation(apps, schema_editor):
            if schema_editor.connection.vendor == "postgresql":
                schema_editor.execute(sql, params=None)

        return operation

    return migrations.RunPython(run(forward_sql), run(reverse_sql))
