"""Live output: what a running execution prints reaches the API while it runs (a real worker, the real
sandbox, the configured transport: a Redis stream with a Redis broker, database chunks on the embedded
default)."""

from __future__ import annotations

import logging
import threading
import time

from analysis.live import LiveOutput, RunWatch, live_output_end, live_output_read
from analysis.models import Execution
from analysis.sandboxes.base import TRUNCATION_MARKER
from approvals.services import approval_request_approve
from tests.conftest import client_for
from tests.factories import ApprovalRequestFactory

PRINT_SLEEP_PRINT = "import time\nprint('first line', flush=True)\ntime.sleep(6)\nprint('second line')\n"
FINAL = {status.value for status in Execution.FINAL_STATUSES}


def approved(*, analyst, reviewer, team, code: str):
    request = ApprovalRequestFactory(user=analyst, team=team, code=code)
    return approval_request_approve(request=request, reviewer=reviewer)


def poll(api, url: str, until, *, timeout: float = 60, **params) -> dict:
    """GET `url` until `until(body)`, at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        body = api.get(url, params).json()
        if until(body):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.02)  # the polling interval, not a synchronisation: the condition decides


def test_a_running_executions_first_line_is_visible_through_the_api_before_it_ends(
    celery_worker_process, team, analyst, reviewer
):
    request = approved(analyst=analyst, reviewer=reviewer, team=team, code=PRINT_SLEEP_PRINT)
    api = client_for(analyst)
    execution_id = api.post("/api/execute", {"requestId": str(request.pk)}, format="json").json()[
        "executionId"
    ]
    url = f"/api/executions/{execution_id}"

    # print() writes the text and its newline apart (-u, unbuffered): they may come in two chunks.
    live = poll(api, url, lambda body: "first line\n" in body["stdout"])

    assert live["status"] == "running"
    assert live["stdout"] == "first line\n" and live["outputSeq"] >= 1
    newer = api.get(url, {"after": live["outputSeq"]}).json()
    assert newer["status"] == "running" and newer["stdout"] == ""  # only what is new: nothing yet
    assert newer["outputSeq"] == live["outputSeq"]
    late = api.get(url).json()  # a watcher that comes late still reads it all
    assert late["stdout"] == "first line\n"

    rest = poll(api, url, lambda body: "second line" in body["stdout"] or body["status"] in FINAL,
                after=live["outputSeq"])  # fmt: skip
    assert "first line" not in rest["stdout"] or rest["status"] in FINAL
    final = poll(api, url, lambda body: body["status"] in FINAL)
    assert final["status"] == "succeeded", final
    assert final["stdout"] == "first line\nsecond line\n"
    assert final["outputSeq"] >= live["outputSeq"]
    assert live_output_read(execution_id=execution_id).stdout in ("", "first line\nsecond line\n")


def test_the_live_stream_is_capped_like_the_final_output_and_ends_with_the_run(transactional_db, team):
    execution = Execution.objects.create(
        request=ApprovalRequestFactory(team=team), code_sha256="0" * 64, status=Execution.Status.RUNNING
    )
    with RunWatch(beat=lambda: None, execution_id=execution.pk, output_bytes=10, wall_seconds=5) as watch:
        watch.write("stdout", "x" * 6)
        watch.write("stdout", "y" * 19)
        watch.write("stdout", "never sent")
        watch.write("stderr", "warning\n")

    printed = live_output_read(execution_id=execution.pk)
    assert printed.stdout == "x" * 6 + "y" * 4 + TRUNCATION_MARKER
    assert printed.stderr == "warning\n" and printed.seq == watch.seq >= 1
    assert live_output_read(execution_id=execution.pk, after=printed.seq).stdout == ""
    live_output_end(execution_id=execution.pk)


def test_an_unknown_after_is_refused_with_a_clear_400(db, team, analyst):
    execution = Execution.objects.create(
        request=ApprovalRequestFactory(team=team, user=analyst), code_sha256="0" * 64
    )
    answer = client_for(analyst).get(f"/api/executions/{execution.pk}", {"after": "-1"})
    assert answer.status_code == 400, answer.content


UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: every command is refused


class _Signal(logging.Handler):
    """Sets `event` when a record whose message contains `text` is logged (from any thread)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text, self.event = text, threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()


def test_with_redis_unreachable_a_run_keeps_its_heartbeat_and_watchers_read_nothing_yet_instead_of_an_error(
    transactional_db, settings, team, analyst
):
    settings.CELERY_BROKER_URL = UNREACHABLE_REDIS
    settings.SANDGATE_HEARTBEAT_SECONDS = 0.01
    execution = Execution.objects.create(
        request=ApprovalRequestFactory(team=team, user=analyst),
        code_sha256="0" * 64,
        status=Execution.Status.RUNNING,
    )
    lost = _Signal("chunk 1 not written")
    beats = threading.Event()
    logging.getLogger("analysis.live").addHandler(lost)
    try:
        with RunWatch(beat=beats.set, execution_id=execution.pk, output_bytes=100, wall_seconds=5) as watch:
            watch.write("stdout", "first line\n")
            assert lost.event.wait(timeout=30)  # the chunk could not be written, and that was logged
            beats.clear()
            assert beats.wait(timeout=30)  # the watch thread lives on: the heartbeat is still renewed
    finally:
        logging.getLogger("analysis.live").removeHandler(lost)

    assert watch.seq == 1
    assert live_output_read(execution_id=execution.pk, after=0) == LiveOutput(seq=0, stdout="", stderr="")
    answer = client_for(analyst).get(f"/api/executions/{execution.pk}")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["status"], body["stdout"], body["outputSeq"]) == ("running", "", 0)
    live_output_end(execution_id=execution.pk)  # refused by Redis too; the stream would expire on its own
