"""Apps depend one way: audit and billing know nothing of analysis and approvals; approvals never imports
analysis. Read from the source (every .py, migrations included, imports inside functions too), not from
what happens to be imported at run time."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "approvals": {"analysis"},
    "billing": {"analysis", "approvals"},
    "audit": {"analysis", "approvals"},
}
DYNAMIC_IMPORTS = {"import_module", "__import__", "import_string"}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports: `import x`, `from x import y`, and import_module("x") and the like."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in DYNAMIC_IMPORTS and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return found


def violations(app: str) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / app).rglob("*.py"))
        for line, module in imported_modules(path)
        if module.split(".")[0] in FORBIDDEN[app]
    ]


@pytest.mark.parametrize("app", sorted(FORBIDDEN))
def test_an_app_never_imports_the_apps_above_it(app):
    assert violations(app) == []


def test_the_check_sees_imports_at_module_level_inside_functions_and_by_name(tmp_path):
    source = tmp_path / "sample.py"
    source.write_text(
        "import analysis.models\n"
        "from analysis.tasks import run_execution\n"
        "from . import selectors\n"
        "def later():\n"
        "    from analysis.services.execution import execution_start\n"
        "    return importlib.import_module('analysis.sandboxes')\n"
    )
    assert [module for _, module in imported_modules(source)] == [
        "analysis.models",
        "analysis.tasks",
        "analysis.services.execution",
        "analysis.sandboxes",
    ]


@pytest.mark.parametrize("app", ["analysis", "approvals", "audit", "billing"])
def test_selectors_read_rows_and_never_import_serializers(app):
    path = ROOT / app / "selectors.py"
    modules = [module for _, module in imported_modules(path)]
    relative = [
        node.module or ""
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.level > 0
    ]
    assert not [m for m in modules + relative if "serializers" in m or m.startswith("rest_framework")]
