"""The house keeps its shape: layers, one composition root, small modules, no stale words."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("producers", "stream_processors", "trainer", "simulator", "dashboard", "benchmarks",
        "devstack")
SOURCES = [ROOT / "examgate", ROOT / "deploy" / "local" / "devstack",
           *(ROOT / app for app in APPS if app != "devstack")]


def python_files() -> list[Path]:
    return sorted(p for folder in SOURCES for p in folder.rglob("*.py"))


def test_import_contracts_hold() -> None:
    """Layers, no application imported by a layer, applications independent, no cycles
    (the contracts in pyproject.toml's [tool.importlinter])."""
    from importlinter.cli import lint_imports

    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True,
                        no_logo=True) == 0, "run `lint-imports` to see the broken contract"


def test_a_broken_rule_is_caught(tmp_path: Path) -> None:
    """The contract check fails when a layer imports an application (so it can fail at all)."""
    from importlinter.cli import lint_imports

    pkg = tmp_path / "house"
    (pkg / "core").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "core" / "__init__.py").write_text("")
    (pkg / "core" / "bad.py").write_text("import house_app\n")
    (tmp_path / "house_app.py").write_text("")
    cfg = tmp_path / "contracts.toml"
    cfg.write_text('[tool.importlinter]\nroot_packages = ["house", "house_app"]\n'
                   '[[tool.importlinter.contracts]]\nname = "layer imports no app"\n'
                   'type = "forbidden"\nsource_modules = ["house.core"]\n'
                   'forbidden_modules = ["house_app"]\n')
    sys.path.insert(0, str(tmp_path))
    try:
        assert lint_imports(config_filename=str(cfg), no_cache=True, no_logo=True) == 1
    finally:
        sys.path.remove(str(tmp_path))


@pytest.mark.parametrize("path", python_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_stays_small(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= 400, f"{path.relative_to(ROOT)} has {lines} lines: split it along a seam"


def test_no_words_from_the_abandoned_design() -> None:
    stale = re.compile(r"\b(faust|aiokafka)\b", re.IGNORECASE)
    found = [f"{p.relative_to(ROOT)}:{n}" for p in python_files()
             for n, line in enumerate(p.read_text().splitlines(), 1) if stale.search(line)]
    assert not found, f"words from the Faust design remain: {found}"


def test_cli_imports_no_application_until_a_command_runs(tmp_path: Path) -> None:
    """`examgate --help` and `examgate process` must not drag in the console, the simulator,
    the trainer or PyTorch; only the command that runs loads its application."""
    probe = ("import json, sys\n"
             "import examgate.cli\n"
             "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=tmp_path).stdout
    loaded = set(json.loads(out))
    assert not loaded & {*APPS, "cv2", "onnxruntime", "torch", "mlflow", "fastapi"}, loaded
