"""A migration step that drops PL/pgSQL functions by name on PostgreSQL; on SQLite it does nothing."""

from django.db import migrations

# Every overload of each named function, whatever its arguments were.
DROP_BY_NAME = """
DO $$
DECLARE f regprocedure;
BEGIN
    FOR f IN SELECT oid::regprocedure FROM pg_proc WHERE proname = ANY (%s) LOOP
        EXECUTE 'DROP FUNCTION ' || f;
    END LOOP;
END
$$;
"""


def drop_functions_on_postgresql(names: list[str]) -> migrations.RunPython:
    def drop(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            quoted = ", ".join("'" + name + "'" for name in names)
            schema_editor.execute(DROP_BY_NAME % f"ARRAY[{quoted}]", params=None)

    return migrations.RunPython(drop, migrations.RunPython.noop)
