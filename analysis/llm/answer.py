"""Read a model's structured answer: a plan and the code, or a request for clarification instead of code.

The prompt asks for one JSON object (Mistral's JSON mode enforces the JSON):

    {"plan": "one to four sentences", "code": "the whole script"}
    {"clarification": {"understood": "...", "missing": "...", "examples": ["...", "...", "..."]}}

Read robustly: the object may come inside a ```json fence or with words around it, and the code may itself
be fenced. The two-part form is accepted too: "Plan: ..." followed by one ```python block. Anything else is an
ExtractionError whose message says what was wrong; the generator's repair round sends it back once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .base import Clarification
from .extract import ExtractionError, check_syntax, extract_code

MAX_PLAN_CHARS = 1200
MAX_EXAMPLES = 3
_JSON_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n\s*```\s*$", re.DOTALL | re.IGNORECASE)
_PLAN_LABEL = re.compile(r"^\s*(?:\*\*)?plan(?:\*\*)?\s*:\s*(?:\*\*)?\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Answer:
    code: str = ""
    plan: str = ""
    clarification: Clarification | None = None


def parse_answer(text: str) -> Answer:
    if not text or not text.strip():
        raise ExtractionError("the answer was empty")
    payload = _json_object(text)
    if payload is not None:
        return _from_json(payload)
    code = extract_code(text)
    plan = _plan_before_code(text)
    if not plan:
        raise ExtractionError('the answer had no plan: give {"plan": ..., "code": ...} as one JSON object')
    return Answer(code=code, plan=plan)


def _json_object(text: str) -> dict | None:
    stripped = text.strip()
    fenced = _JSON_FENCE.match(stripped)
    candidates = [fenced.group(1)] if fenced else []
    candidates.append(stripped)
    start, end = stripped.find("{"), stripped.rfind("}")
    if 0 <= start < end:
        candidates.append(stripped[start : end + 1])
    for candidate in candidates:
        try:
            payload = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(payload, dict):
            return payload
    return None


def _from_json(payload: dict) -> Answer:
    if payload.get("clarification"):
        return Answer(clarification=_clarification(payload["clarification"]))
    plan = payload.get("plan")
    code = payload.get("code")
    if not isinstance(code, str) or not code.strip():
        raise ExtractionError('the JSON answer had no "code" (a string with the whole script)')
    if not isinstance(plan, str) or not plan.strip():
        raise ExtractionError('the JSON answer had no "plan" (one to four plain sentences)')
    if "```" in code:
        code = extract_code(code)
    else:
        check_syntax(code=code)
        code = code.rstrip() + "\n"
    return Answer(code=code, plan=_trimmed(plan))


def _clarification(raw: object) -> Clarification:
    if not isinstance(raw, dict):
        raise ExtractionError('"clarification" must be an object with "understood", "missing" and "examples"')
    understood, missing = raw.get("understood"), raw.get("missing")
    if not isinstance(missing, str) or not missing.strip():
        raise ExtractionError('the clarification had no "missing" (what the question lacks)')
    examples = raw.get("examples") or []
    if not isinstance(examples, list):
        raise ExtractionError('the clarification\'s "examples" must be a list of questions')
    return Clarification(
        understood=str(understood or "").strip()[:MAX_PLAN_CHARS],
        missing=missing.strip()[:MAX_PLAN_CHARS],
        examples=tuple(str(e).strip()[:300] for e in examples if str(e).strip())[:MAX_EXAMPLES],
    )


def _plan_before_code(text: str) -> str:
    """The two-part form is strict: the words before the code block must start with "Plan:"."""
    before = text.split("```", 1)[0].strip()
    if not _PLAN_LABEL.match(before):
        return ""
    return _trimmed(_PLAN_LABEL.sub("", before, count=1))


def _trimmed(plan: str) -> str:
    flat = " ".join(plan.split())
    return flat if len(flat) <= MAX_PLAN_CHARS else flat[: MAX_PLAN_CHARS - 1] + "…"
