"""Lists the public names of modules, as the sandbox runtime's own Python sees them.

Run by `python manage.py policy_allowlist` with the sandbox runtime's interpreter (never the app's), as a
plain script: it imports nothing of Sandgate. Reads a JSON list of module names on stdin and prints, as
JSON, each module's public names (`dir()` without the `_` names, but with the `_` names that are
modules) with what each one is:

- "module <name>": the attribute is a module (e.g. `pathlib.os` is "module os");
- "class" / "function" / "value", followed by " <origin>.<name>" when it is defined in another top-level
  package than the module itself (e.g. `pathlib.attrgetter` is "function operator.attrgetter").

All the modules are imported before any is listed, so the answer does not depend on their order.
"""

import importlib
import json
import platform
import sys
import types
from importlib import metadata

PACKAGES = ("pandas", "numpy", "matplotlib", "seaborn", "scipy", "openpyxl", "pyarrow")


def describe(module: types.ModuleType) -> dict[str, str]:
    names = {}
    for name in sorted(dir(module)):
        if name.startswith("__"):
            continue
        try:
            value = getattr(module, name)
        except Exception:  # a lazy attribute that fails to load is not something code can use
            continue
        # A private name is listed only when it is a module, so that `pd._libs` is known for what it is.
        if not name.startswith("_") or isinstance(value, types.ModuleType):
            names[name] = kind(module, value)
    return names


def kind(module: types.ModuleType, value: object) -> str:
    if isinstance(value, types.ModuleType):
        return f"module {value.__name__}"
    what = "class" if isinstance(value, type) else "function" if callable(value) else "value"
    if what == "value":
        return what
    origin = getattr(value, "__module__", None)
    own_name = getattr(value, "__name__", None)
    if not isinstance(origin, str) or not isinstance(own_name, str):
        return what
    if top(origin) == top(module.__name__):
        return what
    return f"{what} {origin}.{own_name}"


def top(name: str) -> str:
    # `_io`, `_operator`, `_collections_abc`: the C half of a standard module counts as the module.
    return name.split(".")[0].lstrip("_")


def main() -> None:
    modules = json.load(sys.stdin)
    loaded = {name: importlib.import_module(name) for name in modules}
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    answer = {
        "python": platform.python_version(),
        "packages": versions,
        "modules": {name: describe(module) for name, module in sorted(loaded.items())},
    }
    json.dump(answer, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
