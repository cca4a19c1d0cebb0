"""An empty step, kept so that the migration graph of existing databases stays whole.

No business rule lives in the database: the ORM services are the one implementation on every database,
and the app's `*_drop_functions` migration removes any `sandgate_*` function a database still has.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0005_billing_reserve_function"),
    ]

    operations = []
