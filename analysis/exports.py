"""A session as a Jupyter notebook (nbformat 4, validated) or as one plain Python script.

Only approved code is code in an export: a version whose status says a reviewer approved it (and it was not
withdrawn) and whose code still hashes to the SHA-256 they approved. Every other version — waiting for
review, rejected, blocked by the policy, superseded by an edit, failed generation, cancelled — is text only:
a markdown cell in the notebook, comment lines in the script. Each version says how it ended.

Whatever people wrote (the question, a reviewer's reason) and whatever the sandbox printed is escaped for
where it goes: `_markdown_text` for markdown, `_comment` for comment lines.
"""

from __future__ import annotations

import re
import unicodedata

import nbformat
from nbformat import v4

from approvals.labels import status_label
from approvals.models import ApprovalRequest
from approvals.services import code_sha256

from .models import Session

Status = ApprovalRequest.Status
# The statuses a version reaches only through an approval.
APPROVED_STATUSES = frozenset(
    {
        Status.APPROVED,
        Status.QUEUED,
        Status.RUNNING,
        Status.SUCCEEDED,
        Status.FAILED,
        Status.TIMED_OUT,
        Status.INTERRUPTED,
        Status.EXPIRED,
    }
)
_RAN = {
    Status.APPROVED: "not run yet",
    Status.QUEUED: "queued to run when exported",
    Status.RUNNING: "running when exported",
    Status.SUCCEEDED: "ran and succeeded",
    Status.FAILED: "ran and failed",
    Status.TIMED_OUT: "ran out of time",
    Status.INTERRUPTED: "the worker stopped during the run; it was not run again",
    Status.EXPIRED: "never ran: the approval expired first",
}
_NOT_APPROVED = {
    Status.GENERATING: "The code was still being written.",
    Status.GENERATION_FAILED: "The code could not be written.",
    Status.NEEDS_CLARIFICATION: "No code was written: the generator asked for clarification.",
    Status.POLICY_BLOCKED: "Blocked by the policy check before review.",
    Status.PENDING_REVIEW: "Waiting for review.",
    Status.CANCELLED: "Withdrawn by the person who asked.",
    Status.SUPERSEDED: "Superseded by a reviewer's edit (the next version).",
    Status.INTERRUPTED: "Interrupted while the code was being written.",
}
NOT_CODE = "Not approved, so it is not code here; the code as it was written:"
ONLY_APPROVED = "Only code a reviewer approved is code in this export; every other version is shown as text."
# Characters that show nothing, or change how the rest of a line looks or splits (NUL, ESC, bidi overrides,
# zero-width characters, lone surrogates): written as Python escapes so a reader sees they are there.
_HIDDEN = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def is_runnable(request: ApprovalRequest) -> bool:
    """The version's code is exactly what a reviewer approved, and the approval was not withdrawn."""
    return (
        request.status in APPROVED_STATUSES
        and bool(request.code)
        and request.approved_code_sha256 == code_sha256(request.code)
    )


def _reviewer(request: ApprovalRequest) -> str:
    return f" by {request.reviewer.get_username()}" if request.reviewer_id else ""


def _how_it_ended(request: ApprovalRequest) -> list[str]:
    """Plain-text lines: the version's status in the pages' words, the plan, then whether it was approved,
    whether it ran and how that ended (or, when no code was written, what the generator understood, what is
    missing and questions to ask)."""
    plan = [f"Plan: {request.plan}"] if request.plan else []
    return [f"Status: {status_label(request.status)}.", *plan, *_ending(request), *_clarification(request)]


def _clarification(request: ApprovalRequest) -> list[str]:
    asked = request.clarification or {}
    if not asked:
        return []
    lines = [f"Understood: {asked.get('understood', '')}", f"Missing: {asked.get('missing', '')}"]
    examples = asked.get("examples") or []
    if examples:
        lines.append("Questions that would work on this data: " + "; ".join(examples))
    return lines


def _ending(request: ApprovalRequest) -> list[str]:
    if is_runnable(request):
        lines = [f"Approved{_reviewer(request)}; {_RAN[request.status]}."]
        execution = getattr(request, "execution", None)
        if execution is not None and execution.duration_ms is not None:
            lines.append(f"Run time: {execution.duration_ms} ms.")
        if execution is not None and execution.error:
            lines.append(f"Error: {execution.error.get('name', 'Error')}: {execution.error.get('value', '')}")
        return lines
    if request.status in APPROVED_STATUSES and request.approved_code_sha256:
        lines = ["Its code is not the code a reviewer approved."]
    else:
        lines = [_NOT_APPROVED.get(request.status, f"{request.get_status_display()}: not approved.")]
    if request.status == Status.REJECTED:
        lines = [f"Rejected{_reviewer(request)}."]
        if request.rejection_reason:
            lines.append(f"Reason: {request.rejection_reason}")
    if request.status == Status.POLICY_BLOCKED and request.policy_reason:
        lines.append(f"Reason: {request.policy_reason}")
    if request.status == Status.GENERATION_FAILED and request.generation_error:
        lines.append(f"Reason: {request.generation_error}")
    return lines


def _header(session: Session) -> str:
    return f"Sandgate session “{session.title or session.pk}” ({session.created_at:%Y-%m-%d})"


def _visible(text: str) -> str:
    return "".join(ascii(c)[1:-1] if unicodedata.category(c) in _HIDDEN else c for c in text)


# --- the notebook --------------------------------------------------------------------------------


def _markdown_text(text: str) -> str:
    """Markdown that shows `text` and nothing else, on one line.

    Every character but letters, digits and spaces becomes a numeric character reference, so no part of it
    can be markdown (a link, an image, emphasis, a heading, a list), raw HTML, a bare-URL autolink, LaTeX
    for MathJax (`$…$`) or a line break.
    """
    flat = _visible(" ".join(text.splitlines()))
    return "".join(c if c == " " or c.isalnum() else f"&#{ord(c)};" for c in flat)


def _fenced(code: str) -> str:
    """`code` as a fenced block: shown literally, and longer than any run of backticks inside it."""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    lines = "\n".join(_visible(line) for line in code.splitlines())
    return f"{fence}python\n{lines}\n{fence}"


def _outputs(request: ApprovalRequest) -> list:
    execution = getattr(request, "execution", None)
    if execution is None:
        return []
    outputs = []
    if execution.stdout:
        outputs.append(v4.new_output("stream", name="stdout", text=execution.stdout))
    for item in execution.results or []:
        data = {"image/png": item["png"]} if "png" in item else {"text/plain": item.get("text", "")}
        outputs.append(v4.new_output("display_data", data=data))
    if execution.error:
        error = execution.error
        outputs.append(
            v4.new_output(
                "error",
                ename=str(error.get("name", "Error")),
                evalue=str(error.get("value", "")),
                traceback=str(error.get("traceback", "")).splitlines(),
            )
        )
    return outputs


def session_notebook(*, session: Session, requests: list[ApprovalRequest]) -> str:
    """The notebook as JSON text; raises nbformat.ValidationError if we ever built an invalid one."""
    notebook = v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells.append(
        v4.new_markdown_cell(f"# {_markdown_text(_header(session))}\n\n{_markdown_text(ONLY_APPROVED)}")
    )
    for number, request in enumerate(requests, start=1):
        title = f"## {number}. {_markdown_text(request.query)}"
        ended = "\n\n".join(_markdown_text(line) for line in _how_it_ended(request))
        notebook.cells.append(v4.new_markdown_cell(f"{title}\n\n{ended}"))
        if is_runnable(request):
            cell = v4.new_code_cell(request.code, outputs=_outputs(request))
            cell.metadata["sandgate"] = {"request_id": str(request.pk), "code_sha256": request.code_sha256}
            notebook.cells.append(cell)
        elif request.code:
            text = f"{_markdown_text(NOT_CODE)}\n\n{_fenced(request.code)}"
            notebook.cells.append(v4.new_markdown_cell(text))
    nbformat.validate(notebook)
    return nbformat.writes(notebook)


# --- the script ----------------------------------------------------------------------------------


def _comment(text: str, prefix: str = "# ") -> str:
    """`text` as comment lines, whatever it holds.

    Every line break Python's tokenizer honours (`\\n`, `\\r`, `\\r\\n`) and every other one an editor may
    show (`\\v`, `\\f`, `\\x1c`–`\\x1e`, `\\x85`, `\\u2028`, `\\u2029`) starts a new line with its own
    `prefix`, so nothing in `text` can end the comment and become code; hidden characters are escaped.
    """
    return "".join(f"{prefix}{_visible(line)}\n" for line in text.splitlines() or [""])


def session_script(*, session: Session, requests: list[ApprovalRequest]) -> str:
    # The encoding is declared first: Python honours a `coding:` comment only on line 1 or 2, and the
    # session's title (a question) must not be able to declare one (e.g. utf-7, which decodes `+AAo-` as
    # a line break inside a "comment").
    parts = [
        "# -*- coding: utf-8 -*-\n",
        _comment(_header(session)),
        "# Datasets are read from /data/<name>, as in the sandbox.\n",
        _comment(ONLY_APPROVED),
    ]
    for number, request in enumerate(requests, start=1):
        parts.append(f"\n# %% {number}.\n")
        parts.append(_comment(f"Question: {request.query}"))
        parts.extend(_comment(line) for line in _how_it_ended(request))
        if is_runnable(request):
            parts.append(request.code if request.code.endswith("\n") else request.code + "\n")
        elif request.code:
            parts.append(_comment(NOT_CODE))
            parts.append(_comment(request.code, prefix="# | "))
    return "".join(parts)
