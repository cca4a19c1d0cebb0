"""The code-generation interface: a question plus dataset context in, one Python script out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class CallUsage:
    """One billed call to the model: the first attempt ("generation") or the repair round ("repair")."""

    feature: str  # "generation" | "repair", the CostSpan feature it is billed under
    model: str
    input_tokens: int = 0
    output_tokens: int = 0


class GenerationError(Exception):
    """The provider could not produce usable code; the message is shown to the analyst.

    `calls` lists the model calls that did answer before the failure, so their tokens are still billed.
    """

    def __init__(self, message: str = "", *, calls: list[CallUsage] | None = None) -> None:
        super().__init__(message)
        self.calls: list[CallUsage] = list(calls or [])


class GenerationConfigurationError(GenerationError):
    """The provider refused our credentials or setup (401/403): an administrator must fix it."""


@dataclass(frozen=True)
class DatasetContext:
    name: str  # file name, e.g. "sales.csv"
    path: str  # where the sandbox mounts it, e.g. "/data/sales.csv"
    row_count: int
    columns: list[dict]  # [{"name": "date", "dtype": "datetime64[ns]"}, ...]
    sample_rows: list[dict] | None = None  # only when the dataset allows sharing samples


@dataclass(frozen=True)
class Turn:
    """One earlier question in the same session."""

    query: str
    code: str
    result_summary: str = ""


@dataclass(frozen=True)
class Revision:
    """A reviewer rejected an earlier version with this feedback and asked for a new one."""

    previous_code: str
    feedback: str
    version: int = 2


@dataclass(frozen=True)
class GenerationInput:
    query: str
    datasets: list[DatasetContext] = field(default_factory=list)
    history: list[Turn] = field(default_factory=list)
    revision: Revision | None = None


@dataclass(frozen=True)
class Clarification:
    """No code is written: what the generator understood, what is missing, and three questions that would
    work on the selected data. The request ends `needs_clarification` and never reaches a reviewer."""

    understood: str
    missing: str
    examples: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"understood": self.understood, "missing": self.missing, "examples": list(self.examples)}

    @property
    def message(self) -> str:
        """The whole answer as the analyst reads it in the conversation."""
        lines = [f"I understood: {self.understood}", f"What is missing: {self.missing}"]
        if self.examples:
            lines.append("Questions that would work on this data:")
            lines.extend(f"- {example}" for example in self.examples)
        return "\n".join(lines)


@dataclass(frozen=True)
class GenerationOutput:
    code: str
    provider: str  # "mistral" | "offline"
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    raw_text: str = ""
    # One to four plain sentences: what is computed, from which dataset and columns, and what is shown.
    plan: str = ""
    # Set instead of code when the question cannot be answered with confidence (code is then empty).
    clarification: Clarification | None = None
    # Every model call behind this output, each billed on its own (empty for the offline generator).
    calls: list[CallUsage] = field(default_factory=list)


class CodeGenerator(Protocol):
    provider: str

    def generate(self, inp: GenerationInput) -> GenerationOutput: ...
