"""No business rule lives in the database: after `migrate` no `sandgate_*` function exists.

PostgreSQL only, by nature: the PL/pgSQL functions could only ever exist there (pg_proc is PostgreSQL's
catalogue), and on SQLite the migrations that drop them do nothing, so these tests would assert nothing
there.
"""

from importlib import import_module

import pytest
from django.apps import apps
from django.db import connection

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="pg_proc and PL/pgSQL functions exist only on PostgreSQL"
    ),
    pytest.mark.django_db,
]

DROPS = [
    "analysis.migrations.0008_drop_functions",
    "approvals.migrations.0011_drop_functions",
    "billing.migrations.0009_drop_functions",
]
ONCE_INSTALLED = {
    "sandgate_analysis_submit",
    "sandgate_budget_period_start",
    "sandgate_budget_reserve",
    "sandgate_execution_claim",
    "sandgate_json_datetime",
    "sandgate_request_approve",
    "sandgate_request_detail",
}


def sandgate_functions() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT proname FROM pg_proc WHERE proname LIKE 'sandgate\\_%'")
        return {name for (name,) in cursor.fetchall()}


def test_after_migrate_no_sandgate_function_exists():
    assert sandgate_functions() == set()


def test_the_drop_migrations_remove_every_overload_a_database_still_has():
    with connection.cursor() as cursor:  # in the test's transaction: rolled back afterwards
        for name in ONCE_INSTALLED:
            for args in ("", "integer"):
                cursor.execute(f"CREATE FUNCTION {name}({args}) RETURNS integer LANGUAGE sql AS 'SELECT 1'")
    assert sandgate_functions() == ONCE_INSTALLED

    with connection.schema_editor() as editor:
        for name in DROPS:
            import_module(name).Migration.operations[0].code(apps, editor)
    assert sandgate_functions() == set()
