"""The package works from a wheel, without a checkout: contracts and stack scripts travel inside,
and an image's wheel holds only the applications copied into its build context."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def build_wheel(source: Path, out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(out), str(source)], check=True, capture_output=True)
    (wheel,) = out.glob("examgate-*.whl")
    return wheel


def run_installed(target: Path, cwd: Path, code: str) -> str:
    """Run ``code`` with the wheel's files first on the path, from ``cwd`` (not the checkout)."""
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("EXAMGATE_CONFIG", None)
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".state", "build", "dist", "*.egg-info", "__pycache__", "out"))
    wheel = build_wheel(source, work / "dist")
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.startswith("tests/")]
    target = work / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target),
                    str(wheel)], check=True, capture_output=True)
    return target


def test_wheel_runs_from_an_empty_directory(installed: Path, tmp_path: Path) -> None:
    out = run_installed(installed, tmp_path, (
        "import examgate, devstack, simulator\n"
        "from examgate.core.codec import EventCodec, SCHEMA_DIR\n"
        "from devstack.base import SCRIPTS_DIR\n"
        "print(examgate.__file__); print(devstack.__file__); print(SCHEMA_DIR)\n"
        "print(EventCodec().version('CheckIn'))\n"
        "print(sorted(p.name for p in SCRIPTS_DIR.iterdir()))\n"))
    lines = out.splitlines()
    assert all(line.startswith(str(installed)) for line in lines[:3]), lines
    assert lines[3].isdigit()
    for script in ("install-kafka.sh", "install-objectstore.sh", "install-redis.sh",
                   "kafka-pom.xml", "lib.sh"):
        assert script in lines[4]
    # Settings name nothing inside a checkout: relative paths are from the working directory.
    out = run_installed(installed, tmp_path, (
        "from examgate.core.settings import Settings\n"
        "s = Settings()\nprint(s.stack.state_dir.resolve()); print(s.stack.cache_dir)\n"))
    state, cache = out.splitlines()
    assert state == str(tmp_path / ".state") and str(ROOT) not in cache


def test_an_image_wheel_holds_only_what_its_context_copies(tmp_path: Path) -> None:
    """As Dockerfile.serving builds it (the packages its COPY lines name): no simulator,
    trainer, benchmarks or local stack, and the CLI offers none of their commands."""
    dockerfile = (ROOT / "deploy/docker/Dockerfile.serving").read_text()
    apps = re.findall(r"^COPY ([a-z_]+)/ \1/$", dockerfile, re.M)
    assert {"examgate", "producers", "stream_processors", "dashboard", "http_api"} == set(apps)
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for app in apps:
        shutil.copytree(ROOT / app, source / app,
                        ignore=shutil.ignore_patterns("__pycache__"))
    wheel = build_wheel(source, tmp_path / "dist")
    tops = {n.split("/")[0] for n in zipfile.ZipFile(wheel).namelist()}
    assert tops - {"examgate-0.1.0.dist-info"} == set(apps)
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target),
                    str(wheel)], check=True, capture_output=True)
    # The editable checkout of the test environment must not leak in: hide it.
    code = ("import sys\n"
            "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f)]\n"
            "from typer.testing import CliRunner\n"
            "from examgate.cli import app\n"
            "print(CliRunner().invoke(app, ['--help']).output)\n")
    help_text = run_installed(target, tmp_path, code)
    for offered in ("process", "gate", "enroll", "console"):
        assert offered in help_text
    assert re.search(r"^\W+api\s{2,}", help_text, re.M), help_text  # the HTTP API's command
    for absent in ("demo", "simulate", "retrain", " stack "):
        assert absent not in help_text
