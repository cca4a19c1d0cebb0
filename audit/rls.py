"""Row Level Security on every table of ours in `public`, for Supabase.

Supabase publishes `public` through its REST API (PostgREST) to the `anon` and `authenticated` roles. With
RLS enabled and no policy, those roles see no rows at all, while Django, connecting as the tables' owner,
is not affected (RLS is enabled, not forced). Only tables we own are touched.
"""

# No "%" anywhere in this SQL: it may run through a cursor wrapper that adds parameters (pgtrigger.ignore).

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


def enable_row_level_security(connection) -> None:
    """Idempotent: tables that already have RLS are left alone. A no-op off PostgreSQL."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(ENABLE_RLS_SQL)


def enable_rls_after_migrate(sender, using, **kwargs) -> None:
    """post_migrate: tables added by any future migration get RLS too, so none is ever missed."""
    from django.db import connections

    enable_row_level_security(connections[using])
