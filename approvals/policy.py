"""The static policy check: what a script imports, calls, reads and writes, found by walking its AST.

Pure functions of the code and a `PolicyConfig` (no database here; `selectors.policy_config` builds the
config from the admin-editable `PolicyRule` rows). A check never runs the code. It cannot prove a script
safe — the sandbox does the containing — but it stops the obvious escapes before a reviewer spends time on
them and tells the reviewer where to look.
"""

from __future__ import annotations

import ast
import functools
import posixpath
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

# --- rules and their defaults ---------------------------------------------------------------------

LOW, MEDIUM, HIGH, CRITICAL = "low", "medium", "high", "critical"
SEVERITY_ORDER = (LOW, MEDIUM, HIGH, CRITICAL)

DEFAULT_ALLOWED_MODULES = (
    "pandas", "numpy", "matplotlib", "seaborn", "scipy", "openpyxl", "pyarrow",
    "math", "statistics", "datetime", "decimal", "fractions", "random", "re", "json", "csv",
    "collections", "itertools", "functools", "operator", "string", "textwrap", "calendar", "zoneinfo",
    "typing", "dataclasses", "enum", "warnings", "pprint", "io", "pathlib", "os.path",
)  # fmt: skip


@dataclass(frozen=True)
class Rule:
    code: str
    severity: str
    description: str


RULES = (
    Rule("syntax-error", CRITICAL, "The code does not parse as Python, so it cannot be checked."),
    Rule("import-not-allowed", HIGH, "Imports a module outside the allow-list."),
    Rule("dynamic-code", CRITICAL, "Runs code built at run time: eval, exec, compile, importlib."),
    Rule("dunder-access", CRITICAL, "Reaches interpreter internals through dunder names or builtins."),
    Rule("os-command", CRITICAL, "Starts processes or shell commands: os.system, subprocess, os.exec*."),
    Rule("shell-escape", CRITICAL, "Notebook shell escapes or pip: !cmd, %magic, get_ipython, pip."),
    Rule("network", CRITICAL, "Uses the network: socket, urllib, requests, http, or reads a URL."),
    Rule("native-code", CRITICAL, "Loads native code: ctypes, cffi."),
    Rule("file-delete", CRITICAL, "Deletes files or directories."),
    Rule("write-outside-output", CRITICAL, "Writes a file outside /output."),
    Rule("read-outside-data", CRITICAL, "Reads a file outside /data (and its own /output and scratch)."),
    Rule("dynamic-path", MEDIUM, "Reads or writes a path computed at run time, which the check cannot see."),
)
RULES_BY_CODE = {rule.code: rule for rule in RULES}


@dataclass(frozen=True)
class PolicyConfig:
    allowed_modules: frozenset[str] = frozenset(DEFAULT_ALLOWED_MODULES)
    # rule code -> severity; a rule missing here is disabled.
    severities: dict[str, str] = field(default_factory=lambda: {r.code: r.severity for r in RULES})


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    line: int
    message: str

    def as_dict(self) -> dict:
        return {"rule": self.rule, "severity": self.severity, "line": self.line, "message": self.message}


@dataclass(frozen=True)
class PolicyResult:
    findings: list[Finding]

    @property
    def blocked(self) -> bool:
        return any(f.severity == CRITICAL for f in self.findings)

    @property
    def risk_level(self) -> str:
        """low, medium or high: the worst non-critical finding (critical ones block instead)."""
        worst = max((SEVERITY_ORDER.index(f.severity) for f in self.findings), default=0)
        return SEVERITY_ORDER[min(worst, SEVERITY_ORDER.index(HIGH))]

    @property
    def reason(self) -> str:
        critical = [f for f in self.findings if f.severity == CRITICAL]
        return "; ".join(f"line {f.line}: {f.message}" for f in critical)


# --- what counts as what --------------------------------------------------------------------------

MODULE_RULES = {
    "subprocess": "os-command", "pty": "os-command", "pexpect": "os-command", "sh": "os-command",
    "socket": "network", "ssl": "network", "urllib": "network", "urllib3": "network",
    "requests": "network", "http": "network", "httpx": "network", "aiohttp": "network",
    "ftplib": "network", "smtplib": "network", "poplib": "network", "imaplib": "network",
    "telnetlib": "network", "xmlrpc": "network", "websocket": "network", "websockets": "network",
    "ctypes": "native-code", "_ctypes": "native-code", "cffi": "native-code",
    "importlib": "dynamic-code", "builtins": "dynamic-code", "runpy": "dynamic-code",
    "code": "dynamic-code", "codeop": "dynamic-code", "imp": "dynamic-code",
    "pip": "shell-escape", "IPython": "shell-escape",
}  # fmt: skip
DYNAMIC_CALLS = {"eval", "exec", "compile", "__import__", "globals", "locals", "vars", "breakpoint"}
ATTRIBUTE_CALLS = {"getattr", "setattr", "delattr", "hasattr"}
SAFE_DUNDERS = {"__name__", "__doc__", "__version__", "__file__", "__init__", "__main__", "__all__"}
OS_COMMANDS = {"system", "popen", "fork", "forkpty", "kill", "killpg", "startfile", "setuid", "setgid"}
OS_COMMAND_PREFIXES = ("exec", "spawn", "posix_spawn")
DELETE_CALLS = {
    ("os", "remove"), ("os", "unlink"), ("os", "rmdir"), ("os", "removedirs"), ("os", "truncate"),
    ("shutil", "rmtree"), ("shutil", "move"),
}  # fmt: skip
DELETE_METHODS = {"unlink", "rmdir"}
WRITE_METHODS = {
    "to_csv", "to_excel", "to_parquet", "to_json", "to_pickle", "to_feather", "to_hdf", "to_stata",
    "to_orc", "savefig", "write_text", "write_bytes", "touch", "mkdir", "save", "savetxt", "savez",
    "savez_compressed", "tofile",
}  # fmt: skip
NUMPY_READS = {"numpy.load", "numpy.loadtxt", "numpy.genfromtxt", "numpy.fromfile"}
READ_ROOTS = ("/data/", "/output/", "/tmp/")
WRITE_ROOTS = ("/output/",)
SCRATCH = "/tmp"  # the sandbox's working directory: relative paths land here
URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
SHELL_ESCAPE = re.compile(r"^\s*[!%]")
CHART_MODULES = {"plt", "sns", "matplotlib", "seaborn", "pyplot"}
CHART_METHODS = {
    "plot", "bar", "barh", "hist", "scatter", "pie", "boxplot", "violinplot", "imshow", "heatmap",
    "lineplot", "barplot", "histplot", "scatterplot", "countplot", "pairplot", "kdeplot",
    "stackplot", "area", "fill_between", "errorbar", "step", "stem", "hexbin", "contour", "contourf",
}  # fmt: skip
FIGURE_CALLS = {"figure", "subplots", "subplot_mosaic"}


# --- the check ------------------------------------------------------------------------------------


def policy_check(*, code: str, config: PolicyConfig | None = None) -> PolicyResult:
    """All findings of the enabled rules, each with the rule's configured severity, sorted by line."""
    config = config or PolicyConfig()
    raw = list(_shell_escapes(code))
    # Blank the escape lines (keeping line numbers) so the rest of the script is still checked.
    escapes = {line for _, line, _ in raw}
    lines = code.splitlines()
    python = "\n".join("" if n in escapes else text for n, text in enumerate(lines, start=1))
    try:
        tree = ast.parse(python)
    except SyntaxError as exc:
        raw.append(("syntax-error", exc.lineno or 1, f"Not valid Python: {exc.msg}."))
    else:
        raw.extend(_Walker(config=config).run(tree))
    findings = [
        Finding(rule=rule, severity=config.severities[rule], line=line, message=message)
        for rule, line, message in raw
        if rule in config.severities
    ]
    unique = {(f.rule, f.line, f.message): f for f in findings}
    return PolicyResult(findings=sorted(unique.values(), key=lambda f: (f.line, f.rule)))


def _shell_escapes(code: str) -> Iterator[tuple[str, int, str]]:
    # A Jupyter kernel (E2B) runs `!pip install x` and `%sx cmd`; plain Python would not even parse them.
    for number, text in enumerate(code.splitlines(), start=1):
        if SHELL_ESCAPE.match(text):
            yield ("shell-escape", number, f"Notebook shell escape or magic: {text.strip()[:60]}")


def module_allowed(name: str, allowed: frozenset[str]) -> bool:
    parts = name.split(".")
    return any(".".join(parts[:i]) in allowed for i in range(1, len(parts) + 1))


class _Walker(ast.NodeVisitor):
    def __init__(self, *, config: PolicyConfig):
        self.config = config
        self.found: list[tuple[str, int, str]] = []
        self.aliases: dict[str, str] = {}  # local name -> module it stands for
        self.constants: dict[str, str] = {}  # names bound once to a string: `path = "/data/x.csv"`

    def run(self, tree: ast.AST) -> list[tuple[str, int, str]]:
        self.constants = _string_constants(tree)
        self.visit(tree)
        return self.found

    def add(self, rule: str, node: ast.AST, message: str) -> None:
        self.found.append((rule, getattr(node, "lineno", 1), message))

    # imports

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.aliases[alias.asname or alias.name.split(".")[0]] = (
                alias.name if alias.asname else alias.name.split(".")[0]
            )
            self._check_module(node, alias.name)
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = "." * node.level + (node.module or "")
        self._check_module(node, module)
        for alias in node.names:
            self.aliases[alias.asname or alias.name] = f"{module}.{alias.name}"
            if module == "os" and _is_os_command(alias.name):
                self.add("os-command", node, f"Imports os.{alias.name}, which starts processes.")
        self.generic_visit(node)

    def _check_module(self, node: ast.AST, module: str) -> None:
        top = module.split(".")[0]
        if top in MODULE_RULES:
            self.add(MODULE_RULES[top], node, f"Imports {module}.")
        elif not module_allowed(module, self.config.allowed_modules):
            self.add("import-not-allowed", node, f"Imports {module}, which is not on the allow-list.")

    # names and attributes

    def visit_Name(self, node: ast.Name) -> None:
        if _is_dunder(node.id) and node.id not in SAFE_DUNDERS:
            self.add("dunder-access", node, f"Uses {node.id}.")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if _is_dunder(node.attr) and node.attr not in SAFE_DUNDERS:
            self.add("dunder-access", node, f"Reaches the internal attribute .{node.attr}.")
        self.generic_visit(node)

    # calls

    def visit_Call(self, node: ast.Call) -> None:
        name = self._dotted(node.func)
        last = node.func.attr if isinstance(node.func, ast.Attribute) else name
        if name in DYNAMIC_CALLS:
            self.add("dynamic-code", node, f"Calls {name}(), which runs or exposes code built at run time.")
        elif name in ATTRIBUTE_CALLS:
            self._check_attribute_call(node, name)
        elif name == "get_ipython" or last == "get_ipython":
            self.add("shell-escape", node, "Calls get_ipython(), which can run shell commands.")
        self._check_module_call(node, name)
        self._check_files(node, name, last)
        self.generic_visit(node)

    def _check_attribute_call(self, node: ast.Call, name: str) -> None:
        target = self._dotted(node.args[0]) if node.args else ""
        attr = node.args[1] if len(node.args) > 1 else None
        if target in ("builtins", "__builtins__"):
            self.add("dunder-access", node, f"Calls {name}() on the builtins.")
        elif isinstance(attr, ast.Constant) and isinstance(attr.value, str) and _is_dunder(attr.value):
            self.add("dunder-access", node, f"Calls {name}() for the internal attribute {attr.value}.")

    def _check_module_call(self, node: ast.Call, name: str) -> None:
        module, _, function = name.rpartition(".")
        if module == "os" and _is_os_command(function):
            self.add("os-command", node, f"Calls {name}(), which starts a process.")
        elif module == "importlib" or name == "importlib.import_module":
            self.add("dynamic-code", node, f"Calls {name}().")
        elif module in ("pip", "pip._internal"):
            self.add("shell-escape", node, f"Calls {name}().")
        if (module, function) in DELETE_CALLS:
            self.add("file-delete", node, f"Calls {name}(), which deletes files.")

    def _check_files(self, node: ast.Call, name: str, last: str) -> None:
        receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
        if isinstance(node.func, ast.Attribute) and last in DELETE_METHODS and not node.args:
            self.add("file-delete", node, f"Calls .{last}(), which deletes a file or directory.")
        if name in ("open", "io.open") or (last == "open" and _path_of(receiver) is not None):
            self._check_open(node, receiver)
        elif last in WRITE_METHODS and isinstance(node.func, ast.Attribute):
            self._check_path(node, _write_target(node, receiver, last), write=True, what=f".{last}()")
        elif last in ("read_text", "read_bytes"):
            self._check_path(node, _path_of(receiver), write=False, what=f".{last}()")
        elif last.startswith("read_") or name in NUMPY_READS:
            self._check_path(node, _first_arg(node), write=False, what=f"{last}()")

    def _check_open(self, node: ast.Call, receiver: ast.AST | None) -> None:
        if receiver is not None:  # Path("...").open(mode)
            target, mode = _path_of(receiver), _first_arg(node) or _keyword(node, "mode")
        else:
            target = _first_arg(node) or _keyword(node, "file")
            mode = node.args[1] if len(node.args) > 1 else _keyword(node, "mode")
        mode_text = mode.value if isinstance(mode, ast.Constant) and isinstance(mode.value, str) else "r"
        if mode is not None and not isinstance(mode, ast.Constant):
            mode_text = "w"  # an unknown mode may write
        write = any(flag in mode_text for flag in "wax+")
        self._check_path(node, target, write=write, what="open()")

    def _check_path(self, node: ast.Call, target: ast.AST | None, *, write: bool, what: str) -> None:
        if target is None:
            return  # e.g. df.to_csv() without a path returns text and writes nothing
        path = _literal_path(target, self.constants)
        if path is None:
            verb = "writes" if write else "reads"
            self.add("dynamic-path", node, f"{what} {verb} a path computed at run time.")
            return
        if URL.match(path):
            self.add("network", node, f"{what} fetches {path[:80]} over the network.")
            return
        resolved = posixpath.normpath(posixpath.join(SCRATCH, path)) + "/"
        if write and not resolved.startswith(WRITE_ROOTS):
            self.add("write-outside-output", node, f"{what} writes {path}, outside /output.")
        elif not write and not resolved.startswith(READ_ROOTS):
            self.add("read-outside-data", node, f"{what} reads {path}, outside /data.")

    def _dotted(self, node: ast.AST | None) -> str:
        """`pd.read_csv` -> "pandas.read_csv" through import aliases; "" for anything not a plain name."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return ""
        parts.append(self.aliases.get(node.id, node.id))
        return ".".join(reversed(parts))


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def _is_os_command(name: str) -> bool:
    return name in OS_COMMANDS or name.startswith(OS_COMMAND_PREFIXES)


def _first_arg(node: ast.Call) -> ast.AST | None:
    return node.args[0] if node.args else None


def _keyword(node: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in node.keywords if k.arg == name), None)


def _write_target(node: ast.Call, receiver: ast.AST | None, method: str) -> ast.AST | None:
    if method in ("write_text", "write_bytes", "touch", "mkdir"):
        return receiver  # Path(...).write_text(data): the path is the receiver
    for keyword in ("path_or_buf", "excel_writer", "path", "fname", "file"):
        if (value := _keyword(node, keyword)) is not None:
            return value
    return _first_arg(node)


def _path_of(node: ast.AST | None) -> ast.AST | None:
    """The path argument of `Path("x")` / `pathlib.Path("x")`, else None."""
    if isinstance(node, ast.Call) and node.args:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in ("Path", "PurePath", "PosixPath"):
            return node.args[0]
    return None


def _string_constants(tree: ast.AST) -> dict[str, str]:
    """Names bound exactly once, to a string literal: their uses are as good as the literal."""
    bindings = Counter(
        node.id if isinstance(node, ast.Name) else node.arg
        for node in ast.walk(tree)
        if (isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load)) or isinstance(node, ast.arg)
    )
    constants = {
        node.targets[0].id: node.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }
    return {name: value for name, value in constants.items() if bindings[name] == 1}


def _literal_path(node: ast.AST, constants: dict[str, str] | None = None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name) and constants:
        return constants.get(node.id)
    inner = _path_of(node)
    if inner is not None:
        return _literal_path(inner, constants)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):  # Path("/output") / "x.csv"
        left, right = _literal_path(node.left, constants), _literal_path(node.right, constants)
        if left is not None and right is not None:
            return posixpath.join(left, right)
    if isinstance(node, ast.JoinedStr):  # f"/output/{name}.csv": the fixed prefix decides
        head = node.values[0] if node.values else None
        if isinstance(head, ast.Constant) and isinstance(head.value, str) and "/" in head.value[1:]:
            return head.value.rsplit("/", 1)[0] + "/x"
    return None


# --- the approval card's view of the code --------------------------------------------------------


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
    if func.attr in WRITE_METHODS - {"mkdir"}:
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
