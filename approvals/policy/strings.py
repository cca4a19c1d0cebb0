"""What a string literal gives away: code hidden in text that something will later interpret.

Format strings read attributes (`"{0.__class__}".format(x)`), templates and pandas expressions are code,
and matplotlib imports `module://` backends. Analysis scripts have no use for interpreter internals in their
text, so a string that names them is reported wherever it appears.
"""

from __future__ import annotations

import re
import string

from .catalogue import DANGEROUS_ATTRIBUTES, PROGRAM_SETTING, PROGRAM_SETTINGS, is_dunder

INTERNAL_WORDS = re.compile(
    r"__(globals|builtins|subclasses|import|class|mro|base|bases|code|loader|spec|dict|getattribute|"
    r"reduce|reduce_ex|self|func|closure|traceback)__"
)
MODULE_BACKEND = re.compile(r"^\s*module://")


def string_findings(text: str) -> list[tuple[str, str]]:
    """(rule, message) for each way the literal `text` reaches past the check."""
    found = []
    walked = [a for a in _format_attributes(text) if is_dunder(a) or a in DANGEROUS_ATTRIBUTES]
    if walked:
        found.append(
            (
                "dunder-access",
                f"The format string {text[:40]!r} reads .{walked[0]}: format fields can walk into the "
                "interpreter's internals.",
            )
        )
    elif INTERNAL_WORDS.search(text):
        word = INTERNAL_WORDS.search(text).group(0)
        found.append(
            (
                "dunder-access",
                f"A string names {word}: text like this is how code hidden in strings (templates, "
                "expressions, format strings) reaches the interpreter's internals.",
            )
        )
    if text in PROGRAM_SETTINGS:
        found.append(("os-command", f"The setting {text!r} {PROGRAM_SETTING}."))
    if MODULE_BACKEND.match(text):
        found.append(
            (
                "dynamic-code",
                f"{text[:60]!r} names a `module://` backend, which matplotlib imports: a module import "
                "given as a string.",
            )
        )
    return found


def _format_attributes(template: str) -> list[str]:
    found: list[str] = []
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        return found  # not a format string (or a malformed one, which fails at run time)
    for _, field, spec, _ in fields:
        if field:
            found.extend(re.findall(r"\.([A-Za-z_]\w*)", field))
        if spec and "{" in spec:
            found.extend(_format_attributes(spec))
    return found
