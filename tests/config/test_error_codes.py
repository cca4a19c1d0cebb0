"""Every error code the code base can answer with is in `ErrorCode`, the enum the OpenAPI schema publishes.

Codes are read from the source, as written: `code="..."` passed to an `ApplicationError` (or a subclass) or to
the functions that build error bodies, the defaults of those classes, tables of refusals by code, and the
codes of DRF's own errors. A code missing from the enum would reach clients as a value their generated types
say cannot happen.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

from config import exceptions
from config.exceptions import ErrorCode
from config.openapi import error_code_schema

ROOT = Path(__file__).resolve().parents[2]
APPS = ("analysis", "approvals", "audit", "billing", "config")
# Functions that build an error body from a code (besides the ApplicationError family, found below).
BODY_BUILDERS = {"error_body", "_error"}


def source_files() -> list[Path]:
    return [
        path
        for app in APPS
        for path in sorted((ROOT / app).rglob("*.py"))
        if "migrations" not in path.parts and "sandboxes" not in path.parts
    ]


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def error_classes(trees: list[ast.Module]) -> set[str]:
    """ApplicationError and every class that derives from it, to any depth."""
    found = {"ApplicationError"}
    classes = [node for tree in trees for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    while True:
        more = {c.name for c in classes if c.name not in found and any(_name(b) in found for b in c.bases)}
        if not more:
            return found
        found |= more


@functools.cache
def raised_codes() -> dict[str, list[str]]:
    """Each code the source gives an error, with where (file:line)."""
    trees = {path: ast.parse(path.read_text(), filename=str(path)) for path in source_files()}
    family = error_classes(list(trees.values()))
    code_position = {  # where a body builder takes its code among positional arguments
        node.name: [a.arg for a in node.args.args].index("code")
        for tree in trees.values()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name in BODY_BUILDERS
    }
    assert set(code_position) == BODY_BUILDERS
    codes: dict[str, list[str]] = {}

    def found(node: ast.AST, path: Path, value: object) -> None:
        place = f"{path.relative_to(ROOT)}:{node.lineno}"
        assert isinstance(value, str), f"{place}: an error code must be a literal string"
        codes.setdefault(value, []).append(place)

    for path, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                callee = _name(node.func)
                in_family = callee in family or (
                    callee == "__init__" and _inside_error_class(node, tree, family)
                )
                for keyword in node.keywords:
                    if keyword.arg == "code" and (in_family or callee in BODY_BUILDERS):
                        if isinstance(keyword.value, ast.Constant):
                            found(node, path, keyword.value.value)
                position = code_position.get(callee)
                if position is not None and len(node.args) > position:
                    if isinstance(node.args[position], ast.Constant):
                        found(node, path, node.args[position].value)
            elif isinstance(node, ast.ClassDef) and node.name in family:
                for item in node.body:  # the default code of each class in the family
                    if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                        arguments = item.args.args[-len(item.args.defaults) :] if item.args.defaults else []
                        pairs = zip(arguments, item.args.defaults, strict=True)
                        kwonly = zip(item.args.kwonlyargs, item.args.kw_defaults, strict=True)
                        for argument, default in [*pairs, *kwonly]:
                            if argument.arg == "code" and isinstance(default, ast.Constant):
                                found(default, path, default.value)
            elif (
                isinstance(node, ast.Dict)
                and node.values
                and all(_is_refusal(v, family) for v in node.values)
            ):
                for key in node.keys:  # {"code": (Forbidden, "message"), ...}
                    if isinstance(key, ast.Constant):
                        found(key, path, key.value)
    for code in [*exceptions._CODES.values(), exceptions._OTHER_CODE]:
        codes.setdefault(code, []).append("config/exceptions.py (DRF's errors)")
    return codes


def _is_refusal(node: ast.expr | None, family: set[str]) -> bool:
    return isinstance(node, ast.Tuple) and bool(node.elts) and _name(node.elts[0]) in family


def _inside_error_class(call: ast.Call, tree: ast.Module, family: set[str]) -> bool:
    return any(
        isinstance(node, ast.ClassDef) and node.name in family and call in ast.walk(node)
        for node in ast.walk(tree)
    )


def test_the_scan_finds_the_codes_raised_in_each_way():
    files = {code: {place.split(":")[0] for place in places} for code, places in raised_codes().items()}
    assert "analysis/services/asking.py" in files["session_closed"]  # Conflict(..., code=...)
    assert "config/exceptions.py" in files["not_found"]  # NotFound's super().__init__
    assert "config/exceptions.py" in files["conflict"]  # Conflict's default
    assert "approvals/services.py" in files["self_approval"]  # the refusals table
    assert files["server_error"] == {"analysis/views.py"}  # the JSON 500 page under /api/
    assert "billing/services.py" in files["budget_exceeded"]  # a subclass outside config
    assert files["invalid_input"] == {"config/exceptions.py (DRF's errors)"}


@pytest.mark.parametrize("code", sorted(raised_codes()))
def test_every_raised_code_is_in_the_published_enum(code):
    places = ", ".join(raised_codes()[code])
    assert code in ErrorCode.values, f"{code} (raised at {places}) is not in config.exceptions.ErrorCode"


def test_every_code_in_the_enum_is_raised_somewhere():
    """The enum lists what clients can meet, not codes nothing raises any more."""
    assert set(ErrorCode.values) - set(raised_codes()) == set()


def test_the_schema_enumerates_the_codes_with_what_each_means():
    schema = error_code_schema()
    assert schema["enum"] == list(ErrorCode.values)
    for code in ErrorCode:
        assert f"`{code.value}` - {code.label}" in schema["description"]
