"""Chat messages for the code-writing model: the sandbox contract, the dataset context, the history.

Only what the analyst selected goes in: file names, mount paths, row counts, column names and
dtypes, sample rows when the dataset owner allowed sharing them, and earlier turns of the same
session. No settings, keys or host paths are ever read here, so none can leak into a prompt.
"""

from __future__ import annotations

import json

from .base import DatasetContext, GenerationInput, Revision, Turn

# Bounds that keep one prompt small and predictable whatever the dataset looks like.
MAX_HISTORY_TURNS = 6
MAX_SAMPLE_ROWS = 5
MAX_COLUMNS = 200
MAX_VALUE_CHARS = 80
MAX_HISTORY_CODE_CHARS = 4000
MAX_SUMMARY_CHARS = 600
MAX_REASON_CHARS = 300  # why the first answer was unusable, in the repair request

# The most tokens a text can be: every token of Mistral's tokenizers (byte-level BPE, or SentencePiece with
# byte fallback) covers at least one byte, so a message is at most its UTF-8 bytes plus the chat template's
# control tokens ([INST], [/INST], role markers, the tokenizer's prefix space) around it.
MESSAGE_OVERHEAD_TOKENS = 8
REQUEST_OVERHEAD_TOKENS = 16  # the start-of-text token and the template's framing

SANDBOX_CONTRACT = """\
You are the analysis assistant of Sandgate. An analyst asks a question about their data in plain \
language. You answer with one complete Python script. A human reviewer reads and approves the script \
before it runs, so keep it short, readable and commented where the intent is not obvious.

The script runs in an isolated sandbox with these rules:
- Datasets are mounted read-only at /data/<file name>. Read them from the exact paths listed below; \
never try to modify them.
- Available libraries: pandas, numpy, matplotlib, scipy, seaborn, openpyxl, pyarrow and the Python \
standard library. Nothing else is installed and nothing can be installed: no pip, no package downloads.
- There is no network access: no HTTP requests, no APIs, no databases.
- Files may be written only under /output; everything else is read-only.
- Charts: draw them with matplotlib (or seaborn) and leave the figures open; every open figure is \
captured automatically. Do not call plt.savefig and do not close figures you want shown.
- Tables: print them, or make the last expression of the script a pandas DataFrame.
- Print a short plain-language answer to the question, so the text output is useful on its own.
- Parse date columns with pd.to_datetime before any time-based operation.
- CPU time and memory are limited: use vectorised pandas operations, not loops over rows.

Answer format: one JSON object and nothing else, {"plan": "...", "code": "..."}:
- "plan": one to four plain sentences for the analyst and the reviewer, written before they read \
the code: what the script computes, from which dataset file and which columns, and what it shows \
(a number, a table, which chart). Write every column name exactly as in the data, in backticks, \
e.g. `revenue_eur`. The reviewer's card checks the plan against the columns the code reads.
- "code": the whole Python script, as a JSON string.
If the question cannot be answered from the selected datasets (it is not about this data, or no \
column holds what it asks for), do not guess and write no code. Answer instead \
{"clarification": {"understood": "...", "missing": "...", "examples": ["...", "...", "..."]}} \
with what you understood, what is missing, and three questions that would work on this data."""

REPAIR_REQUEST = """\
Your previous answer could not be used: {reason}.
Reply again with one JSON object {{"plan": "...", "code": "..."}} that contains the plan and the \
complete, corrected script, and nothing else."""

REVISION_REQUEST = """\
A human reviewer rejected that script. Their feedback:
{feedback}

Write version {version} of the script for the same question so that it addresses this feedback. \
Reply with one JSON object {{"plan": "...", "code": "..."}}: the plan of version {version} and the \
complete script."""


def build_messages(*, inp: GenerationInput) -> list[dict[str, str]]:
    """System prompt with contract and datasets, earlier turns as chat history, then the question."""
    system = f"{SANDBOX_CONTRACT}\n\n{describe_datasets(datasets=inp.datasets)}"
    messages = [{"role": "system", "content": system}]
    for turn in inp.history[-MAX_HISTORY_TURNS:]:
        messages.extend(_turn_messages(turn=turn))
    messages.append({"role": "user", "content": inp.query.strip()})
    if inp.revision is not None:
        messages.extend(_revision_messages(revision=inp.revision))
    return messages


def _revision_messages(*, revision: Revision) -> list[dict[str, str]]:
    """The rejected script as the model's earlier answer, then the reviewer's feedback as the ask."""
    return [
        {"role": "assistant", "content": f"```python\n{revision.previous_code.strip()}\n```"},
        {
            "role": "user",
            "content": REVISION_REQUEST.format(version=revision.version, feedback=revision.feedback),
        },
    ]


def build_repair_messages(
    *, messages: list[dict[str, str]], answer: str, reason: str
) -> list[dict[str, str]]:
    """The same conversation plus the unusable answer and a request to fix it."""
    return [
        *messages,
        # An empty assistant turn is rejected by the API, so a placeholder stands in for it.
        {"role": "assistant", "content": answer.strip() or "(empty answer)"},
        {"role": "user", "content": REPAIR_REQUEST.format(reason=reason[:MAX_REASON_CHARS])},
    ]


def prompt_tokens_ceiling(*, messages: list[dict[str, str]]) -> int:
    """The most input tokens sending `messages` can be billed: their UTF-8 bytes plus control tokens."""
    return REQUEST_OVERHEAD_TOKENS + sum(
        len(message["content"].encode("utf-8")) + MESSAGE_OVERHEAD_TOKENS for message in messages
    )


def generation_tokens_ceiling(*, inp: GenerationInput, max_output_tokens: int) -> list[tuple[int, int]]:
    """The most (input, output) tokens each call of one generation can be billed: the first call, and the
    repair round, which sends the same conversation again with the first answer (at most
    `max_output_tokens`; the same text tokenizes to about as many tokens again) and the repair request."""
    first = prompt_tokens_ceiling(messages=build_messages(inp=inp))
    repair_request = REPAIR_REQUEST.format(reason="x" * MAX_REASON_CHARS * 4)  # 4 bytes a character at most
    repair = (
        first
        + max_output_tokens
        + MESSAGE_OVERHEAD_TOKENS
        + len(repair_request.encode("utf-8"))
        + MESSAGE_OVERHEAD_TOKENS
    )
    return [(first, max_output_tokens), (repair, max_output_tokens)]


def describe_datasets(*, datasets: list[DatasetContext]) -> str:
    if not datasets:
        return (
            "No dataset is selected. Unless the question can be answered without data, write a script "
            "that prints a short message asking the analyst to select a dataset first."
        )
    parts = [f"Selected datasets ({len(datasets)}):"]
    parts.extend(_describe_dataset(dataset=dataset, number=n) for n, dataset in enumerate(datasets, 1))
    return "\n\n".join(parts)


def _describe_dataset(*, dataset: DatasetContext, number: int) -> str:
    lines = [
        f"Dataset {number}: {dataset.name}",
        f"  path: {dataset.path}",
        f"  rows: {dataset.row_count:,}",
        f"  columns ({len(dataset.columns)}, name: dtype):",
    ]
    for column in dataset.columns[:MAX_COLUMNS]:
        line = f"    - {column.get('name')}: {column.get('dtype', 'unknown')}"
        # A category's values are data: shared only where the owner shares sample rows.
        if dataset.sample_rows is not None and column.get("values"):
            line += " (values: " + ", ".join(str(_trim(value=v)) for v in column["values"]) + ")"
        lines.append(line)
    if len(dataset.columns) > MAX_COLUMNS:
        lines.append(f"    ... and {len(dataset.columns) - MAX_COLUMNS} more columns")
    lines.extend(_describe_samples(sample_rows=dataset.sample_rows))
    return "\n".join(lines)


def _describe_samples(*, sample_rows: list[dict] | None) -> list[str]:
    # None means the owner did not allow sharing rows; say so, so the model relies on the schema.
    if sample_rows is None:
        return ["  sample rows: not shared (rely on the column names and dtypes)"]
    if not sample_rows:
        return ["  sample rows: none (the dataset may be empty)"]
    shown = sample_rows[:MAX_SAMPLE_ROWS]
    lines = [f"  sample rows (first {len(shown)}, one JSON object per row):"]
    for row in shown:
        trimmed = {str(key): _trim(value=value) for key, value in row.items()}
        lines.append("    " + json.dumps(trimmed, ensure_ascii=False, default=str))
    return lines


def _trim(*, value: object) -> object:
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    text = str(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def estimate_tokens(text: str) -> int:
    """A rough count (about four characters per token) that is good enough for budgeting."""
    return (len(text) + 3) // 4


def turn_token_estimate(*, turn: Turn) -> int:
    """What one earlier turn adds to the prompt, as it will actually be sent (code and summary trimmed)."""
    return sum(estimate_tokens(message["content"]) + 4 for message in _turn_messages(turn=turn))


def _turn_messages(*, turn: Turn) -> list[dict[str, str]]:
    code = turn.code.strip()
    if len(code) > MAX_HISTORY_CODE_CHARS:
        code = code[:MAX_HISTORY_CODE_CHARS] + "\n# ... (rest of the earlier script omitted)"
    answer = f"```python\n{code}\n```"
    summary = turn.result_summary.strip()
    if summary:
        if len(summary) > MAX_SUMMARY_CHARS:
            summary = summary[: MAX_SUMMARY_CHARS - 1] + "…"
        # Attached to the assistant turn so roles keep alternating user/assistant.
        answer += f"\n\nResult when it ran: {summary}"
    return [{"role": "user", "content": turn.query.strip()}, {"role": "assistant", "content": answer}]
