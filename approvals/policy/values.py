"""What each expression of a script can be, as far as the AST shows: a module, one of a module's names, a
builtin, a path, a piece of text, or a value of a type the check cannot know (a DataFrame, a number).

The reading is flow- and scope-insensitive on purpose: a name is everything it is ever bound to anywhere in
the script (`f = open` in one function makes every `f` possibly `open`). That over-approximates, which is
the safe direction for a check that must not call unknown code "low".
"""

from __future__ import annotations

import ast
import posixpath
from dataclasses import dataclass

from . import paths
from .allowlist import AllowList
from .catalogue import (
    ATTRIBUTE_BUILTINS,
    BUILTIN_NAMES,
    CODE_BUILTINS,
    FILE_OPENERS,
    PATH_CLASSES,
    RISKY_BUILTINS,
    STANDARD_MODULE_NAMES,
)
from .rules import module_allowed


@dataclass(frozen=True)
class Module:
    name: str


@dataclass(frozen=True)
class Member:
    """A name taken from a module: `name` is where it is defined (`pandas.read_csv`); `kind` is class,
    function, value, or "unknown" when the module's names are not listed."""

    name: str
    kind: str


@dataclass(frozen=True)
class Builtin:
    name: str


@dataclass(frozen=True)
class PathValue:
    """`pathlib.Path(...)`; `path` is None when it is computed at run time."""

    path: str | None


@dataclass(frozen=True)
class Text:
    """A string the script builds; `value` when it is one literal, None when computed (`"sys" + "tem"`)."""

    value: str | None


@dataclass(frozen=True)
class Handle:
    """An open file or writer (`open(...)`, `pd.ExcelWriter(...)`), whose path was checked where it was
    opened, or an in-memory buffer: writing to it opens nothing new."""


@dataclass(frozen=True)
class Local:
    """A function, lambda or class the script defines itself (what it does is checked where it is written)."""


@dataclass(frozen=True)
class Opaque:
    """A value of a type the check cannot know: a DataFrame, a number, a parameter, a local function."""


@dataclass(frozen=True)
class Undefined:
    """A name the script never binds and Python does not provide."""


OPAQUE = Opaque()
UNDEFINED = Undefined()
HANDLE = Handle()
LOCAL = Local()
Value = Module | Member | Builtin | PathValue | Text | Handle | Local | Opaque | Undefined

TEXT_METHODS = frozenset(
    {"join", "format", "upper", "lower", "replace", "strip", "lstrip", "rstrip", "title", "capitalize",
     "casefold", "swapcase", "removeprefix", "removesuffix", "decode", "translate", "zfill", "center",
     "ljust", "rjust", "format_map", "expandtabs"}
)  # fmt: skip
PATH_TRANSFORMS = frozenset({"with_suffix", "with_name", "with_stem", "joinpath", "resolve", "absolute"})
MIN_ROUNDS = 20
RISKY_OR_CODE = RISKY_BUILTINS | CODE_BUILTINS
PATH_JOINS = frozenset({"os.path.join", "posixpath.join"})


class Env:
    """The values each name of the script can hold, and the value of any expression given them."""

    def __init__(self, *, tree: ast.AST, allowlist: AllowList, allowed: frozenset[str]):
        self.allowlist = allowlist
        self.allowed = allowed
        self.names: dict[str, set[Value]] = {}
        self.star_modules: list[str] = []
        self._solving = False
        self.unsettled = False
        self._solve(list(_bindings(tree, self)))

    def _solve(self, sites: list[tuple[str, object]]) -> None:
        # Bindings feed each other (`a = pd`, `b = a`): repeat until nothing new is learnt. Every bound name
        # starts with nothing, so a name read before its own binding is solved is not taken as undefined.
        self.names = {name: set() for name, _ in sites}
        self._solving = True
        # A chain of n bindings written in reverse order needs n rounds.
        for _ in range(max(MIN_ROUNDS, len(sites) + 2)):
            changed = False
            for name, source in sites:
                values = source(self) if callable(source) else {source}
                # `b = undefined_name`: b is bound; what it holds is merely unknown.
                values = {OPAQUE if isinstance(v, Undefined) else v for v in values}
                known = self.names.setdefault(name, set())
                if not values <= known:
                    known |= values
                    changed = True
            if not changed:
                break
        else:
            self.unsettled = True  # the checker says it could not follow the names to the end
        self._solving = False

    # --- reading expressions ---------------------------------------------------------------------

    def value(self, node: ast.AST | None) -> set[Value]:
        if node is None:
            return {OPAQUE}
        method = getattr(self, f"_value_{type(node).__name__}", None)
        return method(node) if method else {OPAQUE}

    def name(self, name: str) -> set[Value]:
        if name == "__builtins__":
            return {Module("builtins")}
        values = set(self.names.get(name, ()))
        if name in self.names and not values and not self._solving:
            values.add(OPAQUE)  # bound only to itself (`a = a`)
        for module in self.star_modules:
            if self.allowlist.member(module, name) is not None:
                values |= self.attribute(Module(module), name)
        # A builtin the script rebinds is still possibly the builtin (the use may come first), which
        # matters only for the risky ones.
        if name in BUILTIN_NAMES and (name not in self.names or name in RISKY_OR_CODE):
            values.add(Builtin(name))
        if name in self.names:
            return values
        return values or {UNDEFINED}

    def attribute(self, value: Value, attr: str) -> set[Value]:
        if isinstance(value, Module):
            return {self._module_attribute(value.name, attr)}
        if isinstance(value, PathValue) and attr == "parent":
            return {PathValue(None if value.path is None else paths.resolve(value.path).rstrip("/"))}
        return {OPAQUE}

    def _module_attribute(self, module: str, attr: str) -> Value:
        member = self.allowlist.member(module, attr)
        if member is not None:
            return Module(member.target) if member.kind == "module" else Member(member.target, member.kind)
        full = f"{module}.{attr}"
        # A listed submodule, or the allowed part of a module that is not (`os.path` of `import os.path`).
        if self.allowlist.knows(full) or (
            not module_allowed(module, self.allowed) and module_allowed(full, self.allowed)
        ):
            return Module(full)
        if attr in STANDARD_MODULE_NAMES:
            return Module(attr)  # `os.sys`: the module of that name, as far as anyone can tell
        return Member(full, "unknown")

    def text(self, node: ast.AST | None) -> str | None:
        """The one literal string this expression always is, else None."""
        values = self.value(node)
        if len(values) == 1:
            (only,) = values
            if isinstance(only, Text):
                return only.value
        return None

    def _value_Name(self, node: ast.Name) -> set[Value]:
        return self.name(node.id)

    def _value_Attribute(self, node: ast.Attribute) -> set[Value]:
        return {v for receiver in self.value(node.value) for v in self.attribute(receiver, node.attr)}

    def _value_Constant(self, node: ast.Constant) -> set[Value]:
        return {Text(node.value)} if isinstance(node.value, str) else {OPAQUE}

    def _value_JoinedStr(self, node: ast.JoinedStr) -> set[Value]:
        return {Text(None)}

    def _value_BinOp(self, node: ast.BinOp) -> set[Value]:
        left, right = self.value(node.left), self.value(node.right)
        if isinstance(node.op, ast.Div) and any(isinstance(v, PathValue) for v in left):
            right_text = self.text(node.right)
            return {PathValue(paths.join(v.path, right_text)) for v in left if isinstance(v, PathValue)}
        if any(isinstance(v, Text) for v in left | right):
            return {Text(None)}
        return {OPAQUE}

    def _value_Subscript(self, node: ast.Subscript) -> set[Value]:
        # "metsys"[::-1] is still text built by the script.
        return {Text(None)} if any(isinstance(v, Text) for v in self.value(node.value)) else {OPAQUE}

    def _value_Lambda(self, node: ast.Lambda) -> set[Value]:
        return {LOCAL}

    def _value_NamedExpr(self, node: ast.NamedExpr) -> set[Value]:
        return self.value(node.value)

    def _value_IfExp(self, node: ast.IfExp) -> set[Value]:
        return self.value(node.body) | self.value(node.orelse)

    def _value_BoolOp(self, node: ast.BoolOp) -> set[Value]:
        return {v for operand in node.values for v in self.value(operand)}

    def _value_Call(self, node: ast.Call) -> set[Value]:
        func = node.func
        if isinstance(func, ast.Attribute):
            receivers = self.value(func.value)
            if func.attr in TEXT_METHODS and any(isinstance(v, Text) for v in receivers):
                return {Text(None)}
            if func.attr in PATH_TRANSFORMS and any(isinstance(v, PathValue) for v in receivers):
                return {PathValue(None)}
        return {v for callee in self.value(func) for v in self._call(callee, node)}

    def _call(self, callee: Value, node: ast.Call) -> set[Value]:
        if isinstance(callee, Member) and callee.name in PATH_CLASSES:
            return {PathValue(self._path_argument(node))}
        if (isinstance(callee, Member) and callee.name in FILE_OPENERS) or callee == Builtin("open"):
            return {HANDLE}
        if isinstance(callee, Member) and callee.name in PATH_JOINS:
            parts = [self.text(arg) for arg in node.args]
            return {Text(None if None in parts or not parts else posixpath.join(*parts))}
        if isinstance(callee, Builtin) and callee.name in ("str", "chr", "repr", "format", "ascii"):
            return {Text(None)}
        if isinstance(callee, Builtin) and callee.name in ATTRIBUTE_BUILTINS - {"hasattr"} and node.args:
            name = self.text(node.args[1]) if len(node.args) > 1 else None
            if name is not None:
                return {v for target in self.value(node.args[0]) for v in self.attribute(target, name)}
        return {OPAQUE}

    def _path_argument(self, node: ast.Call) -> str | None:
        if not node.args:
            return "."
        parts = [self.text(arg) for arg in node.args]
        if any(part is None for part in parts):
            return None
        return "/".join(parts) if len(parts) > 1 else parts[0]


# --- where names are bound ----------------------------------------------------------------------------


def _bindings(tree: ast.AST, env: Env):
    """(name, value or a function of the env giving its values) for every binding in the script."""
    arguments = _arguments(tree)
    for parameter, passed in arguments.items():
        yield from _assigned(ast.Name(parameter.arg), passed)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                yield from _assigned(target, node.value)
        elif isinstance(node, ast.AnnAssign | ast.NamedExpr) and node.value is not None:
            yield from _assigned(node.target, node.value)
        elif isinstance(node, ast.AugAssign):
            yield from _assigned(node.target, None)
        elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
            yield from _assigned(node.target, _elements(node.iter))
        elif isinstance(node, ast.withitem) and isinstance(node.optional_vars, ast.Name):
            # `with open(...) as f`: a file's __enter__ returns the file itself.
            yield node.optional_vars.id, _entered(node.context_expr)
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            yield from _assigned(node.optional_vars, None)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            yield from _imported(node, env)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield node.name, OPAQUE if node.decorator_list else LOCAL
        elif isinstance(node, ast.arg) and node not in arguments:
            yield node.arg, OPAQUE
        elif isinstance(node, ast.ExceptHandler) and node.name:
            yield node.name, OPAQUE
        elif isinstance(node, ast.MatchAs | ast.MatchStar) and node.name:
            yield node.name, OPAQUE
        elif isinstance(node, ast.MatchMapping) and node.rest:
            yield node.rest, OPAQUE


def _entered(expression: ast.AST):
    return lambda env: {HANDLE if v == HANDLE else OPAQUE for v in env.value(expression)}


def _arguments(tree: ast.AST) -> dict[ast.arg, list[ast.AST] | None]:
    """The expressions passed to each parameter of the functions the script only ever calls by name.

    `def load(path): ...` called as `load("/data/x.csv")`: `path` is that literal, so the check can see
    what `pd.read_csv(path)` reads. A function used any other way (passed on, decorated, a method, called
    with *args) keeps parameters of unknown value (None).
    """
    calls: dict[str, list[ast.Call]] = {}
    other_uses: set[str] = set()
    definitions: dict[str, list[ast.FunctionDef]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            definitions.setdefault(node.name, []).append(node)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            calls.setdefault(node.func.id, []).append(node)
        if isinstance(node, ast.Name):
            other_uses.add(node.id)
    called = {id(call.func) for sites in calls.values() for call in sites}
    other_uses = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called}
    passed: dict[ast.arg, list[ast.AST] | None] = {}
    for name, defs in definitions.items():
        sites = calls.get(name, [])
        followable = len(defs) == 1 and not defs[0].decorator_list and sites and name not in other_uses
        for parameter, expressions in _parameters(defs[0], sites if followable else None).items():
            passed[parameter] = expressions
    return passed


def _parameters(function: ast.FunctionDef, sites: list[ast.Call] | None) -> dict:
    params = [*function.args.posonlyargs, *function.args.args]
    defaults = dict(zip(reversed(params), reversed(function.args.defaults), strict=False))
    for arg, default in zip(function.args.kwonlyargs, function.args.kw_defaults, strict=True):
        if default is not None:
            defaults[arg] = default
    every = [*params, *function.args.kwonlyargs]
    unknown = {p: None for p in every + [a for a in (function.args.vararg, function.args.kwarg) if a]}
    if sites is None or any(_unpacks(call) for call in sites):
        return unknown
    passed: dict[ast.arg, list[ast.AST] | None] = {p: [] for p in every}
    for call in sites:
        keywords = {k.arg: k.value for k in call.keywords}
        for i, parameter in enumerate(every):
            given = call.args[i] if i < len(call.args) and parameter in params else None
            given = given or keywords.get(parameter.arg) or defaults.get(parameter)
            if given is None:
                passed[parameter] = None
            elif passed[parameter] is not None:
                passed[parameter].append(given)
    return {**unknown, **passed}


def _unpacks(call: ast.Call) -> bool:
    return any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords)


def _elements(node: ast.AST) -> list[ast.AST] | None:
    """`for m in (os, sys)`: the loop variable is each element; for anything else, unknown."""
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [e for e in node.elts if not isinstance(e, ast.Starred)]
    return None


def _assigned(target: ast.AST, value):
    """Bindings of `target = value`; `value` is an expression, a list of possible expressions, or None."""
    if isinstance(target, ast.Name):
        if value is None:
            yield target.id, OPAQUE
        elif isinstance(value, list):
            for element in value:
                yield target.id, _reader(element)
        else:
            yield target.id, _reader(value)
    elif isinstance(target, ast.Tuple | ast.List):
        pairs = (
            isinstance(value, ast.Tuple | ast.List)
            and len(value.elts) == len(target.elts)
            and not any(isinstance(e, ast.Starred) for e in (*value.elts, *target.elts))
        )
        for i, element in enumerate(target.elts):
            yield from _assigned(element, value.elts[i] if pairs else None)
    elif isinstance(target, ast.Starred):
        yield from _assigned(target.value, None)


def _reader(expression: ast.AST):
    return lambda env: env.value(expression)


def _imported(node: ast.Import | ast.ImportFrom, env: Env):
    if isinstance(node, ast.Import):
        for alias in node.names:
            # `import a.b` binds `a`; `import a.b as c` binds `c` to a.b.
            module = alias.name if alias.asname else alias.name.split(".")[0]
            yield alias.asname or module, Module(module)
        return
    module = "." * node.level + (node.module or "")
    for alias in node.names:
        if alias.name == "*":
            env.star_modules.append(module)
            continue
        yield alias.asname or alias.name, (lambda e, m=module, n=alias.name: e.attribute(Module(m), n))
