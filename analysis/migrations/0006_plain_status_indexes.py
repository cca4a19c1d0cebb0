"""Plain b-tree indexes on status-like columns, without the `_like` (pattern_ops) twin `db_index=True` adds."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [('analysis', '0005_submit_function')]

    operations = [
        migrations.AlterField(
            model_name='execution',
            name='status',
            field=models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('timed_out', 'Timed out'), ('interrupted', 'Interrupted')], default='queued', max_length=16),
        ),
        migrations.AddIndex(
            model_name='execution',
            index=models.Index(fields=['status'], name='execution_status'),
        ),
    ]
