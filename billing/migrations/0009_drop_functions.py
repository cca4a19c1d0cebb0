"""PostgreSQL only: drop `sandgate_budget_reserve` (and its helper `sandgate_budget_period_start`).

Budget holds are the ORM service's on every database. Reversing this migration installs the functions again
as 0005 and 0006 left them.
"""

from importlib import import_module

from django.db import migrations

from config.migration_sql import run_sql_on_postgresql

FIRST = import_module("billing.migrations.0005_billing_reserve_function")
LATEST = import_module("billing.migrations.0006_reserve_returns_periods_above_threshold")


class Migration(migrations.Migration):
    dependencies = [("billing", "0008_team_settings_validated")]

    # 0005's DROP_SQL drops both functions; 0006's CREATE_SQL replaces the reserve function 0005 created.
    operations = [run_sql_on_postgresql(FIRST.DROP_SQL, FIRST.CREATE_SQL + LATEST.CREATE_SQL)]
