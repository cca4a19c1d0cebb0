"""Telling reviewers that a request waits: an email to the team's reviewers, and a signed webhook.

The webhook speaks Slack's incoming-webhook JSON (`text` plus `blocks`), so a Slack or Mattermost URL works
as it is; any other receiver verifies `X-Sandgate-Signature: sha256=<hex>`, an HMAC-SHA256 with the shared
secret over `<X-Sandgate-Timestamp>.<raw body>` (the timestamp is signed too, so an old message cannot be
replayed with a fresh one).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.request

from django.conf import settings
from django.core.mail import send_mail

from billing.models import Membership

from .models import ApprovalRequest

logger = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Sandgate-Signature"
TIMESTAMP_HEADER = "X-Sandgate-Timestamp"
WEBHOOK_TIMEOUT_SECONDS = 10


def review_url(*, request: ApprovalRequest) -> str:
    return f"{settings.SANDGATE_PUBLIC_URL.rstrip('/')}/admin/approvals/approvalrequest/{request.pk}/change/"


def reviewer_emails(*, request: ApprovalRequest) -> list[str]:
    """The team's reviewers who may decide: never the requester, nor the reviewer who made this edit."""
    memberships = Membership.objects.filter(team=request.team, role=Membership.Role.REVIEWER)
    memberships = memberships.exclude(user_id=request.user_id).exclude(user__email="")
    if request.edited_by_id:
        memberships = memberships.exclude(user_id=request.edited_by_id)
    return sorted(memberships.values_list("user__email", flat=True))


def slack_text(text: str) -> str:
    """Text for Slack's mrkdwn, escaped as Slack asks (`&`, `<`, `>` as entities): it cannot become a link
    (`<https://…|Approve>`), a mention (`<@U…>`) or a broadcast (`<!channel>`, `<!here>`)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def one_line(text: str) -> str:
    """Every run of whitespace, line breaks included, as one space: a question cannot add lines of its own
    to a subject (header injection) or to the body (a forged "Review it:" line)."""
    return " ".join(text.split())


def _summary(request: ApprovalRequest, escape=str) -> str:
    version = f" (version {request.version}, edited by a reviewer)" if request.edited_by_id else ""
    risk = request.risk_level or "unknown"
    asks = f"{escape(request.user.get_username())} asks: “{escape(one_line(request.query)[:200])}”"
    return f"{asks}{version} — risk {risk}"


def notify_reviewers_by_email(*, request: ApprovalRequest) -> int:
    recipients = reviewer_emails(request=request)
    if not recipients:
        return 0
    findings = "\n".join(f"  line {f['line']}: [{f['severity']}] {f['message']}" for f in request.findings)
    body = "\n\n".join(
        [
            f"A request in {request.team.name} waits for your review.",
            _summary(request),
            f"Policy findings:\n{findings}" if findings else "The policy check found nothing to flag.",
            f"Review it: {review_url(request=request)}",
        ]
    )
    subject = f"[Sandgate] Review needed: {one_line(request.query)[:60]}"
    return send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)


def webhook_payload(*, request: ApprovalRequest) -> dict:
    url = review_url(request=request)
    text = f"Review needed in {slack_text(request.team.name)}: {_summary(request, escape=slack_text)}"
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"Risk: *{request.risk_level or 'unknown'}*"},
                    {"type": "mrkdwn", "text": f"Findings: {len(request.findings)}"},
                    {"type": "mrkdwn", "text": f"Code SHA-256: `{request.code_sha256[:12]}`"},
                ],
            },
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": "Review"}, "url": url}
                ],
            },
        ],
    }


def webhook_signature(*, secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def notify_reviewers_by_webhook(*, request: ApprovalRequest) -> int | None:
    """POST the signed payload; None without a webhook. Network errors raise, and the task retries."""
    url, secret = settings.SANDGATE_REVIEW_WEBHOOK_URL, settings.SANDGATE_REVIEW_WEBHOOK_SECRET
    if not url:
        return None
    if not url.startswith(("https://", "http://")) or not secret:
        logger.error("SANDGATE_REVIEW_WEBHOOK_URL needs an http(s) URL and SANDGATE_REVIEW_WEBHOOK_SECRET")
        return None
    body = json.dumps(webhook_payload(request=request)).encode("utf-8")
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: webhook_signature(secret=secret, timestamp=timestamp, body=body),
    }
    http_request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(http_request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:  # noqa: S310
        return response.status
