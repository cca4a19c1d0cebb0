import pytest
from django.db import connection

from audit.models import AuditEvent

on_postgresql = connection.vendor == "postgresql"
# Only for what exists only on PostgreSQL (triggers, RLS); CI runs on PostgreSQL.
postgresql_only = pytest.mark.skipif(not on_postgresql, reason="triggers and RLS exist only on PostgreSQL")


@pytest.fixture(autouse=True)
def head_file(settings, tmp_path):
    settings.AUDIT_HEAD_FILE = tmp_path / "audit-heads.log"
    return settings.AUDIT_HEAD_FILE


def events(action: str):
    return AuditEvent.objects.filter(action=action)
