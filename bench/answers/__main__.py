"""Do the answers right? Every evaluation question, end to end, scored right / honest refusal / wrong.

    .venv/bin/python -m bench.answers                 # the offline generator, every question
    .venv/bin/python -m bench.answers --half tuning   # only the half used while developing
    .venv/bin/python -m bench.answers -v              # one line per question, and what went wrong

Each question is generated (with its earlier questions as the session history), checked by the static
policy, run in the real local sandbox (bubblewrap, the datasets mounted read-only at /data), and its
printed output compared with the answer computed in plain Python (bench/answers/questions.py), by the
rule in bench/answers/judge.py. With MISTRAL_API_KEY set, the same questions also go to Mistral (report
only: its table is printed, the targets apply to the offline generator).

Outcomes: **right**; **honest refusal** (no code: the generator asked for clarification, or the question
is one the data cannot answer and it said so — that one counts as right); **confidently wrong** (code
that ran and printed a wrong answer, or answered a question the data cannot answer); **failed** (blocked
by the policy, a crash, or no answer from the provider). Targets for the offline generator: at least
85 % right and none confidently wrong, on each half (tuning, held-out, fresh).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from analysis.dataset_formats import caps  # noqa: E402
from analysis.datasets import profile_csv  # noqa: E402
from analysis.llm.base import DatasetContext, GenerationError, GenerationInput, Turn  # noqa: E402
from analysis.sandboxes.base import DatasetMount, Limits  # noqa: E402
from analysis.sandboxes.local import LocalSandbox  # noqa: E402
from approvals.policy import policy_check  # noqa: E402
from approvals.services import code_sha256  # noqa: E402
from bench.answers.data import DATASETS, rows_of  # noqa: E402
from bench.answers.judge import Refusal, answer_is_right, draws  # noqa: E402
from bench.answers.questions import Question, all_questions  # noqa: E402

TARGET_RIGHT = 0.85
LIMITS = Limits(cpu_seconds=60, wall_seconds=90, memory_mb=1024)
VERDICTS = ("right", "refused", "wrong", "failed")


@dataclass
class Outcome:
    question: Question
    verdict: str
    detail: str = ""
    code: str = ""
    plan: str = ""
    stdout: str = ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--half", choices=("tuning", "held-out", "fresh", "all"), default="all")
    parser.add_argument("--only", choices=("offline", "mistral"), help="one generator only")
    parser.add_argument("--dataset", help="one dataset only, e.g. sales.csv")
    parser.add_argument("-v", "--verbose", action="store_true", help="every question and every miss")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sandgate-answers-") as folder:
        contexts, mounts, rows = _datasets(Path(folder))
        questions = [q for q in all_questions(rows) if _selected(q, args)]
        generators = _generators(args.only)
        failed_targets = False
        for name, generator in generators:
            started = time.monotonic()
            with ThreadPoolExecutor(max_workers=args.workers) as pool:
                runs = [pool.submit(_evaluate, q, generator, contexts, mounts) for q in questions]
                outcomes = [run.result() for run in runs]
            print(f"\n## {name}: {len(outcomes)} questions in {time.monotonic() - started:.0f} s\n")
            if args.verbose:
                _print_details(outcomes)
            for half in _halves(args.half):
                chosen = [o for o in outcomes if half == "all" or o.question.half == half]
                print(_table(chosen, title=_half_title(half)))
                if name == "offline" and half != "all":
                    failed_targets |= not _meets_targets(chosen)
        return 1 if failed_targets else 0


def _selected(question: Question, args) -> bool:
    if args.dataset and question.dataset != args.dataset:
        return False
    return args.half == "all" or question.half == args.half


def _halves(half: str) -> list[str]:
    return ["tuning", "held-out", "fresh", "all"] if half == "all" else [half]


def _half_title(half: str) -> str:
    titles = {
        "tuning": "Tuning half",
        "held-out": "Held-out half",
        "fresh": "Fresh set",
        "all": "All questions",
    }
    return titles[half]


def _datasets(folder: Path) -> tuple[dict, dict, dict]:
    contexts, mounts, rows = {}, {}, {}
    for name, make in DATASETS.items():
        content = make()
        path = folder / name
        path.write_bytes(content)
        row_count, columns = profile_csv(content, caps())  # exactly the profile an upload gets
        contexts[name] = DatasetContext(name=name, path=f"/data/{name}", row_count=row_count, columns=columns)
        mounts[name] = DatasetMount(name=name, host_path=str(path))
        rows[name] = rows_of(content)
    return contexts, mounts, rows


def _generators(only: str | None) -> list[tuple[str, object]]:
    from analysis.llm.offline import OfflineGenerator

    chosen = []
    if only in (None, "offline"):
        chosen.append(("offline", OfflineGenerator()))
    if only == "mistral" or (only is None and settings.MISTRAL_API_KEY.strip()):
        if not settings.MISTRAL_API_KEY.strip():
            raise SystemExit("--only mistral needs MISTRAL_API_KEY.")
        from analysis.llm.mistral import MistralGenerator

        chosen.append((f"mistral ({settings.MISTRAL_MODEL})", MistralGenerator.from_settings()))
    return chosen


def _evaluate(question: Question, generator, contexts: dict, mounts: dict) -> Outcome:
    datasets = [contexts[question.dataset]]
    history: list[Turn] = []
    try:
        for earlier in question.history:
            before = generator.generate(
                GenerationInput(query=earlier, datasets=datasets, history=list(history))
            )
            if before.code:
                history.append(Turn(query=earlier, code=before.code))
        output = generator.generate(GenerationInput(query=question.text, datasets=datasets, history=history))
    except GenerationError as error:
        return Outcome(question, "failed", f"generation failed: {error}")
    unanswerable = isinstance(question.expect, Refusal)
    if output.clarification is not None:
        verdict = "right" if unanswerable else "refused"
        return Outcome(question, verdict, output.clarification.missing, plan=output.plan)
    outcome = Outcome(question, "wrong", code=output.code, plan=output.plan)
    policy = policy_check(code=output.code)
    if policy.blocked:
        outcome.verdict, outcome.detail = "failed", f"blocked by the policy: {policy.reason}"
        return outcome
    result = LocalSandbox().run(
        code=output.code,
        code_sha256=code_sha256(output.code),
        datasets=[mounts[question.dataset]],
        limits=LIMITS,
    )
    outcome.stdout = result.stdout
    if not result.succeeded:
        error = result.error or {}
        outcome.verdict = "failed"
        outcome.detail = f"{error.get('name', 'timed out')}: {str(error.get('value', ''))[:300]}"
        return outcome
    if unanswerable:
        outcome.detail = "answered a question this data cannot answer"
        return outcome
    if not answer_is_right(question.expect, result.stdout):
        outcome.detail = "the printed answer does not match"
        return outcome
    if question.chart and not (
        draws(output.code, question.chart) and any("png" in r for r in result.results)
    ):
        outcome.detail = f"no {question.chart} chart"
        return outcome
    outcome.verdict = "right"
    return outcome


def _table(outcomes: list[Outcome], *, title: str) -> str:
    lines = [
        f"**{title}**",
        "",
        "| dataset | questions | right | honest refusal | confidently wrong | failed | right % |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    names = list(dict.fromkeys(o.question.dataset for o in outcomes))
    for name in [*names, "total"]:
        chosen = [o for o in outcomes if name == "total" or o.question.dataset == name]
        counts = {v: sum(o.verdict == v for o in chosen) for v in VERDICTS}
        share = counts["right"] / len(chosen) if chosen else 0
        label = f"**{name}**" if name == "total" else name
        lines.append(
            f"| {label} | {len(chosen)} | {counts['right']} | {counts['refused']} | {counts['wrong']} "
            f"| {counts['failed']} | {share:.0%} |"
        )
    return "\n".join(lines) + "\n"


def _meets_targets(outcomes: list[Outcome]) -> bool:
    if not outcomes:
        return True
    right = sum(o.verdict == "right" for o in outcomes) / len(outcomes)
    return right >= TARGET_RIGHT and not any(o.verdict == "wrong" for o in outcomes)


def _print_details(outcomes: list[Outcome]) -> None:
    for o in outcomes:
        print(f"- [{o.verdict}] ({o.question.half}) {o.question.dataset}: {o.question.text}")
        if o.verdict != "right" or o.detail:
            if o.detail:
                print(f"    {o.detail}")
        if o.verdict in ("wrong", "failed") and o.stdout:
            print("    " + "\n    ".join(o.stdout.strip().splitlines()[-12:]))
    print()


if __name__ == "__main__":
    sys.exit(main())
