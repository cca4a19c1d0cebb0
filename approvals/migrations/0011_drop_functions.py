"""PostgreSQL only: drop any `sandgate_*` function of this app a database still has (every overload).

The ORM services are the one implementation on every database; no business rule lives in PL/pgSQL.
"""

from django.db import migrations

from config.migration_sql import drop_functions_on_postgresql


class Migration(migrations.Migration):
    dependencies = [("approvals", "0010_seed_allowlist_policy_rules")]

    operations = [drop_functions_on_postgresql(["sandgate_request_detail", "sandgate_json_datetime", "sandgate_request_approve"])]
