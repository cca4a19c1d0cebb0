"""Does the code do what its plan says? The columns and datasets a plan names, against what the code reads.

A plan names a column by its exact name (in backticks or not: `unit_cost_eur`, unit_cost_eur) or by the
words of its name ("unit cost" for unit_cost_eur, "revenue" for revenue_eur: the unit at the end of a name
is optional, and so is a plural "s"). A dataset is named by its file name ("inventory.csv"). The code's
side is what the approval card already extracts from the code's AST: the /data paths it opens and the
dataset columns it subscripts or passes to pandas calls. Each difference is a finding the reviewer reads,
e.g. "The plan says `unit_cost_eur` (“unit cost”); the code reads `units_on_hand`."
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import models
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Units written at the end of column names; a plan may leave them out ("unit cost" for unit_cost_eur).
_UNITS = frozenset({"eur", "usd", "gbp", "chf", "pct", "percent", "hours", "hrs", "days", "minutes", "mins",
                    "seconds", "secs", "months", "weeks", "years", "kg", "km"})  # fmt: skip
# One word too general to say that a plan means that column ("the total", "per month").
_GENERIC = frozenset({"id", "name", "date", "type", "value", "values", "total", "count", "row", "rows",
                      "amount", "number", "data", "time", "day", "month", "year", "week", "quarter", "share",
                      "rate", "level", "code", "key", "status"})  # fmt: skip
_TICKED = re.compile(r"`([^`\n]{1,200})`")


class PlanFindingKind(models.TextChoices):
    NO_PLAN = "no-plan", "The code came without a plan"
    PLAN_UNKNOWN_COLUMN = "plan-unknown-column", "The plan names a column the datasets lack"
    PLAN_CODE_MISMATCH = "plan-code-mismatch", "The plan names some columns, the code reads others"
    PLAN_NOT_READ = "plan-not-read", "The plan names a column the code never reads"
    CODE_NOT_PLANNED = "code-not-planned", "The code reads a column the plan does not name"
    PLAN_DATASET_MISMATCH = "plan-dataset-mismatch", "The plan names other datasets than the code reads"


@dataclass(frozen=True)
class Mention:
    column: str
    said: str  # how the plan said it: "`unit_cost_eur`" or "“unit cost”"


def plan_html(plan: str) -> SafeString:
    """The plan as HTML: escaped, with `names` in <code>."""
    parts = _TICKED.split(plan)
    html = "".join(f"<code>{escape(part)}</code>" if i % 2 else escape(part) for i, part in enumerate(parts))
    return mark_safe(html)  # noqa: S308 - every part is escaped above


def check_plan(*, plan: str, datasets: list[dict], read_columns: list[str], read_paths: list[str]) -> dict:
    """The card's "plan" section: the text, what it names, and the findings where code and plan differ.

    `datasets` are the request's [{"name", "columns": [{"name", ...}]}]; `read_columns` and `read_paths`
    what the card found the code reading.
    """
    plan = plan.strip()
    known = [str(c.get("name", "")) for d in datasets for c in d.get("columns", []) if c.get("name")]
    mentions = column_mentions(plan=plan, columns=known)
    named = list(dict.fromkeys(m.column for m in mentions))
    files = [d["name"] for d in datasets if _names_file(plan, d["name"])]
    read_files = [p.removeprefix("/data/") for p in read_paths]
    return {
        "text": plan,
        "columns": named,
        "datasets": files,
        "findings": _findings(
            plan=plan,
            mentions=mentions,
            named=named,
            read_columns=read_columns,
            files=files,
            read_files=read_files,
            known=known,
        ),
    }


def column_mentions(*, plan: str, columns: list[str]) -> list[Mention]:
    found: list[Mention] = []
    ticked = {t.strip() for t in _TICKED.findall(plan)}
    words = _words(plan)
    for column in columns:
        if column in ticked:
            found.append(Mention(column, f"`{column}`"))
        elif re.search(rf"(?<![\w`]){re.escape(column)}(?![\w`])", plan):
            found.append(Mention(column, column))
        else:
            phrase = _phrase_in(words, _core_words(column))
            if phrase:
                found.append(Mention(column, f"“{phrase}”"))
    # A plan that says "unit cost" names unit_cost_eur, not also a column called "cost".
    return [m for m in found if not _inside_longer(m, found)]


def _findings(*, plan, mentions, named, read_columns, files, read_files, known) -> list[dict]:
    if not plan:
        return [
            _finding(
                PlanFindingKind.NO_PLAN,
                "There is no plan for this code: read the code to see what it computes.",
            )
        ]
    findings = []
    unknown = [t for t in dict.fromkeys(_TICKED.findall(plan)) if _looks_like_column(t) and t not in known]
    unknown = [t for t in unknown if not any(t == f or t == f"/data/{f}" for f in read_files + files)]
    for name in unknown:
        message = f"The plan mentions `{name}`, which is not a column of the selected datasets."
        findings.append(_finding(PlanFindingKind.PLAN_UNKNOWN_COLUMN, message))
    said_not_read = [m for m in mentions if m.column not in read_columns]
    read_not_said = [c for c in read_columns if c not in named]
    if said_not_read and read_not_said:
        said = ", ".join(_said(m) for m in said_not_read)
        read = ", ".join(f"`{c}`" for c in read_not_said)
        findings.append(
            _finding(PlanFindingKind.PLAN_CODE_MISMATCH, f"The plan says {said}; the code reads {read}.")
        )
    elif said_not_read:
        said = ", ".join(_said(m) for m in said_not_read)
        findings.append(
            _finding(PlanFindingKind.PLAN_NOT_READ, f"The plan says {said}, but the code never reads it.")
        )
    elif read_not_said:
        read = ", ".join(f"`{c}`" for c in read_not_said)
        findings.append(
            _finding(
                PlanFindingKind.CODE_NOT_PLANNED, f"The code reads {read}, which the plan does not mention."
            )
        )
    if files and read_files and set(files) != set(read_files):
        findings.append(
            _finding(
                PlanFindingKind.PLAN_DATASET_MISMATCH,
                f"The plan says {', '.join(files)}; the code reads {', '.join(read_files)}.",
            )
        )
    return findings


def _finding(kind: PlanFindingKind, message: str) -> dict:
    return {"kind": kind.value, "message": message}


def _said(mention: Mention) -> str:
    return (
        f"`{mention.column}`"
        if mention.said.strip("`") == mention.column
        else f"`{mention.column}` ({mention.said})"
    )


def _names_file(plan: str, name: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(name)}(?![\w])", plan) is not None


def _looks_like_column(text: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z_][\w ]{0,80}", text)) and " " not in text.strip()


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^0-9a-z]+", re.sub(r"([a-z])([A-Z])", r"\1 \2", text).lower()) if w]


def _core_words(column: str) -> list[str]:
    words = _words(column.replace("_", " "))
    if len(words) > 1 and words[-1] in _UNITS:
        words = words[:-1]
    return words


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def _phrase_in(words: list[str], core: list[str]) -> str:
    if not core or (len(core) == 1 and (core[0] in _GENERIC or len(core[0]) < 4)):
        return ""
    wanted = [_singular(w) for w in core]
    for start in range(len(words) - len(core) + 1):
        span = words[start : start + len(core)]
        if [_singular(w) for w in span] == wanted:
            return " ".join(span)
    return ""


def _inside_longer(mention: Mention, found: list[Mention]) -> bool:
    if not mention.said.startswith("“"):
        return False
    said = mention.said.strip("“”")
    return any(
        other is not mention
        and other.said.startswith("“")
        and said in other.said
        and said != other.said.strip("“”")
        for other in found
    )
