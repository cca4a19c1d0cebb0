"""Plain b-tree indexes on the action column, without the `_like` (pattern_ops) twin `db_index=True` adds."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [('audit', '0010_audit_actions_login_limit')]

    operations = [
        migrations.AlterField(
            model_name='auditevent',
            name='action',
            field=models.CharField(choices=[('request.created', 'Request created'), ('request.generated', 'Code generated'), ('request.generation_failed', 'Code generation failed'), ('request.approved', 'Request approved'), ('request.rejected', 'Request rejected'), ('request.cancelled', 'Request cancelled'), ('request.vote_recorded', 'Reviewer approval recorded'), ('request.edited', 'Code edited by a reviewer'), ('request.expired', 'Approval expired'), ('request.revised', 'New version requested'), ('request.interrupted', 'Request interrupted (worker lost)'), ('generation.misconfigured', 'Code generation misconfigured'), ('policy.checked', 'Policy checked'), ('policy.blocked', 'Blocked by policy'), ('policy.rule_changed', 'Policy rule changed'), ('execution.queued', 'Execution queued'), ('execution.started', 'Execution started'), ('execution.finished', 'Execution finished'), ('execution.refused', 'Execution refused'), ('execution.interrupted', 'Execution interrupted (worker lost)'), ('artifact.downloaded', 'Artifact downloaded'), ('dataset.uploaded', 'Dataset uploaded'), ('session.created', 'Session created'), ('session.archived', 'Session archived'), ('session.expired', 'Session expired'), ('auth.login', 'Logged in'), ('auth.login_failed', 'Login failed'), ('auth.login_locked', 'Login locked (too many failures)'), ('auth.logout', 'Logged out'), ('token.created', 'API token created'), ('membership.created', 'Membership created'), ('membership.updated', 'Membership changed'), ('membership.deleted', 'Membership deleted'), ('budget.refused', 'Refused over budget'), ('budget.soft_threshold', 'Budget soft threshold crossed'), ('budget.changed', 'Budget changed'), ('price.changed', 'Price changed')], max_length=64),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['action'], name='audit_event_action'),
        ),
    ]
