"""The admin page lists the enrolled look-alikes of the model versions deciding (issue 11):
what `examgate enroll --report` gives the registrar, for an admin who only has the console."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from dashboard import enrolled
from dashboard.ports import ConsolePorts
from examgate.adapters.templates import MemoryTemplateStore
from examgate.core.ports import Template

DECISIONS = "gate.decisions"


def _template(student: str, version: str, lookalikes: tuple[tuple[str, float], ...] = ()
              ) -> Template:
    seed = int.from_bytes(student.encode(), "little")
    emb = np.random.default_rng(seed).normal(size=(1, 128)).astype(np.float32)
    return dataclasses.replace(Template.from_embeddings(student, version, emb),
                               lookalikes=lookalikes)


@pytest.fixture
def store() -> MemoryTemplateStore:
    """Version 3 (the one the decisions below name): anna and hanna linked both ways, carl
    alone; version 2 (not deciding any more) has a pair of its own."""
    s = MemoryTemplateStore()
    s.put(_template("anna", "3", (("hanna", 0.612),)))
    s.put(_template("hanna", "3", (("anna", 0.612),)))
    s.put(_template("carl", "3"))
    s.put(_template("old-a", "2", (("old-b", 0.5),)))
    return s


@pytest.fixture
def ports(ports: ConsolePorts, store: MemoryTemplateStore) -> ConsolePorts:
    """The in-memory ports, connected to the template store above."""
    return dataclasses.replace(ports, templates=store)


def _admin_page(login: Callable[[str], TestClient], ports: ConsolePorts,
                decision: dict[str, Any] | None) -> str:
    client = login("ada")
    if decision is not None:
        ports.source.push(DECISIONS, "Decision", decision)
    return client.get("/admin").text


def test_the_pairs_of_the_deciding_version_are_listed_once(
        login: Callable[[str], TestClient], ports: ConsolePorts,
        make_decision: Callable[..., dict[str, Any]]) -> None:
    page = _admin_page(login, ports, make_decision("ACCEPT"))
    assert "Model version 3" in page and "Look-alikes: 1 pair<" in page
    assert page.count("<code>hanna</code>") == 1 and "0.612" in page
    assert "old-b" not in page  # version 2 decides nothing


def test_before_any_decision_the_page_says_why_nothing_is_listed(
        login: Callable[[str], TestClient], ports: ConsolePorts) -> None:
    assert "No decisions yet" in _admin_page(login, ports, None)


def test_a_long_list_is_cut_and_says_how_many_more(
        login: Callable[[str], TestClient], ports: ConsolePorts, store: MemoryTemplateStore,
        make_decision: Callable[..., dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(enrolled, "MAX_LOOKALIKES_SHOWN", 1)
    store.put(_template("carl", "3", (("anna", 0.55),)))
    page = _admin_page(login, ports, make_decision("ACCEPT"))
    assert "Look-alikes: 2 pairs" in page and "and 1 less similar pairs" in page
    assert "0.612" in page and "0.550" not in page  # the most similar first


def test_an_unreachable_store_is_said_on_the_page_not_a_server_error(
        login: Callable[[str], TestClient], ports: ConsolePorts, store: MemoryTemplateStore,
        make_decision: Callable[..., dict[str, Any]]) -> None:
    store.fail = True
    page = _admin_page(login, ports, make_decision("ACCEPT"))
    assert "The template store could not be read" in page and "Users" in page


def test_a_console_without_the_template_store_says_so(
        login: Callable[[str], TestClient], ports: ConsolePorts,
        make_decision: Callable[..., dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    client = login("ada")
    monkeypatch.setattr(client.app.state.console, "ports",
                        dataclasses.replace(ports, templates=None))
    ports.source.push(DECISIONS, "Decision", make_decision("ACCEPT"))
    assert "not connected to the template store" in client.get("/admin").text


def test_the_threshold_check_uses_the_threshold_the_version_decided_with(
        login: Callable[[str], TestClient], ports: ConsolePorts, store: MemoryTemplateStore,
        make_decision: Callable[..., dict[str, Any]]) -> None:
    """Three students of version 3 (3 pairs); the decision's accept threshold is 0.52."""
    page = _admin_page(login, ports, make_decision("ACCEPT"))
    assert "of the 3 pairs of the 3 enrolled students" in page and "0.5200" in page
    assert "0 score at or above" in page and "too few students" in page
    assert 'class="flash error"' not in page
    twin = store.get("anna", "3")
    for k in range(150):  # 151 students with one face: 11,325 pairs above any threshold
        store.put(dataclasses.replace(twin, student_id=f"anna-{k}"))
    page = login("ada").get("/admin").text
    assert "more alike than the people the threshold was calibrated on" in page
    assert 'class="flash error"' in page


def test_the_check_uses_a_threshold_a_face_was_judged_at_not_a_fail_closed_one(
        login: Callable[[str], TestClient], ports: ConsolePorts,
        make_decision: Callable[..., dict[str, Any]]) -> None:
    """Workers raise the accept threshold among the enrolled and record it; a decision that
    failed closed before any match (no similarity) records the version's own threshold."""
    judged = make_decision("ACCEPT", similarity=0.7)
    judged["thresholds"] = dict(judged["thresholds"], accept=0.5437)
    failed = make_decision(reason="TEMPLATE_UNAVAILABLE", similarity=None)
    client = login("ada")
    for d in (judged, failed):  # the failed one is the newest
        ports.source.push(DECISIONS, "Decision", d)
    page = client.get("/admin").text
    assert "0.5437" in page and "0.5200" not in page
