"""The approval card's view of the code: what it reads, writes, imports and draws, as far as the AST shows."""

from __future__ import annotations

import ast
import functools
import posixpath

from .catalogue import WRITE_KEYWORDS, WRITE_METHODS
from .paths import fstring_prefix

CHART_MODULES = {"plt", "sns", "matplotlib", "seaborn", "pyplot"}
CHART_METHODS = {
    "plot", "bar", "barh", "hist", "scatter", "pie", "boxplot", "violinplot", "imshow", "heatmap",
    "lineplot", "barplot", "histplot", "scatterplot", "countplot", "pairplot", "kdeplot",
    "stackplot", "area", "fill_between", "errorbar", "step", "stem", "hexbin", "contour", "contourf",
}  # fmt: skip
FIGURE_CALLS = {"figure", "subplots", "subplot_mosaic"}
# Path(...).write_text(data): the path is the receiver, not an argument.
RECEIVER_WRITES = {"write_text", "write_bytes", "touch"}


def describe_code(*, code: str) -> dict:
    """What the code reads, writes, imports and draws, as far as the AST shows it.

    Memoised by the code's text (a pure function of it): every GET of a request's card would otherwise
    parse the same script again. The caller gets its own lists, so the cached answer cannot be changed.
    """
    seen = _describe_code(code)
    return {key: [dict(v) if isinstance(v, dict) else v for v in values] for key, values in seen.items()}


@functools.lru_cache(maxsize=256)
def _describe_code(code: str) -> dict:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return {"paths": [], "subscripts": [], "writes": [], "libraries": [], "charts": []}
    reads: list[str] = []
    keys: list[str] = []
    writes: list[str] = []
    libraries: set[str] = set()
    charts: list[dict] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            libraries.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            libraries.add(node.module.split(".")[0])
        elif isinstance(node, ast.Constant) and str(node.value).startswith("/data/"):
            reads.append(str(node.value))
        elif isinstance(node, ast.Subscript):
            keys.extend(_string_keys(node.slice))
        elif isinstance(node, ast.Call):
            keys.extend(_column_arguments(node))
            _describe_call(node, writes=writes, charts=charts)
    return {
        "paths": _unique(reads),
        "subscripts": _unique(keys),
        "writes": _unique(writes),
        "libraries": sorted(libraries),
        "charts": sorted(charts, key=lambda c: c["line"]),
    }


def _describe_call(node: ast.Call, *, writes: list[str], charts: list[dict]) -> None:
    func = node.func
    if not isinstance(func, ast.Attribute):
        if isinstance(func, ast.Name) and func.id == "open" and len(node.args) > 1:
            mode = node.args[1]
            if isinstance(mode, ast.Constant) and any(f in str(mode.value) for f in "wax+"):
                writes.append(_literal_path(node.args[0]) or "(a path computed at run time)")
        return
    receiver = func.value.id if isinstance(func.value, ast.Name) else ""
    if func.attr in WRITE_METHODS | RECEIVER_WRITES:
        target = _write_target(node, func.value, func.attr)
        if target is not None:
            writes.append(_literal_path(target) or "(a path computed at run time)")
    if func.attr in CHART_METHODS or (receiver in CHART_MODULES and func.attr in FIGURE_CALLS):
        charts.append({"call": f"{receiver or '…'}.{func.attr}", "line": node.lineno})


def _string_keys(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.List | ast.Tuple):
        return [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return []


def _column_arguments(node: ast.Call) -> list[str]:
    """Column names passed to groupby/sort_values/dropna(subset=...)/pd.Grouper(key=...)."""
    keys: list[str] = []
    if isinstance(node.func, ast.Attribute) and node.func.attr in ("groupby", "sort_values", "value_counts"):
        keys.extend(k for arg in node.args[:1] for k in _string_keys(arg))
    for keyword in node.keywords:
        if keyword.arg in ("subset", "key", "by", "columns", "x", "y", "hue", "values", "index"):
            keys.extend(_string_keys(keyword.value))
    return keys


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _write_target(node: ast.Call, receiver: ast.AST, method: str) -> ast.AST | None:
    if method in RECEIVER_WRITES:
        return _path_of(receiver)
    for keyword in WRITE_KEYWORDS:
        value = next((k.value for k in node.keywords if k.arg == keyword), None)
        if value is not None:
            return value
    return node.args[0] if node.args else None


def _path_of(node: ast.AST | None) -> ast.AST | None:
    """The path argument of `Path("x")` / `pathlib.Path("x")`, else None."""
    if isinstance(node, ast.Call) and node.args:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in ("Path", "PurePath", "PosixPath"):
            return node.args[0]
    return None


def _literal_path(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    inner = _path_of(node)
    if inner is not None:
        return _literal_path(inner)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):  # Path("/output") / "x.csv"
        left, right = _literal_path(node.left), _literal_path(node.right)
        if left is not None and right is not None:
            return posixpath.join(left, right)
    if isinstance(node, ast.JoinedStr):  # f"/output/{name}.csv": the fixed prefix decides
        return fstring_prefix(node.values)
    return None
