"""An empty step, kept so that the migration graph of existing databases stays whole.

No business rule lives in the database: the ORM services are the one implementation on every database,
and the app's `*_drop_functions` migration removes any `sandgate_*` function a database still has.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("analysis", "0006_plain_status_indexes"),
        ("approvals", "0008_plain_status_indexes"),
        ("audit", "0011_plain_action_index"),
        ("billing", "0007_plain_status_indexes"),
    ]

    operations = []
