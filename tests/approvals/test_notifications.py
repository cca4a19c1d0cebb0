"""Reviewers hear about waiting requests: an email, and a signed Slack-compatible webhook."""

import hashlib
import hmac
import json
import threading
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail

from analysis.llm.base import GenerationOutput
from analysis.llm.offline import OfflineGenerator
from analysis.services.asking import analysis_submit
from analysis.services.generation import request_generate_code
from approvals import tasks
from approvals.services import approval_request_edit
from billing.models import Membership
from tests.factories import ApprovalRequestFactory, demo_dataset, member

SECRET = "webhook-test-secret"


class Receiver:
    """A real HTTP server on a free local port that records each POST."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((dict(self.headers), body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/review"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    server = Receiver()
    settings.SANDGATE_REVIEW_WEBHOOK_URL = server.url
    settings.SANDGATE_REVIEW_WEBHOOK_SECRET = SECRET
    yield server
    server.stop()


@pytest.fixture
def reviewers(team, reviewer):
    reviewer.email = "rita@example.com"
    reviewer.save()
    other = member(team, Membership.Role.REVIEWER, user__email="sam@example.com")
    member(team, Membership.Role.ANALYST, user__email="analyst@example.com")
    return [reviewer, other]


def test_reviewers_of_the_team_get_an_email_but_not_the_requester(team, reviewers):
    requester = reviewers[1]  # a reviewer asking a question of their own
    request = ApprovalRequestFactory(
        user=requester, team=team, risk_level="medium", query="revenue by region"
    )
    tasks.notify_reviewers_by_email(str(request.pk))
    (email,) = mail.outbox
    assert email.to == ["rita@example.com"]
    assert "revenue by region" in email.subject
    assert f"/admin/approvals/approvalrequest/{request.pk}/change/" in email.body
    assert "risk medium" in email.body


def test_the_webhook_posts_a_signed_slack_compatible_payload(team, analyst, receiver):
    request = ApprovalRequestFactory(user=analyst, team=team, risk_level="high", query="top products")
    tasks.notify_reviewers_by_webhook(str(request.pk))
    ((headers, body),) = receiver.received
    timestamp = headers["X-Sandgate-Timestamp"]
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Sandgate-Signature"], f"sha256={expected}")
    payload = json.loads(body)
    assert "top products" in payload["text"]
    assert payload["blocks"][0]["type"] == "section"
    assert payload["blocks"][-1]["elements"][0]["url"].endswith(f"/approvalrequest/{request.pk}/change/")


def test_no_webhook_is_sent_without_a_url_or_for_a_request_no_longer_waiting(
    team, analyst, receiver, settings
):
    decided = ApprovalRequestFactory(user=analyst, team=team, status="rejected")
    tasks.notify_reviewers_by_webhook(str(decided.pk))
    settings.SANDGATE_REVIEW_WEBHOOK_URL = ""
    tasks.notify_reviewers_by_webhook(str(ApprovalRequestFactory(user=analyst, team=team).pk))
    assert receiver.received == []


def test_entering_review_enqueues_both_notifications_after_commit(
    analyst, team, monkeypatch, django_capture_on_commit_callbacks
):
    demo_dataset(team, rows=20)
    code = "import pandas as pd\nprint(pd.read_csv('/data/sales.csv').shape)\n"
    monkeypatch.setattr(
        OfflineGenerator,
        "generate",
        lambda self, inp: GenerationOutput(code=code, provider="offline", model="m"),
    )
    sent = []
    for task in (tasks.notify_reviewers_by_email, tasks.notify_reviewers_by_webhook):
        monkeypatch.setattr(task, "apply_async", lambda args, name=task.name, **_: sent.append((name, *args)))
    request = analysis_submit(user=analyst, query="shape of sales.csv")
    with django_capture_on_commit_callbacks(execute=True):
        request = request_generate_code(request_id=request.pk)
    assert sorted(sent) == [
        ("approvals.tasks.notify_reviewers_by_email", str(request.pk)),
        ("approvals.tasks.notify_reviewers_by_webhook", str(request.pk)),
    ]


def test_an_edited_version_notifies_the_other_reviewers(
    team, analyst, reviewers, django_capture_on_commit_callbacks, monkeypatch
):
    editor = reviewers[0]
    request = ApprovalRequestFactory(user=analyst, team=team, code="print(1)\n")
    with django_capture_on_commit_callbacks() as callbacks:
        edited = approval_request_edit(request=request, reviewer=editor, code="print(2)\n")
    assert len(callbacks) == 2
    tasks.notify_reviewers_by_email(str(edited.pk))
    (email,) = mail.outbox
    assert email.to == ["sam@example.com"]  # not the editor, who may not approve their own edit


SLACK_MARKUP = "<!channel> <https://evil.example/approve|Approve now> <@U024BE7LH> & <!here>"


def test_a_question_cannot_forge_links_or_mentions_in_the_slack_message(team, analyst, receiver):
    request = ApprovalRequestFactory(user=analyst, team=team, query=f"revenue {SLACK_MARKUP}")
    tasks.notify_reviewers_by_webhook(str(request.pk))
    ((_headers, body),) = receiver.received
    payload = json.loads(body)
    texts = [payload["text"], payload["blocks"][0]["text"]["text"]]
    texts += [e["text"] for e in payload["blocks"][1]["elements"]]
    assert all("<" not in text and ">" not in text for text in texts)
    escaped = (
        "&lt;!channel&gt; &lt;https://evil.example/approve|Approve now&gt; "
        "&lt;@U024BE7LH&gt; &amp; &lt;!here&gt;"
    )
    assert escaped in payload["text"] and escaped in payload["blocks"][0]["text"]["text"]


@pytest.mark.parametrize("line_break", ["\r\n", "\n", "\r", "\u2028", "\x85"])
def test_a_question_cannot_add_headers_to_the_reviewers_email(team, analyst, reviewers, line_break):
    query = f"revenue{line_break}Bcc: attacker@evil.example{line_break}{line_break}Review it: https://evil.example"
    request = ApprovalRequestFactory(user=analyst, team=team, query=query)
    tasks.notify_reviewers_by_email(str(request.pk))
    (email,) = mail.outbox
    sent = message_from_bytes(email.message().as_bytes(), policy=default_policy)  # as the server reads it
    assert "Bcc" not in sent and email.bcc == []
    assert sorted(email.recipients()) == ["rita@example.com", "sam@example.com"]
    one_line = "revenue Bcc: attacker@evil.example Review it: https://evil.example"
    assert sent["Subject"] == f"[Sandgate] Review needed: {one_line[:60]}"
    # The body is plain text; the question stays on its one quoted line, so it cannot forge a line of ours.
    (link_line,) = [line for line in email.body.splitlines() if line.startswith("Review it:")]
    assert link_line.endswith(f"/admin/approvals/approvalrequest/{request.pk}/change/")
