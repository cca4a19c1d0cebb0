import json
import threading

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from audit.chain import GENESIS, event_hash
from audit.models import AuditEvent
from audit.selectors import audit_chain_find_break
from audit.services import audit_chain_anchor, audit_chain_pending, audit_log
from tests.audit.conftest import on_postgresql

Action = AuditEvent.Action


def log_some(n: int, **kwargs) -> list[AuditEvent]:
    return [audit_log(action=Action.SESSION_CREATED, details={"n": i}, **kwargs) for i in range(n)]


def run_verify() -> tuple[int, str]:
    from io import StringIO

    out = StringIO()
    try:
        call_command("audit_verify", stdout=out)
    except SystemExit as exc:
        return exc.code, out.getvalue()
    return 0, out.getvalue()


def tamper(sql: str, params: list) -> None:
    """What someone with database rights does: on PostgreSQL first lift the triggers (SQLite has none)."""
    import pgtrigger

    with pgtrigger.ignore("audit.AuditEvent:audit_fill_chain_once", "audit.AuditEvent:audit_forbid_delete"):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def test_chaining_links_every_event_to_the_previous_hash(db):
    first, second, third = log_some(3)
    assert audit_chain_pending() == 3
    chained = list(AuditEvent.objects.order_by("position"))
    assert [e.sequence for e in chained] == [first.sequence, second.sequence, third.sequence]
    assert [e.position for e in chained] == [1, 2, 3]
    assert chained[0].prev_hash == GENESIS
    assert chained[1].prev_hash == chained[0].hash
    assert chained[2].hash == event_hash(chained[2], chained[1].hash)


def test_chaining_again_changes_nothing(db):
    log_some(2)
    audit_chain_pending()
    before = list(AuditEvent.objects.values_list("sequence", "position", "hash"))
    assert audit_chain_pending() == 0
    assert list(AuditEvent.objects.values_list("sequence", "position", "hash")) == before


def test_chaining_works_in_batches(db):
    log_some(7)
    assert audit_chain_pending(batch_size=3) == 7
    assert audit_chain_find_break() is None


def test_verify_exits_0_on_an_unbroken_chain(db):
    log_some(3)
    audit_chain_pending()
    code, out = run_verify()
    assert code == 0
    assert "unbroken" in out
    assert "not chained yet" not in out


def test_verify_only_reads_and_leaves_pending_events_unchained(db):
    chained = log_some(2)
    audit_chain_pending()
    pending = log_some(3)
    code, out = run_verify()
    assert code == 0
    assert "3 newer event(s) are not chained yet" in out
    unchained = AuditEvent.objects.filter(hash="", position__isnull=True)
    assert sorted(unchained.values_list("sequence", flat=True)) == [e.sequence for e in pending]
    assert AuditEvent.objects.filter(position__isnull=False).count() == len(chained)


def test_the_chain_command_chains_what_is_pending_and_writes_the_head(db, head_file):
    from io import StringIO

    log_some(4)
    out = StringIO()
    call_command("audit_chain", stdout=out)
    head = AuditEvent.objects.order_by("-position").first()
    assert f"Chained 4 event(s); head at position {head.position}" in out.getvalue()
    assert not AuditEvent.objects.filter(hash="").exists()
    assert json.loads(head_file.read_text().splitlines()[-1])["hash"] == head.hash
    assert run_verify() == (0, "OK: the audit chain is unbroken.\n")


def test_tampering_with_a_row_makes_verify_exit_1_naming_its_sequence(db):
    _, victim, _ = log_some(3)
    audit_chain_pending()
    tamper("UPDATE audit_auditevent SET details = %s WHERE sequence = %s", ['{"n": 99}', victim.sequence])
    code, out = run_verify()
    assert code == 1
    assert f"BROKEN at sequence {victim.sequence} " in out


def test_deleting_a_row_makes_verify_name_the_event_after_the_gap(db):
    _, victim, after = log_some(3)
    audit_chain_pending()
    tamper("DELETE FROM audit_auditevent WHERE sequence = %s", [victim.sequence])
    code, out = run_verify()
    assert code == 1
    assert f"BROKEN at sequence {after.sequence} " in out


def test_rewriting_the_whole_chain_is_caught_by_the_head_file(db, head_file):
    first, _ = log_some(2)
    anchor = audit_chain_anchor()
    assert json.loads(head_file.read_text().splitlines()[-1])["hash"] == anchor["hash"]
    # A forger edits the first event and recomputes every hash after it: the chain itself looks fine...
    tamper("UPDATE audit_auditevent SET actor_label = %s WHERE sequence = %s", ["mallory", first.sequence])
    prev = GENESIS
    for event in AuditEvent.objects.order_by("position"):
        fixed = event_hash(event, prev)
        tamper(
            "UPDATE audit_auditevent SET prev_hash = %s, hash = %s WHERE sequence = %s",
            [prev, fixed, event.pk],
        )
        prev = fixed
    # ...but the head written outside the database no longer matches.
    code, out = run_verify()
    assert code == 1
    assert f"sequence {anchor['sequence']} " in out
    assert "head written" in out


def test_a_rolled_back_event_leaves_no_hole_in_the_chain(db):
    audit_log(action=Action.SESSION_CREATED)
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_log(action=Action.SESSION_CREATED)
        raise RuntimeError("the audited change failed")
    audit_log(action=Action.SESSION_CREATED)
    audit_chain_pending()
    assert list(AuditEvent.objects.order_by("position").values_list("position", flat=True)) == [1, 2]
    assert audit_chain_find_break() is None


def _in_thread(target, *args):
    def run():
        try:
            target(*args)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_the_chain_follows_commit_order_when_sequence_numbers_commit_out_of_order(transactional_db):
    """On PostgreSQL #A is numbered first but commits last, and the chain must neither wait nor skip it.

    On SQLite the second writer waits for the first one's write lock, so commit order is sequence order.
    """
    inserted, release, committed = threading.Event(), threading.Event(), []

    def slow_writer():
        with transaction.atomic():
            audit_log(action=Action.SESSION_CREATED, details={"writer": "slow"})
            inserted.set()
            release.wait(10)
        committed.append("slow")

    def fast_writer():
        audit_log(action=Action.SESSION_CREATED, details={"writer": "fast"})
        committed.append("fast")

    slow = _in_thread(slow_writer)
    assert inserted.wait(10)
    fast = _in_thread(fast_writer)
    fast.join(2)
    assert fast.is_alive() is not on_postgresql  # only PostgreSQL lets the second writer commit first
    if on_postgresql:
        assert audit_chain_pending() == 1  # the visible event is chained; the open one is not waited for
    release.set()
    slow.join(10)
    fast.join(30)
    audit_chain_pending()
    chain = [e.details["writer"] for e in AuditEvent.objects.order_by("position")]
    assert chain == committed
    assert audit_chain_find_break() is None


def test_eight_concurrent_writers_leave_one_unbroken_chain(transactional_db):
    writers, per_writer = 8, 25
    barrier = threading.Barrier(writers)
    stop = threading.Event()

    def write(n):
        barrier.wait()
        for i in range(per_writer):
            audit_log(action=Action.SESSION_CREATED, details={"writer": n, "i": i})

    def chain_meanwhile():
        while not stop.wait(0.01):  # a pause, as the beat's: a tight loop would starve SQLite's writers
            audit_chain_pending()

    chainer = _in_thread(chain_meanwhile)
    threads = [_in_thread(write, n) for n in range(writers)]
    for thread in threads:
        thread.join(120)
    stop.set()
    chainer.join(60)
    audit_chain_pending()
    positions = list(AuditEvent.objects.order_by("position").values_list("position", flat=True))
    assert positions == list(range(1, writers * per_writer + 1))
    assert audit_chain_find_break() is None
