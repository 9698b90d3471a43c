"""Contract tests: every event schema stays readable by consumers of older versions' data."""

from __future__ import annotations

import copy
import os

import pytest
from schema_compat import (
    current_versions,
    git_version,
    history_versions,
    is_backward_compatible,
)

from examgate.core.codec import EVENT_SCHEMAS

CURRENT = current_versions()
# CI compares against main; a feature branch can set EXAMGATE_SCHEMA_BASE=origin/main.
BASE_REF = os.environ.get("EXAMGATE_SCHEMA_BASE", "main")


@pytest.mark.parametrize("name", EVENT_SCHEMAS)
def test_compatible_with_every_released_version(name: str) -> None:
    history = history_versions(name)
    assert history, f"{name} has no released snapshot in schemas/history"
    for version, old in history.items():
        ok, why = is_backward_compatible(old, CURRENT[name][1])
        assert ok, f"{name} cannot read data written with v{version}: {why}"


@pytest.mark.parametrize("name", EVENT_SCHEMAS)
def test_changed_schema_bumps_its_version(name: str) -> None:
    version, schema = CURRENT[name]
    snapshot = history_versions(name).get(version)
    if snapshot is not None:
        assert snapshot == schema, (
            f"{name} v{version} differs from its released snapshot: bump \"version\" and run "
            "examgate.core.codec.snapshot_schema for the new one")


@pytest.mark.parametrize("name", EVENT_SCHEMAS)
def test_compatible_with_main(name: str) -> None:
    old = git_version(name, BASE_REF)
    if old is None:
        pytest.skip(f"no {name} at git ref {BASE_REF}")
    ok, why = is_backward_compatible(old, CURRENT[name][1])
    assert ok, f"{name} is not backward compatible with {BASE_REF}: {why}"


def test_checker_catches_a_breaking_change() -> None:
    old = CURRENT["CheckIn"][1]
    broken = copy.deepcopy(old)
    broken["fields"].append({"name": "badge_photo", "type": "bytes"})  # new field, no default
    ok, why = is_backward_compatible(old, broken)
    assert not ok and "badge_photo" in why
    compatible = copy.deepcopy(old)
    compatible["fields"].append({"name": "badge_photo", "type": ["null", "bytes"],
                                 "default": None})
    assert is_backward_compatible(old, compatible)[0]


def test_removed_enum_symbol_is_breaking() -> None:
    old = CURRENT["Decision"][1]
    new = copy.deepcopy(old)
    outcome = next(f for f in new["fields"] if f["name"] == "outcome")
    outcome["type"]["symbols"].remove("REVIEW")
    outcome["type"].pop("default")
    assert not is_backward_compatible(old, new)[0]


def test_package_carries_the_repository_schemas() -> None:
    """The installed package reads its own copy of schemas/; it must be the same files."""
    from schema_compat import SCHEMA_DIR as REPOSITORY

    from examgate.core.codec import SCHEMA_DIR as PACKAGED

    def tree(root):
        return {p.relative_to(root).as_posix(): p.read_bytes()
                for p in sorted(root.rglob("*.avsc"))}

    repo, packaged = tree(REPOSITORY), tree(PACKAGED)
    assert repo, f"no schemas under {REPOSITORY}"
    assert packaged == repo, ("examgate/core/schemas differs from schemas/: copy them with "
                              "`cp -r schemas/*.avsc schemas/history examgate/core/schemas/`")
