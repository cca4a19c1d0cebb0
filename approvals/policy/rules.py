"""The rules of the policy check, their default severities, and what a check answers."""

from __future__ import annotations

from dataclasses import dataclass, field

LOW, MEDIUM, HIGH, CRITICAL = "low", "medium", "high", "critical"
SEVERITY_ORDER = (LOW, MEDIUM, HIGH, CRITICAL)

# What `import` may name, one module per line in the admin ("os.path" allows only that submodule). The
# names each module offers are a separate list, generated from the sandbox runtime (allowlist.py).
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
    # The lowest severity an admin may give the rule, and whether they may switch it off: the rules that
    # say "the check could not follow this" keep the check failing closed whatever the settings say.
    floor: str | None = None


RULES = (
    Rule("syntax-error", CRITICAL, "The code does not parse as Python, so it cannot be checked."),
    Rule("import-not-allowed", HIGH, "Imports or uses a module outside the allow-list."),
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
    Rule(
        "not-understood",
        MEDIUM,
        "Uses a name or attribute that is not on the allow-list, so the check cannot say what it does.",
        floor=MEDIUM,
    ),
    Rule(
        "module-via-module",
        HIGH,
        "Reaches a module through another module (pathlib.os, np.ctypeslib) or passes a module around.",
        floor=HIGH,
    ),
    Rule(
        "dynamic-attribute",
        HIGH,
        "Looks up attributes by a name the check cannot see: getattr, setattr, delattr, attrgetter.",
        floor=HIGH,
    ),
    Rule(
        "builtin-alias",
        HIGH,
        "Uses open, getattr, a file writer or an evaluator (df.to_csv, df.query) as a value: an alias, an "
        "argument, a default, where the check no longer sees what it is given.",
        floor=HIGH,
    ),
    Rule(
        "deserialise",
        CRITICAL,
        "Loads pickled data, which runs code: read_pickle, pickle, joblib, dill, shelve, allow_pickle.",
        floor=HIGH,
    ),
    Rule(
        "dynamic-query",
        HIGH,
        "Evaluates a string built at run time as an expression: pd.eval, DataFrame.eval, DataFrame.query.",
        floor=HIGH,
    ),
)
RULES_BY_CODE = {rule.code: rule for rule in RULES}

# Findings that say the check could not follow what the code does (as opposed to knowing it is bad); the
# approval card lists them apart, so the reviewer knows which lines to read themselves.
NOT_UNDERSTOOD_RULES = frozenset(
    {
        "syntax-error", "not-understood", "import-not-allowed", "module-via-module", "dynamic-attribute",
        "builtin-alias", "dynamic-query", "dynamic-path",
    }
)  # fmt: skip


def at_least(severity: str, floor: str | None) -> str:
    if floor is None:
        return severity
    return max(severity, floor, key=SEVERITY_ORDER.index)


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


def module_allowed(name: str, allowed: frozenset[str]) -> bool:
    """`pandas` allows `pandas.io`; `os.path` allows `os.path` but not `os`."""
    parts = name.split(".")
    return any(".".join(parts[:i]) in allowed for i in range(1, len(parts) + 1))
