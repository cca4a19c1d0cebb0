"""The code-generation interface: a question plus dataset context in, one Python script out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


class GenerationError(Exception):
    """The provider could not produce usable code; the message is shown to the analyst."""


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
class GenerationInput:
    query: str
    datasets: list[DatasetContext] = field(default_factory=list)
    history: list[Turn] = field(default_factory=list)


@dataclass(frozen=True)
class GenerationOutput:
    code: str
    provider: str  # "mistral" | "offline"
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    raw_text: str = ""


class CodeGenerator(Protocol):
    provider: str

    def generate(self, inp: GenerationInput) -> GenerationOutput: ...
