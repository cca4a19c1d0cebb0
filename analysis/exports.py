"""A session as a Jupyter notebook (nbformat 4, validated) or as one plain Python script."""

from __future__ import annotations

import nbformat
from nbformat import v4

from approvals.models import ApprovalRequest

from .models import Session


def _header(session: Session) -> str:
    return f"Sandgate session “{session.title or session.pk}” ({session.created_at:%Y-%m-%d})"


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
    notebook.cells.append(v4.new_markdown_cell(f"# {_header(session)}"))
    for number, request in enumerate(requests, start=1):
        decision = f"**Status:** {request.get_status_display()}"
        if request.reviewer_id:
            decision += f" — reviewed by {request.reviewer}"
        notebook.cells.append(v4.new_markdown_cell(f"## {number}. {request.query}\n\n{decision}"))
        if request.plan:
            notebook.cells.append(v4.new_markdown_cell(f"**Plan:** {request.plan}"))
        if request.clarification:
            notebook.cells.append(v4.new_markdown_cell(_clarification_markdown(request.clarification)))
        if request.code:
            cell = v4.new_code_cell(request.code, outputs=_outputs(request))
            cell.metadata["sandgate"] = {"request_id": str(request.pk), "code_sha256": request.code_sha256}
            notebook.cells.append(cell)
    nbformat.validate(notebook)
    return nbformat.writes(notebook)


def _clarification_markdown(clarification: dict) -> str:
    lines = [
        "**No code was written; the generator asked for clarification.**",
        "",
        f"- Understood: {clarification.get('understood', '')}",
        f"- Missing: {clarification.get('missing', '')}",
    ]
    examples = clarification.get("examples") or []
    if examples:
        lines += ["", "Questions that would work on this data:", *(f"- {e}" for e in examples)]
    return "\n".join(lines)


def _comment(text: str) -> str:
    """Text as comment lines: each line of it starts with "# ", so none can become code."""
    return "\n".join(f"# {line}".rstrip() for line in text.splitlines() or [""])


def session_script(*, session: Session, requests: list[ApprovalRequest]) -> str:
    parts = [f"# {_header(session)}\n# Datasets are read from /data/<name>, as in the sandbox.\n"]
    for number, request in enumerate(requests, start=1):
        question = request.query.replace("\n", "\n# ")
        parts.append(f"\n# %% {number}. {question}\n# status: {request.status}\n")
        if request.plan:
            parts.append(_comment(f"Plan: {request.plan}") + "\n")
        if request.clarification:
            parts.append(_comment(_clarification_markdown(request.clarification).replace("**", "")) + "\n")
        parts.append(request.code or "# (no code was generated)\n")
    return "".join(parts)
