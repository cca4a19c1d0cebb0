"""Supabase: Row Level Security on every table in `public` (PostgreSQL only; nothing happens on SQLite).

The last migration of the audit app, after every app's latest migration, so every table exists. Tables that
later migrations add get RLS from the post_migrate handler in audit/rls.py. The SQL is frozen here, as
migrations should be.
"""

from django.db import migrations

ENABLE_RLS_SQL = """
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT c.relname
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relrowsecurity
          AND pg_get_userbyid(c.relowner) = current_user
    LOOP
        EXECUTE 'ALTER TABLE public.' || quote_ident(t.relname) || ' ENABLE ROW LEVEL SECURITY';
    END LOOP;
END
$$;
"""


def enable_rls(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(ENABLE_RLS_SQL)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_append_only_triggers"),
        ("billing", "0002_team_limits_and_quorum"),
        ("analysis", "0002_initial"),
        ("approvals", "0003_request_versions"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        ("sessions", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    # Disabling RLS again is a decision for a person, not a rollback.
    operations = [migrations.RunPython(enable_rls, migrations.RunPython.noop)]
