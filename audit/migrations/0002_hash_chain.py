"""The hash-chained shape: `sequence` becomes the primary key (insertion order); the UUID stays a public id.

A primary key cannot be swapped in place portably, so the events move to a new table in their original
order (created_at, id) and the new table takes the old name. Copied events are unchained; the chainer
links them first, before anything newer.
"""

import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

ACTIONS = [
    ("request.created", "Request created"),
    ("request.generated", "Code generated"),
    ("request.generation_failed", "Code generation failed"),
    ("request.approved", "Request approved"),
    ("request.rejected", "Request rejected"),
    ("request.cancelled", "Request cancelled"),
    ("execution.queued", "Execution queued"),
    ("execution.started", "Execution started"),
    ("execution.finished", "Execution finished"),
    ("execution.refused", "Execution refused"),
    ("dataset.uploaded", "Dataset uploaded"),
    ("session.created", "Session created"),
    ("auth.login", "Logged in"),
    ("auth.login_failed", "Login failed"),
    ("auth.logout", "Logged out"),
    ("token.created", "API token created"),
    ("membership.created", "Membership created"),
    ("membership.updated", "Membership changed"),
    ("membership.deleted", "Membership deleted"),
]
COLUMNS = "id, created_at, action, actor_id, actor_label, team_id, target_type, target_id, details"


def copy_events(apps, schema_editor):
    new = apps.get_model("audit", "ChainedAuditEvent")._meta.db_table
    old = apps.get_model("audit", "AuditEvent")._meta.db_table
    schema_editor.execute(
        f"INSERT INTO {new} ({COLUMNS}, user_agent, prev_hash, hash) "
        f"SELECT {COLUMNS}, '', '', '' FROM {old} ORDER BY created_at, id"
    )


def derive_request_ids(apps, schema_editor):
    events = apps.get_model("audit", "ChainedAuditEvent").objects
    for event in events.filter(target_type="approvals.approvalrequest").only("sequence", "target_id"):
        events.filter(pk=event.pk).update(request_id=uuid.UUID(event.target_id))


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        ("billing", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ChainedAuditEvent",
            fields=[
                ("sequence", models.BigAutoField(primary_key=True, serialize=False)),
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                ("action", models.CharField(choices=ACTIONS, db_index=True, max_length=64)),
                (
                    "actor",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                ("actor_label", models.CharField(blank=True, max_length=150)),
                (
                    "team",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="billing.team",
                    ),
                ),
                ("target_type", models.CharField(blank=True, max_length=64)),
                ("target_id", models.CharField(blank=True, max_length=64)),
                ("request_id", models.UUIDField(blank=True, db_index=True, null=True)),
                ("ip_address", models.GenericIPAddressField(blank=True, null=True)),
                ("user_agent", models.CharField(blank=True, max_length=512)),
                ("details", models.JSONField(blank=True, default=dict)),
                ("position", models.BigIntegerField(blank=True, editable=False, null=True, unique=True)),
                ("prev_hash", models.CharField(blank=True, editable=False, max_length=64)),
                ("hash", models.CharField(blank=True, editable=False, max_length=64)),
            ],
            options={
                "ordering": ["sequence"],
                "indexes": [
                    models.Index(
                        condition=models.Q(("hash", "")), fields=["sequence"], name="audit_event_unchained"
                    )
                ],
            },
        ),
        migrations.RunPython(copy_events, migrations.RunPython.noop),
        migrations.RunPython(derive_request_ids, migrations.RunPython.noop),
        migrations.DeleteModel(name="AuditEvent"),
        migrations.RenameModel(old_name="ChainedAuditEvent", new_name="AuditEvent"),
    ]
