"""Plain b-tree indexes on status-like columns, without the `_like` (pattern_ops) twin `db_index=True` adds."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [('approvals', '0007_request_detail_function')]

    operations = [
        migrations.AlterField(
            model_name='approvalrequest',
            name='risk_level',
            field=models.CharField(blank=True, choices=[('low', 'Low'), ('medium', 'Medium'), ('high', 'High')], max_length=8),
        ),
        migrations.AlterField(
            model_name='approvalrequest',
            name='status',
            field=models.CharField(choices=[('generating', 'Generating'), ('generation_failed', 'Generation failed'), ('policy_blocked', 'Blocked by policy'), ('pending_review', 'Pending review'), ('approved', 'Approved'), ('rejected', 'Rejected'), ('cancelled', 'Cancelled'), ('expired', 'Expired'), ('superseded', 'Superseded by an edit'), ('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('timed_out', 'Timed out'), ('interrupted', 'Interrupted')], default='generating', max_length=20),
        ),
        migrations.AddIndex(
            model_name='approvalrequest',
            index=models.Index(fields=['status'], name='approval_request_status'),
        ),
        migrations.AddIndex(
            model_name='approvalrequest',
            index=models.Index(fields=['risk_level'], name='approval_request_risk_level'),
        ),
    ]
