"""Pull the one Python script out of a model's answer, or say in plain words why there is none."""

from __future__ import annotations

import ast
import re

from .base import GenerationError

# Fence languages we treat as Python; models vary between these spellings.
_PYTHON_LANGUAGES = frozenset({"python", "py", "python3"})
# An opening or closing fence: up to three spaces of indent, then three or more backticks.
_FENCE = re.compile(r"^ {0,3}(`{3,})\s*([^`\s]*)[^`]*$")


class ExtractionError(GenerationError):
    """The answer held no single, parseable Python block; the message says what was wrong."""


def extract_code(text: str) -> str:
    """Return the code of the answer's single ```python block, checked with ast.parse."""
    if not text or not text.strip():
        raise ExtractionError("the answer was empty")
    blocks, unclosed = _fenced_blocks(text=text)
    code = _pick_python_block(blocks=blocks, unclosed=unclosed)
    check_syntax(code=code)
    return code.rstrip() + "\n"


def _fenced_blocks(*, text: str) -> tuple[list[tuple[str, str]], bool]:
    """Split markdown into (language, body) blocks; also report a block left open at the end."""
    blocks: list[tuple[str, str]] = []
    fence = ""
    language = ""
    body: list[str] = []
    for line in text.splitlines():
        match = _FENCE.match(line)
        if not fence:
            if match:
                fence, language, body = match.group(1), match.group(2).lower(), []
            continue
        # A closing fence is at least as long as the opening one and carries no language.
        if match and len(match.group(1)) >= len(fence) and not match.group(2):
            blocks.append((language, "\n".join(body)))
            fence = ""
            continue
        body.append(line)
    if fence:
        # Keep the open block: a cut-off answer deserves a specific reason, not "no block".
        blocks.append((language, "\n".join(body)))
    return blocks, bool(fence)


def _pick_python_block(*, blocks: list[tuple[str, str]], unclosed: bool) -> str:
    python_blocks = [body for language, body in blocks if language in _PYTHON_LANGUAGES]
    if not python_blocks:
        # An untagged fence is accepted only when it is the answer's sole block.
        untagged = [body for language, body in blocks if not language]
        if len(blocks) == 1 and untagged:
            python_blocks = untagged
    if not python_blocks:
        raise ExtractionError("the answer contained no ```python code block")
    if len(python_blocks) > 1:
        raise ExtractionError(
            f"the answer contained {len(python_blocks)} ```python code blocks; exactly one is needed"
        )
    if unclosed and blocks[-1][1] == python_blocks[0]:
        raise ExtractionError("the ```python code block was never closed (the answer looks cut off)")
    if not python_blocks[0].strip():
        raise ExtractionError("the ```python code block was empty")
    return python_blocks[0]


def check_syntax(*, code: str) -> None:
    try:
        ast.parse(code)
    except SyntaxError as error:
        where = f" on line {error.lineno}" if error.lineno else ""
        raise ExtractionError(f"the code has a syntax error{where}: {error.msg}") from error
    except ValueError as error:  # e.g. null bytes in the source
        raise ExtractionError(f"the code cannot be parsed: {error}") from error
