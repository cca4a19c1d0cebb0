"""PostgreSQL only: drop `sandgate_request_detail` (and its helper `sandgate_json_datetime`) and
`sandgate_request_approve`.

The request detail and the approval are the ORM's on every database. Reversing this migration installs the
functions again as 0007 and 0009 left them.
"""

from importlib import import_module

from django.db import migrations

from config.migration_sql import run_sql_on_postgresql

DETAIL = import_module("approvals.migrations.0007_request_detail_function")
APPROVE = import_module("approvals.migrations.0009_approve_function")


class Migration(migrations.Migration):
    dependencies = [("approvals", "0010_seed_allowlist_policy_rules")]

    operations = [
        run_sql_on_postgresql(DETAIL.DROP_SQL + APPROVE.DROP_SQL, DETAIL.CREATE_SQL + APPROVE.CREATE_SQL)
    ]
