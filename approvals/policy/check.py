"""The policy check: every name, attribute and call of a script against the allow-list, by walking its AST.

Code rates low only when everything it uses is known: imports from the allowed modules, attributes of those
modules that the sandbox runtime lists (allowlist.json), safe builtins, and attributes of values whose type
the AST cannot know (a DataFrame) unless their name is a dunder, a module, or a known dangerous method.
Anything else is at least medium ("not understood"), and the ways out of that model — a module reached
through another module, attribute names computed at run time, renamed builtins, pickles, strings evaluated
as code, the network and files outside /data and /output — are high or block the request.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterator

from . import catalogue as cat
from .allowlist import AllowList, load
from .calls import CallChecks
from .rules import Finding, PolicyConfig, PolicyResult, module_allowed
from .strings import string_findings
from .values import Builtin, Env, Member, Module, Undefined

SHELL_ESCAPE = re.compile(r"^\s*[!%]")


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
        raw.extend(_Checker(config=config, allowlist=load()).run(tree))
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


@functools.cache
def _module_valued_names(listed: AllowList) -> frozenset[str]:
    """Names that some listed module gives to a dangerous module (`np.ctypeslib`, `enum.bltns`)."""
    return frozenset(
        name
        for module in listed.modules
        for name, entry in listed.names(module).items()
        if entry.startswith("module ")
        and (cat.module_rule(entry[7:]) or entry[7:].split(".")[0] in cat.OPAQUE_MODULE_NAMES)
        and name not in cat.DATA_ATTRIBUTE_NAMES
    )


class _Checker(CallChecks, ast.NodeVisitor):
    def __init__(self, *, config: PolicyConfig, allowlist: AllowList):
        self.allowed = config.allowed_modules
        self.listed = allowlist
        self.found: list[tuple[str, int, str]] = []
        self.parents: dict[ast.AST, ast.AST] = {}
        self.undefined_seen: set[str] = set()
        self.line: int | None = None  # inside a pandas expression string: the line of its call
        self.columns: bool = False  # inside a pandas expression string: unknown names are columns

    def run(self, tree: ast.AST) -> list[tuple[str, int, str]]:
        self._link(tree)
        self.env = Env(tree=tree, allowlist=self.listed, allowed=self.allowed)
        if self.env.unsettled:
            self.add(
                "not-understood",
                tree,
                "Not understood: the names of this code refer to each other in "
                "more steps than the check follows.",
            )
        self.visit(tree)
        return self.found

    def _link(self, tree: ast.AST) -> None:
        for parent in ast.walk(tree):
            for child in ast.iter_child_nodes(parent):
                self.parents[child] = parent

    def add(self, rule: str, node: ast.AST, message: str) -> None:
        self.found.append((rule, self.line or getattr(node, "lineno", 1), message))

    # --- imports ----------------------------------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_import(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = "." * node.level + (node.module or "")
        if cat.module_rule(module) or not module_allowed(module, self.allowed):
            if not all(module_allowed(f"{module}.{a.name}", self.allowed) for a in node.names):
                self._check_import(node, module)
            for alias in node.names:  # `from os import popen`: the name says what it does
                self._anywhere(alias.name, node, f"{module}.{alias.name}")
            return
        for alias in node.names:
            shown = f"{module}.{alias.name}"
            if alias.name == "*":
                self._star_import(node, module)
            elif cat.module_rule(shown):
                self._check_import(node, shown)
            else:
                self._module_attribute(module, alias.name, node, shown)

    def _check_import(self, node: ast.AST, module: str) -> None:
        rule = cat.module_rule(module)
        if rule:
            self.add(rule, node, f"Imports {module}.")
        elif not module_allowed(module, self.allowed):
            self.add("import-not-allowed", node, f"Imports {module}, which is not on the allow-list.")

    def _star_import(self, node: ast.AST, module: str) -> None:
        if not self.listed.knows(module):
            self.add(
                "not-understood",
                node,
                f"Not understood: `from {module} import *` brings in names the check has no list of.",
            )

    # --- names ------------------------------------------------------------------------------------

    def visit_Name(self, node: ast.Name) -> None:
        if not isinstance(node.ctx, ast.Load):
            return
        if cat.is_dunder(node.id) and node.id not in cat.SAFE_DUNDER_NAMES:
            self.add("dunder-access", node, f"Uses {node.id}.")
            return
        if node.id == "get_ipython":
            self.add("shell-escape", node, "Calls get_ipython(), which can run shell commands.")
            return
        values = self.env.name(node.id)
        self._star_module(node)
        for value in values:
            if isinstance(value, Undefined):
                self._undefined(node)
            elif isinstance(value, Builtin):
                self._builtin_reference(node, value.name)
        self._check_escape(node, values)

    def _star_module(self, node: ast.Name) -> None:
        """`from pathlib import *` then `os`: a module reached through another module by a star import."""
        if node.id in self.env.names:
            return
        for module in self.env.star_modules:
            member = self.listed.member(module, node.id)
            if member is not None and member.kind == "module":
                self._reached_module(member.target, node, f"{node.id} (from {module} import *)")

    def _undefined(self, node: ast.Name) -> None:
        if self.columns or node.id in self.undefined_seen:
            return
        self.undefined_seen.add(node.id)
        self.add(
            "not-understood",
            node,
            f"Not understood: the code uses `{node.id}` but never defines it, so the check cannot say what "
            "it is.",
        )

    def _builtin_reference(self, node: ast.Name, name: str) -> None:
        called = self._is_called(node)
        if name in cat.CODE_BUILTINS:
            if not called:
                self.add(
                    "dynamic-code",
                    node,
                    f"Uses {name} as a value: whatever calls it runs or exposes code built at run time.",
                )
        elif name in cat.RISKY_BUILTINS:
            if not called:
                self.add(
                    "builtin-alias",
                    node,
                    f"Uses the builtin {name} as a value (renamed, stored or passed on): the code could "
                    f"call {name} under another name, where the check no longer sees it.",
                )
        elif name not in cat.SAFE_BUILTINS and name not in cat.SAFE_DUNDER_NAMES:
            self.add(
                "not-understood", node, f"Not understood: uses the builtin {name}, not on the allow-list."
            )

    def _is_called(self, node: ast.AST) -> bool:
        parent = self.parents.get(node)
        return isinstance(parent, ast.Call) and parent.func is node

    def _check_escape(self, node: ast.AST, values: set) -> None:
        """A module used other than by its attributes (an argument, in a list, returned) escapes the check."""
        modules = sorted(v.name for v in values if isinstance(v, Module))
        if not modules or self._binds_or_reads(node):
            return
        self.add(
            "module-via-module",
            node,
            f"Passes the module {modules[0]} around as a value ({self._source(node)} in "
            f"`{self._source(self._context(node))[:60]}`): the check cannot follow what is done with it.",
        )

    def _binds_or_reads(self, node: ast.AST) -> bool:
        context = self._context(node)
        child = self._child_of(context, node)
        if isinstance(context, ast.Attribute):
            return True
        if isinstance(context, ast.Assign):
            return all(isinstance(t, ast.Name) for t in context.targets)
        if isinstance(context, ast.AnnAssign | ast.NamedExpr):
            return isinstance(context.target, ast.Name)
        if isinstance(context, ast.Expr):
            return True
        # getattr(np, "random"): the attribute-lookup rules decide.
        return (
            isinstance(context, ast.Call)
            and bool(context.args)
            and context.args[0] is child
            and isinstance(context.func, ast.Name)
            and context.func.id in cat.ATTRIBUTE_BUILTINS
        )

    def _context(self, node: ast.AST) -> ast.AST:
        """The nearest parent that is not just a choice between values (`a or b`, `a if c else b`)."""
        parent = self.parents.get(node, node)
        while isinstance(parent, ast.IfExp | ast.BoolOp) and parent in self.parents:
            parent = self.parents[parent]
        return parent

    def _child_of(self, ancestor: ast.AST, node: ast.AST) -> ast.AST:
        while self.parents.get(node) is not ancestor and node in self.parents:
            node = self.parents[node]
        return node

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            for rule, message in string_findings(node.value):
                self.add(rule, node, message)

    # --- attributes -------------------------------------------------------------------------------

    def visit_Attribute(self, node: ast.Attribute) -> None:
        shown = self._source(node)
        for receiver in self.env.value(node.value):
            if isinstance(receiver, Module):
                self._module_attribute(receiver.name, node.attr, node, shown)
                if not isinstance(node.ctx, ast.Load):
                    self.add(
                        "not-understood",
                        node,
                        f"Not understood: changes {shown}, a name inside the library itself, which changes "
                        "what the library does in ways the check cannot follow.",
                    )
            else:
                self._value_attribute(node.attr, node, shown)
        if isinstance(node.ctx, ast.Store) and node.attr == "backend":
            self._backend_store(node)
        if isinstance(node.ctx, ast.Load):
            self._check_escape(node, self.env.value(node))
            self._method_reference(node)
        self.generic_visit(node)

    def _backend_store(self, node: ast.Attribute) -> None:
        """`pd.options.plotting.backend = name`: pandas imports that module by its name."""
        assign = self.parents.get(node)
        value = assign.value if isinstance(assign, ast.Assign | ast.AnnAssign) else None
        if value is None or self.env.text(value) != "matplotlib":
            self.add(
                "dynamic-code",
                node,
                f"Sets {self._source(node)[:60]}, a module that pandas imports by its name: this imports a "
                "module named by a string.",
            )

    def _method_reference(self, node: ast.Attribute) -> None:
        """`w = df.to_csv`, `map(pd.read_csv, paths)`: a file or expression method handed on uncalled,
        so the check never sees the path or the string it is given."""
        if self._is_called(node):
            return
        name, shown = node.attr, self._source(node)
        if name in cat.WRITE_METHODS or name in cat.STRING_EVALUATORS:
            self.add(
                "builtin-alias",
                node,
                f"Uses {shown[:60]} as a value (renamed, stored or passed on): it writes files or evaluates "
                "strings, and called elsewhere its arguments are out of the check's sight.",
            )
        elif name.startswith("read_") or self._is_file_function(node):
            self.add(
                "dynamic-path",
                node,
                f"{shown[:60]} is passed on uncalled: it reads a path the check cannot see.",
            )

    def _is_file_function(self, node: ast.Attribute) -> bool:
        values = self.env.value(node)
        return any(isinstance(v, Member) and v.name in cat.FILE_FUNCTIONS for v in values)

    def _anywhere(self, attr: str, node: ast.AST, shown: str) -> bool:
        """Attributes that are what they are whatever they are read from; True when one was found."""
        if cat.is_dunder(attr) and attr not in cat.SAFE_DUNDERS:
            self.add("dunder-access", node, f"Reaches the internal attribute .{attr} ({shown[:60]}).")
            return True
        if attr in cat.DANGEROUS_ATTRIBUTES:
            rule, what = cat.DANGEROUS_ATTRIBUTES[attr]
            self.add(rule, node, f"{shown[:60]} {what}.")
            return True
        return False

    def _value_attribute(self, attr: str, node: ast.AST, shown: str) -> None:
        """An attribute of a value whose type the AST cannot know: allowed unless its name says otherwise."""
        if self._anywhere(attr, node, shown):
            return
        if attr in cat.OPAQUE_MODULE_NAMES or attr in _module_valued_names(self.listed):
            self.add(
                cat.module_rule(attr) or "module-via-module",
                node,
                f"{shown[:60]} reaches something named {attr}, which is a module with access to the system; "
                "the check cannot tell what the value is, so it cannot rule that out.",
            )
        elif attr.startswith("_") and not cat.is_dunder(attr) and attr not in cat.SAFE_PRIVATE:
            self.add(
                "not-understood",
                node,
                f"Not understood: {shown[:60]} uses the private attribute {attr}, not on the allow-list.",
            )

    def _module_attribute(self, module: str, attr: str, node: ast.AST, shown: str) -> None:
        if self._anywhere(attr, node, shown):
            return
        if f"{module}.{attr}" in cat.SYSTEM_FUNCTIONS:
            rule, what = cat.SYSTEM_FUNCTIONS[f"{module}.{attr}"]
            self.add(rule, node, f"{shown} {what}.")
            return
        member = self.listed.member(module, attr)
        if member is not None and member.kind == "module":
            self._reached_module(member.target, node, shown)
        elif member is not None:
            if member.foreign:
                self._foreign_member(member.target, node, shown)
        else:
            self._unlisted_attribute(module, attr, node, shown)

    def _reached_module(self, target: str, node: ast.AST, shown: str) -> None:
        rule = cat.module_rule(target)
        if rule:
            self.add(rule, node, f"{shown} reaches the module {target} through another module.")
        elif not (self.listed.knows(target) and module_allowed(target, self.allowed)):
            self.add(
                "module-via-module",
                node,
                f"{shown} is the module {target}, reached through another module: through it the code can "
                f"use all of {target} without importing it, and the check does not follow it there.",
            )

    def _foreign_member(self, target: str, node: ast.AST, shown: str) -> None:
        origin = target.rsplit(".", 1)[0]
        rule = cat.module_rule(origin)
        if rule or origin.split(".")[0] in cat.SYSTEM_MODULE_NAMES:
            self.add(
                rule or "module-via-module",
                node,
                f"{shown} is {target}, taken from {origin} through another module.",
            )

    def _unlisted_attribute(self, module: str, attr: str, node: ast.AST, shown: str) -> None:
        full = f"{module}.{attr}"
        if self.listed.knows(full) or (
            not module_allowed(module, self.allowed) and module_allowed(full, self.allowed)
        ):
            return  # `os.path` of `import os.path`, or a listed submodule
        if attr in cat.STANDARD_MODULE_NAMES or attr in cat.SYSTEM_MODULE_NAMES:
            self.add(
                "module-via-module",
                node,
                f"{shown} is not a listed name of {module} and is named like the module {attr}: a module "
                "reached through another module, which the check does not follow.",
            )
        elif not module_allowed(module, self.allowed):
            self.add("import-not-allowed", node, f"Uses {shown}, but {module} is not on the allow-list.")
        elif self.listed.knows(module):
            self.add(
                "not-understood",
                node,
                f"Not understood: {shown} is not among the names of {module} on the allow-list.",
            )
        else:
            self.add(
                "not-understood",
                node,
                f"Not understood: the allow-list has no names for {module}, so the check cannot say what "
                f"{shown} does.",
            )

    def _source(self, node: ast.AST) -> str:
        try:
            return ast.unparse(node)
        except Exception:  # a node the unparser does not handle: say what it is instead
            return type(node).__name__
