"""PostgreSQL only: drop `sandgate_analysis_submit` and `sandgate_execution_claim`.

Asking and claiming a run are the ORM services on every database. Reversing this migration installs the
functions again as 0005 and 0007 left them.
"""

from importlib import import_module

from django.db import migrations

from config.migration_sql import run_sql_on_postgresql

SUBMIT = import_module("analysis.migrations.0005_submit_function")
CLAIM = import_module("analysis.migrations.0007_execution_claim_function")


class Migration(migrations.Migration):
    dependencies = [("analysis", "0007_execution_claim_function")]

    operations = [
        run_sql_on_postgresql(SUBMIT.DROP_SQL + CLAIM.DROP_SQL, SUBMIT.CREATE_SQL + CLAIM.CREATE_SQL)
    ]
