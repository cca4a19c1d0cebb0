"""The checks on calls: builtins, functions of the allowed modules, methods of values of unknown type, the
files they open and the strings pandas evaluates. A mixin of the checker in check.py, whose `add`, `env`,
`_value_attribute`, `_module_attribute`, `_source` and `_link` it uses."""

from __future__ import annotations

import ast
import re

from . import catalogue as cat
from . import paths
from .values import HANDLE, Builtin, Env, Member, Module, Opaque, PathValue, Text

PATH_KEYWORDS = tuple(dict.fromkeys((*cat.READER_KEYWORDS, *cat.WRITE_KEYWORDS, "source", "where", "url")))


class CallChecks:
    # --- calls ------------------------------------------------------------------------------------

    def _plotting_backend(self, node: ast.Call) -> None:
        """pandas imports the module named as its plotting backend (`df.plot(backend=...)`)."""
        backend = _keyword(node, "backend")
        option = self.env.text(_first_arg(node)) if node.args else None
        if option == "plotting.backend" and len(node.args) > 1:
            backend = node.args[1]
        if backend is not None and self.env.text(backend) != "matplotlib":
            self.add(
                "dynamic-code",
                node,
                f"{self._source(node)[:60]} sets pandas' plotting backend, a module that pandas imports by "
                "its name: this imports a module named by a string.",
            )

    def visit_Call(self, node: ast.Call) -> None:
        for callee in self.env.value(node.func):
            if isinstance(callee, Builtin):
                self._builtin_call(node, callee.name)
            elif isinstance(callee, Member):
                self._member_call(node, callee.name)
        if isinstance(node.func, ast.Attribute):
            self._method_call(node, node.func.attr, self.env.value(node.func.value))
        self._plotting_backend(node)
        if any(k.arg == "usetex" for k in node.keywords):
            self.add("os-command", node, f"{self._source(node)[:60]} {cat.PROGRAM_SETTING}.")
        pickles = _keyword(node, "allow_pickle")
        if pickles is not None and not (isinstance(pickles, ast.Constant) and pickles.value is False):
            self.add(
                "deserialise",
                node,
                f"{self._source(node.func)}(allow_pickle=…) loads pickled objects, and loading a pickle can "
                "run any code stored in the file.",
            )
        self.generic_visit(node)

    def _builtin_call(self, node: ast.Call, name: str) -> None:
        if name in cat.CODE_BUILTINS:
            self.add("dynamic-code", node, f"Calls {name}(), which runs or exposes code built at run time.")
        elif name in cat.ATTRIBUTE_BUILTINS:
            self._dynamic_attribute(node, name)
        elif name == "open":
            self._check_open(node, target=_first_arg(node) or _keyword(node, "file"), mode=_open_mode(node))

    def _dynamic_attribute(self, node: ast.Call, name: str) -> None:
        if not node.args:
            return
        target = node.args[0]
        receivers = self.env.value(target)
        if any(isinstance(v, Module) and v.name == "builtins" for v in receivers) or (
            isinstance(target, ast.Name) and target.id == "__builtins__"
        ):
            self.add("dunder-access", node, f"Calls {name}() on the builtins.")
            return
        attr = self.env.text(node.args[1]) if len(node.args) > 1 else None
        if attr is None:
            self.add(
                "dynamic-attribute",
                node,
                f"{name}({self._source(target)[:40]}, …) looks up an attribute whose name is only known at "
                "run time: it can reach anything the object holds, including functions that run commands.",
            )
            return
        shown = f"{name}({self._source(target)[:40]}, {attr!r})"
        for receiver in receivers:
            if isinstance(receiver, Module):
                self._dynamic_module_attribute(receiver.name, attr, node, shown)
            else:
                self._by_name(attr, node, shown)  # getattr(df, "query")(...) is df.query(...) unseen

    def _dynamic_module_attribute(self, module: str, attr: str, node: ast.AST, shown: str) -> None:
        listed = self.listed.member(module, attr) is not None or self.listed.knows(f"{module}.{attr}")
        if listed or cat.is_dunder(attr) or attr in cat.DANGEROUS_ATTRIBUTES:
            self._module_attribute(module, attr, node, shown)
        else:
            self.add(
                "dynamic-attribute",
                node,
                f"{shown} looks up {attr!r}, which is not among the names of {module} on the allow-list.",
            )

    def _member_call(self, node: ast.Call, name: str) -> None:
        shown = f"{self._source(node.func)[:40]}()"
        spec = cat.FILE_FUNCTIONS.get(name)
        if spec is None and cat.PANDAS_READER.match(name):
            spec = ("read", 0, cat.READER_KEYWORDS)
        if spec is not None:
            self._file_function(node, spec, shown)
        elif name in cat.EXPRESSION_FUNCTIONS:
            self._check_expression(node, shown)
        elif name in cat.ATTRIBUTE_GETTERS:
            self._attribute_getter(node, shown)
        elif name in cat.BACKEND_SWITCHES:
            self._backend_switch(node, shown)
        elif name not in cat.PATH_CLASSES:  # a Path is checked where it is read or written
            self._path_literals(node, shown)

    def _file_function(self, node: ast.Call, spec: tuple, shown: str) -> None:
        action, position, keywords = spec
        target = node.args[position] if len(node.args) > position else None
        for keyword in keywords:
            target = target or _keyword(node, keyword)
        if action == "open":
            mode = node.args[1] if len(node.args) > 1 else _keyword(node, "mode")
            self._check_open(node, target=target, mode=mode)
        else:
            self._check_path(node, target, write=action == "write", what=shown)
        self._hidden_path(node, shown, write=action != "read")

    def _path_literals(self, node: ast.Call, shown: str) -> None:
        """A function of an allowed module given a plain path or URL: whatever it does, it does it there."""
        candidates = [_first_arg(node), *(_keyword(node, k) for k in PATH_KEYWORDS)]
        for candidate in candidates:
            text = self.env.text(candidate) if candidate is not None else None
            if text and paths.looks_like_path(text):
                verdict = paths.path_verdict(text, write=False, what=shown)
                if verdict:
                    self.add(verdict[0], node, verdict[1])

    def _attribute_getter(self, node: ast.Call, shown: str) -> None:
        argument = _first_arg(node)
        names = self.env.text(argument) if argument is not None else None
        if names is None:
            self.add(
                "dynamic-attribute",
                node,
                f"{shown} is given an attribute name built at run time: the getter it returns can reach "
                "anything, including functions that run commands.",
            )
            return
        for attr in names.split("."):
            self._by_name(attr, node, f"{shown} of {names!r}")

    def _backend_switch(self, node: ast.Call, shown: str) -> None:
        backend = self.env.text(_first_arg(node) or _keyword(node, "backend"))
        if backend is None or backend.startswith("module://"):
            self.add(
                "dynamic-code",
                node,
                f"{shown} picks a matplotlib backend that is not a plain name: `module://…` backends are "
                "imported, so this imports a module named by a string.",
            )

    def _method_call(self, node: ast.Call, method: str, receivers: set) -> None:
        if any(isinstance(v, PathValue) for v in receivers):
            self._path_method(node, method, [v for v in receivers if isinstance(v, PathValue)])
        if all(isinstance(v, Module) for v in receivers):
            return  # functions of modules are checked by name (_member_call)
        shown = f"{self._source(node.func)[:40]}()"
        if method in cat.STRING_EVALUATORS:
            self._check_expression(node, shown)
        elif method in cat.DISPATCH_BY_NAME:
            self._dispatch_by_name(node, shown)
        elif method in cat.WRITE_METHODS:
            self._check_path(node, _write_target(node), write=True, what=f".{method}()")
            self._hidden_path(node, f".{method}()", write=True)
        elif method.startswith("read_") and method not in ("read_text", "read_bytes"):
            self._check_path(node, _first_arg(node), write=False, what=f"{method}()")

    def _path_method(self, node: ast.Call, method: str, receivers: list[PathValue]) -> None:
        if method in cat.PATH_READS or method in cat.PATH_WRITES:
            for receiver in receivers:
                target = ast.Constant(receiver.path) if receiver.path is not None else None
                what = f".{method}()"
                if method == "open":
                    mode = _first_arg(node) or _keyword(node, "mode")
                    self._check_open(node, target=target, mode=mode)
                elif target is None:
                    self._dynamic_path(node, what, write=method in cat.PATH_WRITES)
                else:
                    self._check_path(node, target, write=method in cat.PATH_WRITES, what=what)

    # --- strings that pandas evaluates ---------------------------------------------------------------

    def _check_expression(self, node: ast.Call, shown: str) -> None:
        expression = _first_arg(node) or _keyword(node, "expr")
        if expression is None:
            return
        text = self.env.text(expression)
        if text is None:
            self.add(
                "dynamic-query",
                node,
                f"{shown} evaluates {self._source(expression)[:40]} as an expression, and that string is "
                "built at run time: pandas runs it, and it can call functions the check never sees.",
            )
            return
        tree = _pandas_expression(text)
        if tree is None:
            self.add(
                "not-understood",
                node,
                f"Not understood: {shown} evaluates {text[:60]!r}, which the check cannot read as Python.",
            )
            return
        self._link(tree)
        saved = self.line, self.columns
        self.line, self.columns = node.lineno, True
        try:
            self.visit(tree)
        finally:
            self.line, self.columns = saved

    def _dispatch_by_name(self, node: ast.Call, shown: str) -> None:
        """`df.agg("sum")`: pandas looks the string up on the frame; check it as the attribute it is."""
        argument = _first_arg(node) or _keyword(node, "func")
        if argument is None:
            return
        values = self.env.value(argument)
        computed = any(isinstance(v, Text) and v.value is None for v in values)
        # A value from the data may be a method name too; with arguments for it, it is worth following.
        unknown = any(isinstance(v, Opaque) for v in values) and _passes_arguments(node)
        if computed or unknown:
            self.add(
                "dynamic-attribute",
                node,
                f"{shown} is given a method name built at run time: pandas looks it up on the data, so it "
                "can call any method, including ones that write files or evaluate strings.",
            )
        for name in _string_literals(argument, self.env):
            if name.isidentifier():
                self._by_name(name, node, f"{shown} of {name!r}")

    def _by_name(self, name: str, node: ast.AST, shown: str) -> None:
        """A method named by a string and looked up at run time: the attribute rules, and none of the
        methods whose arguments the check looks at (paths, expressions)."""
        self._value_attribute(name, node, shown)
        if name in cat.WRITE_METHODS or name in cat.STRING_EVALUATORS or name.startswith(("to_", "read_")):
            self.add(
                "dynamic-attribute",
                node,
                f"{shown} calls the method {name} by its name, out of sight of the checks on that "
                "method's arguments.",
            )

    # --- files ------------------------------------------------------------------------------------

    def _check_open(self, node: ast.Call, *, target: ast.AST | None, mode: ast.AST | None) -> None:
        mode_text = self.env.text(mode) if mode is not None else "r"
        write = mode_text is None or any(flag in mode_text for flag in "wax+")  # an unknown mode may write
        self._check_path(node, target, write=write, what="open()")

    def _check_path(self, node: ast.Call, target: ast.AST | None, *, write: bool, what: str) -> None:
        if target is None:
            return  # e.g. df.to_csv() without a path returns text and writes nothing
        if self.env.value(target) == {HANDLE}:
            return  # a file or writer opened (and checked) before, or a buffer in memory
        path = self._literal_path(target)
        if path is None:
            self._dynamic_path(node, what, write=write)
            return
        verdict = paths.path_verdict(path, write=write, what=what)
        if verdict:
            self.add(verdict[0], node, verdict[1])

    def _hidden_path(self, node: ast.Call, what: str, *, write: bool) -> None:
        """`df.to_csv(**options)`: the path may be in the mapping, where the check cannot read it."""
        if any(k.arg is None for k in node.keywords) or any(isinstance(a, ast.Starred) for a in node.args):
            self._dynamic_path(node, what, write=write)

    def _dynamic_path(self, node: ast.AST, what: str, *, write: bool) -> None:
        verb = "writes" if write else "reads"
        self.add("dynamic-path", node, f"{what} {verb} a path computed at run time.")

    def _literal_path(self, node: ast.AST) -> str | None:
        text = self.env.text(node)
        if text is not None:
            return text
        values = self.env.value(node)
        if len(values) == 1:
            (only,) = values
            if isinstance(only, PathValue):
                return only.path
        if isinstance(node, ast.JoinedStr):
            return paths.fstring_prefix(node.values)
        return None


# --- small readers of call nodes --------------------------------------------------------------------------


def _first_arg(node: ast.Call) -> ast.AST | None:
    return node.args[0] if node.args else None


def _keyword(node: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in node.keywords if k.arg == name), None)


def _open_mode(node: ast.Call) -> ast.AST | None:
    return node.args[1] if len(node.args) > 1 else _keyword(node, "mode")


def _write_target(node: ast.Call) -> ast.AST | None:
    for keyword in cat.WRITE_KEYWORDS:
        if (value := _keyword(node, keyword)) is not None:
            return value
    return _first_arg(node)


def _passes_arguments(node: ast.Call) -> bool:
    """`df.agg(func, "/etc/x")`: arguments beyond the function, which pandas hands to it."""
    own = {"func", "axis", "raw", "result_type", "engine", "engine_kwargs", "by_row", "include_groups"}
    return len(node.args) > 1 or any(k.arg not in own for k in node.keywords)


def _string_literals(node: ast.AST, env: Env) -> list[str]:
    """The strings in `"sum"`, `["sum", "mean"]`, `{"a": "sum"}`, or a name bound to one of them."""
    text = env.text(node)
    if text is not None:
        return [text]
    if isinstance(node, ast.List | ast.Tuple | ast.Set):
        return [s for element in node.elts for s in _string_literals(element, env)]
    if isinstance(node, ast.Dict):
        return [s for value in node.values if value is not None for s in _string_literals(value, env)]
    return []


def _pandas_expression(text: str) -> ast.AST | None:
    """pandas' expression syntax as Python: `backquoted names` become plain names, `@local` a local."""
    plain = re.sub(r"`[^`]*`", "_column", text).replace("@", "")
    try:
        return ast.parse(plain)
    except SyntaxError:
        return None
