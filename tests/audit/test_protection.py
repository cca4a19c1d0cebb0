import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEvent
from audit.rls import enable_rls_after_migrate
from audit.services import audit_chain_pending, audit_log
from tests.audit.conftest import postgresql_only
from tests.factories import UserFactory

Action = AuditEvent.Action


@pytest.fixture
def event(db):
    return audit_log(action=Action.SESSION_CREATED, details={"n": 1})


def raw_sql_fails(sql: str, params=()) -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    except DatabaseError:
        return True
    return False


def test_the_model_refuses_to_update_an_event(event):
    event.details = {"n": 2}
    with pytest.raises(ValueError, match="append-only"):
        event.save()


def test_the_model_refuses_to_delete_an_event(event):
    with pytest.raises(ValueError, match="append-only"):
        event.delete()


def test_querysets_refuse_bulk_updates_and_deletes(event):
    with pytest.raises(ValueError, match="append-only"):
        AuditEvent.objects.filter(pk=event.pk).update(details={"n": 2})
    with pytest.raises(ValueError, match="append-only"):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).details == {"n": 1}


@postgresql_only
def test_the_database_refuses_raw_updates_deletes_and_truncate(event):
    table = AuditEvent._meta.db_table
    assert raw_sql_fails(f"UPDATE {table} SET details = '{{}}' WHERE sequence = %s", [event.sequence])
    assert raw_sql_fails(f"UPDATE {table} SET actor_label = 'x' WHERE sequence = %s", [event.sequence])
    assert raw_sql_fails(f"DELETE FROM {table} WHERE sequence = %s", [event.sequence])
    assert raw_sql_fails(f"TRUNCATE {table}")
    assert AuditEvent.objects.filter(pk=event.pk, details={"n": 1}).exists()


@postgresql_only
def test_the_database_lets_the_chain_be_filled_only_once(event):
    table = AuditEvent._meta.db_table
    # Filling the chain with anything but hashes, or changing another column meanwhile, is refused.
    assert raw_sql_fails(
        f"UPDATE {table} SET position = 1, prev_hash = 'x', hash = 'y' WHERE sequence = %s", [event.pk]
    )
    audit_chain_pending()
    assert raw_sql_fails(f"UPDATE {table} SET hash = %s WHERE sequence = %s", ["a" * 64, event.pk])
    assert raw_sql_fails(f"UPDATE {table} SET position = 7 WHERE sequence = %s", [event.pk])


@postgresql_only
def test_the_database_refuses_events_inserted_already_chained(db):
    table = AuditEvent._meta.db_table
    assert raw_sql_fails(
        f"INSERT INTO {table} (id, created_at, action, actor_label, target_type, target_id, user_agent, "
        "details, prev_hash, hash) VALUES (gen_random_uuid(), now(), 'x', '', '', '', '', '{}', '', %s)",
        ["a" * 64],
    )


def test_deleting_a_user_keeps_their_events_untouched(db):
    user = UserFactory(username="gone")
    event = audit_log(action=Action.SESSION_CREATED, actor=user)
    audit_chain_pending()
    user.delete()
    kept = AuditEvent.objects.get(pk=event.pk)
    assert (kept.actor_id, kept.actor_label) == (event.actor_id, "gone")


def test_the_admin_lists_events_but_cannot_change_them(admin_client, event):
    changelist = admin_client.get("/admin/audit/auditevent/?action=session.created")
    assert changelist.status_code == 200
    assert b"session.created" in changelist.content
    assert admin_client.get(f"/admin/audit/auditevent/{event.pk}/change/").status_code == 200
    assert (
        admin_client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"details": "{}"}).status_code == 403
    )
    assert (
        admin_client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert admin_client.get("/admin/audit/auditevent/add/").status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).details == {"n": 1}


def _tables_without_rls() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r' AND NOT c.relrowsecurity"
        )
        return [row[0] for row in cursor.fetchall()]


@postgresql_only
def test_no_table_in_public_lacks_row_level_security(db):
    assert _tables_without_rls() == []


@postgresql_only
def test_a_table_added_later_gets_row_level_security_after_migrate(db):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE public.added_later (id int)")
    assert _tables_without_rls() == ["added_later"]
    enable_rls_after_migrate(sender=None, using="default")
    enable_rls_after_migrate(sender=None, using="default")  # idempotent
    assert _tables_without_rls() == []
