"""The offline generator: everyday questions answered with plain pandas, without a model, and never a guess.

    question ─ words.tokenize ─▶ lexicon.lex ─▶ reading.read ─▶ decide.decide ─▶ Intent ─┬▶ code.write
                                  (items)       (Reading)        (or Unclear)             └▶ plan.plan_of

A follow-up ("now only for churned customers", "as a pie chart") is read on top of the session's earlier
questions, which the generator receives as history. When the question cannot be mapped to columns and an
operation with confidence, or is not about the data, the output carries a Clarification and no code.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from ..base import Clarification, DatasetContext, GenerationInput, GenerationOutput
from .code import HEADER, one_line, write
from .decide import Unclear, decide, understood
from .plan import plan_of, summary_of
from .reading import Reading, merged, read
from .schema import Schema
from .words import tokenize, words_of

PROVIDER = "offline"
MODEL = "offline-rules-v1"  # the price key (billing) of the offline generator

__all__ = ["HEADER", "MODEL", "PROVIDER", "OfflineGenerator"]


class OfflineGenerator:
    provider = PROVIDER
    model = MODEL

    def generate(self, inp: GenerationInput) -> GenerationOutput:
        if not inp.datasets:
            return _clarified(
                Clarification(
                    understood="a question, but no dataset is selected for it.",
                    missing="a dataset: select one (or upload it on the Datasets page) and ask again.",
                    examples=(),
                )
            )
        schemas = [Schema.of(d) for d in inp.datasets]
        previous = _history(inp, schemas)
        reading = understand(inp.query, schemas, previous)
        if inp.revision is not None:
            reading = _with_feedback(reading, inp.revision.feedback)
        try:
            intent = decide(reading)
        except Unclear as unclear:
            return _clarified(
                Clarification(
                    understood=understood(reading, reading.schema),
                    missing=unclear.missing,
                    examples=examples_for(reading.schema),
                )
            )
        code = write(intent, question=inp.query, summary=summary_of(intent))
        if inp.revision is not None:
            header, rest = code.split("\n", 1)
            feedback = one_line(inp.revision.feedback)
            code = f"{header}\n# Version {inp.revision.version}, after reviewer feedback: {feedback}\n{rest}"
        return GenerationOutput(code=code, provider=PROVIDER, model=MODEL, plan=plan_of(intent))


def understand(question: str, schemas: list[Schema], previous: Reading | None = None) -> Reading:
    """The question's reading on the dataset it is about; a follow-up is completed by `previous`."""
    names = [_name_words(s.dataset) for s in schemas]
    tokens = tokenize(question)
    schema = _dataset_for(tokens, schemas, names, previous)
    reading = read(tokens, schema, names)
    follows = previous is not None and previous.schema is schema and reading.changes_something
    if follows and (reading.followup or reading.instead or not reading.asks_something):
        return merged(previous, reading)  # type: ignore[arg-type]
    return reading


def _history(inp: GenerationInput, schemas: list[Schema]) -> Reading | None:
    """The reading of the last answered question, each earlier one completing the next."""
    previous = None
    for turn in inp.history:
        reading = understand(turn.query, schemas, previous)
        try:
            decide(reading)
        except Unclear:
            continue  # that turn was not answerable offline: later follow-ups refer to the one before
        previous = reading
    return previous


def _with_feedback(reading: Reading, feedback: str) -> Reading:
    """A reviewer's feedback read like a follow-up ("use a bar chart", "by store", "only 2024")."""
    change = read(tokenize(feedback), reading.schema, [])
    if change.unknown or change.unclear:
        words = ", ".join(f"“{w}”" for w in [*change.unknown, *change.unclear])
        reading.unclear.append(f"the reviewer's feedback ({words})")
        return reading
    return merged(reading, change)


def _name_words(dataset: DatasetContext) -> str:
    return " ".join(words_of(PurePosixPath(dataset.name).stem))


def _dataset_for(tokens, schemas: list[Schema], names: list[str], previous: Reading | None) -> Schema:
    """The dataset the question names; else the one whose columns it mentions most; else the previous one."""
    if len(schemas) == 1:
        return schemas[0]
    text = " " + " ".join(t.stem for t in tokens) + " "
    from .words import stem

    for schema, name in zip(schemas, names, strict=True):
        if f" {' '.join(stem(w) for w in name.split())} " in text:
            return schema
    scored = []
    for position, schema in enumerate(schemas):
        reading = read(tokens, schema, names)
        score = (len(reading.unknown) + len(reading.unclear), -(len(reading.measures) + len(reading.filters)))
        scored.append((score, position, schema))
    best = min(scored, key=lambda s: (s[0], s[1]))
    if previous is not None and best[0] == min(s[0] for s in scored if s[2] is previous.schema):
        return previous.schema
    return best[2]


def _clarified(clarification: Clarification) -> GenerationOutput:
    return GenerationOutput(code="", provider=PROVIDER, model=MODEL, clarification=clarification)


def examples_for(schema: Schema) -> tuple[str, ...]:
    """Three questions that work on this dataset, each checked by reading and deciding it."""
    measures = [m for m in schema.measures if not set(m.surface) & _GRAIN_WORDS]
    summed = [m for m in measures if not m.averaged] or measures
    averaged = [m for m in measures if m.averaged] or measures
    categories = sorted(schema.having("category"), key=lambda c: len(c.values) or 99)
    flags = schema.having("flag")
    entity = schema.row_entity
    candidates = []
    if summed and categories:
        candidates.append(f"Total {summed[0].label} by {categories[0].label}")
    if flags and categories:
        candidates.append(f"{flags[0].label} rate by {categories[0].label}")
    if categories:
        candidates.append(f"How many {entity}s per {categories[-1].label}?")
    if schema.dates and summed:
        candidates.append(f"Total {summed[0].label} per month")
    if averaged and categories and categories[0].values:
        candidates.append(f"Average {averaged[0].label} for {categories[0].values[0]}")
    if len(measures) >= 2:
        candidates.append(f"Correlation between {measures[0].label} and {measures[1].label}")
    if schema.dates:
        candidates.append(f"Number of {entity}s per month")
    candidates.append(f"Describe {schema.dataset.name}")
    working = []
    for question in candidates:
        try:
            decide(understand(question, [schema]))
        except Unclear:
            continue
        working.append(question[0].upper() + question[1:])
        if len(working) == 3:
            break
    return tuple(working)


_GRAIN_WORDS = frozenset({"daily", "weekly", "monthly", "quarterly", "yearly", "annual"})
