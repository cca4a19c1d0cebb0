"""The audit chain's heads written to a bucket too (moto's S3 server), so the anchor outlives the machine
that wrote the head file."""

import json

from audit.chain import GENESIS, event_hash
from audit.models import AuditEvent
from audit.services import audit_chain_anchor
from tests.audit.test_chain import log_some, run_verify, tamper


def test_heads_go_to_the_bucket_too_and_catch_a_rewritten_chain_once_the_file_is_lost(
    db, head_file, s3_server, settings
):
    bucket = s3_server.new_bucket()
    for setting, value in s3_server.settings(bucket).items():
        if setting != "AWS_STORAGE_BUCKET_NAME":  # the datasets' storage is not what this is about
            setattr(settings, setting, value)
    settings.AUDIT_HEAD_BUCKET = bucket
    first, _ = log_some(2)
    anchor = audit_chain_anchor()
    audit_chain_anchor()  # the beat writes a head every minute: each is an object of its own

    listed = s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]
    assert len(listed) == 2 and all(item["Key"].startswith("audit-heads/") for item in listed)
    body = s3_server.client().get_object(Bucket=bucket, Key=listed[0]["Key"])["Body"].read()
    assert json.loads(body) == anchor
    assert run_verify()[0] == 0

    head_file.unlink()  # the machine that wrote the head file is lost
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

    code, out = run_verify()  # ...but the heads in the bucket no longer match
    assert code == 1
    assert f"sequence {anchor['sequence']} " in out and "head written" in out
