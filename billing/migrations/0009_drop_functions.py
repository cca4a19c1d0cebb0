"""PostgreSQL only: drop any `sandgate_*` function of this app a database still has (every overload).

The ORM services are the one implementation on every database; no business rule lives in PL/pgSQL.
"""

from django.db import migrations

from config.migration_sql import drop_functions_on_postgresql


class Migration(migrations.Migration):
    dependencies = [("billing", "0008_team_settings_validated")]

    operations = [drop_functions_on_postgresql(["sandgate_budget_reserve", "sandgate_budget_period_start"])]
