"""What each request status is called, in plain words: one table for every page, export and answer.

`tests/web/test_every_state.py` renders every page for every status and fails when a status of
`ApprovalRequest.Status` is missing here, so a new status cannot be forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import ApprovalRequest

Status = ApprovalRequest.Status

# The analyst's timeline: the step a status has reached (`StatusText.step`) indexes this.
STEPS = ("Writing the code", "Waiting for review", "Approved", "Running", "Done")
GENERATING_STEP, REVIEW_STEP, APPROVED_STEP, RUNNING_STEP, DONE_STEP = range(len(STEPS))


@dataclass(frozen=True)
class StatusText:
    label: str  # a badge or a list's column: a few words
    sentence: str  # the analyst's headline for the request
    step: int  # the timeline step it has reached (STEPS)


STATUS_TEXT: dict[str, StatusText] = {
    Status.GENERATING: StatusText("Writing the code", "Writing the code…", GENERATING_STEP),
    Status.GENERATION_FAILED: StatusText(
        "Code not written", "The code could not be written.", GENERATING_STEP
    ),
    Status.NEEDS_CLARIFICATION: StatusText(
        "Needs clarification", "Needs clarification: no code was written.", GENERATING_STEP
    ),
    Status.POLICY_BLOCKED: StatusText(
        "Blocked by the policy check",
        "The policy check blocked this code before review; it cannot run.",
        REVIEW_STEP,
    ),
    Status.PENDING_REVIEW: StatusText("Waiting for review", "Waiting for review", REVIEW_STEP),
    Status.APPROVED: StatusText("Approved", "Approved — ready to run.", APPROVED_STEP),
    Status.REJECTED: StatusText("Rejected", "The reviewer rejected this code.", REVIEW_STEP),
    Status.CANCELLED: StatusText("Withdrawn", "You withdrew this request.", REVIEW_STEP),
    Status.EXPIRED: StatusText("Expired", "Expired before it ran; ask again.", REVIEW_STEP),
    Status.SUPERSEDED: StatusText(
        "Replaced by a new version",
        "A reviewer edited this code: a new version replaces it.",
        REVIEW_STEP,
    ),
    Status.QUEUED: StatusText("Queued to run", "Approved — queued to run…", RUNNING_STEP),
    Status.RUNNING: StatusText("Running", "Running in the sandbox…", RUNNING_STEP),
    Status.SUCCEEDED: StatusText("Done", "Done.", DONE_STEP),
    Status.FAILED: StatusText("Failed", "The analysis failed.", DONE_STEP),
    Status.TIMED_OUT: StatusText("Ran out of time", "The analysis ran out of time.", DONE_STEP),
    Status.INTERRUPTED: StatusText(
        "Interrupted",
        "Interrupted: the worker stopped. It was not run again; ask again.",
        RUNNING_STEP,
    ),
}


def status_text(status: str) -> StatusText:
    """The words for `status`; a status missing from the table (a test forbids it) shows its value."""
    return STATUS_TEXT.get(status) or StatusText(str(status).replace("_", " ").capitalize(), str(status), 0)


def status_label(status: str) -> str:
    return status_text(status).label
