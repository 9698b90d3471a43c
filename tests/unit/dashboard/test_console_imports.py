"""The console's modules import each other without a circle, and its ports import none of them."""

from __future__ import annotations

import ast
from pathlib import Path

import dashboard

PACKAGE = Path(dashboard.__file__).parent


def _sibling_imports(path: Path) -> set[str]:
    """Modules of the dashboard package imported anywhere in ``path``, function bodies included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level == 1:
                found.update(a.name for a in node.names)
            elif node.module and node.module.startswith("dashboard."):
                found.add(node.module.split(".")[1])
    return found & {p.stem for p in PACKAGE.glob("*.py")}


def test_ports_import_no_console_module() -> None:
    assert _sibling_imports(PACKAGE / "ports.py") == set()


def test_console_modules_import_no_circle() -> None:
    graph = {p.stem: _sibling_imports(p) - {p.stem} for p in PACKAGE.glob("*.py")}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, " -> ".join((*path, module))
        if module in done:
            return
        for dep in graph[module]:
            visit(dep, (*path, module))
        done.add(module)

    for module in graph:
        visit(module, ())
