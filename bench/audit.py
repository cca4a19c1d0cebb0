"""Benchmark: chained audit appends per second against plain inserts into a table of the same shape.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sandgate .venv/bin/python -m bench.audit [--seconds 5]

Runs on a scratch database (test_<name>, created and dropped here). Every append is its own transaction,
as in the services. Three ways, from 1 and 8 clients:
  * plain: INSERT into a copy of the audit table without triggers or chain;
  * chained: `audit_log` (triggers on) while the chainer links events in the background; the clock stops
    only when every event is chained;
  * locked: the rejected design, each writer takes a lock, reads the head and inserts its hash, holding the
    lock until commit.
All clients are threads of this one process, as in a threaded web worker; the chainer shares their GIL.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

import django  # noqa: E402

django.setup()

from django.db import connection, models, transaction  # noqa: E402

from audit.chain import GENESIS  # noqa: E402
from audit.models import AuditEvent  # noqa: E402
from audit.selectors import audit_chain_find_break  # noqa: E402
from audit.services import audit_chain_pending, audit_log  # noqa: E402

PLAIN_TABLE = "bench_plain_auditevent"
LOCK_KEY = 0x42454E4348  # "BENCH"


def plain_model() -> type[models.Model]:
    """Same columns and indexes as AuditEvent, none of its triggers or guards."""
    fields = {f.name: f.clone() for f in AuditEvent._meta.local_fields}
    meta = type("Meta", (), {"app_label": "audit", "db_table": PLAIN_TABLE, "managed": False})
    return type("PlainAuditEvent", (models.Model,), {"__module__": __name__, "Meta": meta, **fields})


PlainAuditEvent = plain_model()


def event_fields(client: int, i: int) -> dict:
    return {
        "action": AuditEvent.Action.SESSION_CREATED,
        "actor_label": "system",
        "ip_address": "127.0.0.1",
        "user_agent": "bench",
        "details": {"client": client, "i": i},
    }


def append_plain(client: int, i: int) -> None:
    with transaction.atomic():
        PlainAuditEvent.objects.create(**event_fields(client, i))


def append_chained(client: int, i: int) -> None:
    with transaction.atomic():
        fields = event_fields(client, i)
        audit_log(action=fields["action"], details=fields["details"])


def append_locked(client: int, i: int) -> None:
    """Hash at insert time: the head must not move until this transaction commits."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
        head = PlainAuditEvent.objects.order_by("-position").values_list("position", "hash").first()
        position, prev = head or (0, GENESIS)
        fields = event_fields(client, i)
        digest = hashlib.sha256((prev + repr(sorted(fields.items()))).encode()).hexdigest()
        PlainAuditEvent.objects.create(**fields, position=position + 1, prev_hash=prev, hash=digest)


def run_clients(append, clients: int, seconds: float) -> int:
    counts = [0] * clients
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client(n: int) -> None:
        start.wait()
        try:
            while time.monotonic() < deadline[0]:
                append(n, counts[n])
                counts[n] += 1
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    deadline[0] = time.monotonic() + seconds
    start.wait()
    for thread in threads:
        thread.join()
    return sum(counts)


def measure(append, clients: int, seconds: float, chainer: bool = False) -> float:
    stop = threading.Event()

    def chain_in_background() -> None:
        try:
            while not stop.wait(0.05):
                audit_chain_pending()
        finally:
            connection.close()

    background = threading.Thread(target=chain_in_background)
    if chainer:
        background.start()
    began = time.monotonic()
    appended = run_clients(append, clients, seconds)
    if chainer:
        stop.set()
        background.join()
        audit_chain_pending()  # the clock runs until every appended event is chained
    return appended / (time.monotonic() - began)


def reset_plain_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {PLAIN_TABLE}")
        cursor.execute(f"CREATE TABLE {PLAIN_TABLE} (LIKE audit_auditevent INCLUDING ALL)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL database: the benchmark is about PostgreSQL.")
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        rows = []
        for clients in (1, 8):
            reset_plain_table()
            plain = measure(append_plain, clients, args.seconds)
            chained = measure(append_chained, clients, args.seconds, chainer=True)
            reset_plain_table()
            locked = measure(append_locked, clients, args.seconds)
            rows.append((clients, plain, chained, locked))
        assert audit_chain_find_break(head_file=Path("/nonexistent")) is None, "the chain is broken"
        print_table(rows, seconds=args.seconds)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def print_table(rows, *, seconds: float) -> None:
    print(f"\nAudit appends per second, PostgreSQL, {seconds:g} s per cell, one transaction per append\n")
    print("| clients | plain inserts/s | chained appends/s | chained ÷ plain | locked/s | locked ÷ plain |")
    print("|--:|--:|--:|--:|--:|--:|")
    for clients, plain, chained, locked in rows:
        print(
            f"| {clients} | {plain:,.0f} | {chained:,.0f} | {chained / plain:.2f}× "
            f"| {locked:,.0f} | {locked / plain:.2f}× |"
        )
    print(f"\nChain verified: {AuditEvent.objects.count():,} events, one unbroken line.")


if __name__ == "__main__":
    main()
