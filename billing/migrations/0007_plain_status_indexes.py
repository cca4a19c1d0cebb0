"""Plain b-tree indexes on status-like columns, without the `_like` (pattern_ops) twin `db_index=True` adds."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [('billing', '0006_reserve_returns_periods_above_threshold')]

    operations = [
        migrations.AlterField(
            model_name='reservation',
            name='status',
            field=models.CharField(choices=[('active', 'Active'), ('settled', 'Settled'), ('released', 'Released')], default='active', max_length=10),
        ),
        migrations.AddIndex(
            model_name='reservation',
            index=models.Index(fields=['status'], name='reservation_status'),
        ),
    ]
