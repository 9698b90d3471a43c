"""A gate checks students in only for its own exams (review finding 8): a check-in sent
from another hall, or for an exam that is not on the timetable, is never decided on the face."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from test_verify import _checkin, world  # noqa: F401 - the fixture is used by name

from examgate.core.settings import CheckInSettings
from examgate.core.verify import Verifier

TIMETABLE = CheckInSettings(exam_gates={"e1": ("hall-a-*", "kiosk-7"), "e2": ("hall-b-*",)})


@pytest.fixture
def timetabled(world):  # noqa: F811 - pytest's fixture by name
    _, templates, objects, analyzer = world
    return Verifier(templates, objects, "frames", analyzer, gate_check=TIMETABLE.gate_problem)


def _from(gate: str, exam: str) -> dict:
    record = _checkin(b"genuine")
    record.update(gate_id=gate, exam_id=exam)
    return record


@pytest.mark.parametrize(("gate", "exam"), [("hall-a-1", "e1"), ("kiosk-7", "e1"),
                                            ("hall-b-12", "e2")])
def test_a_gate_of_the_exam_is_decided_as_usual(timetabled, gate: str, exam: str) -> None:
    assert timetabled.verify(_from(gate, exam)).decision["outcome"] == "ACCEPT"


@pytest.mark.parametrize(("gate", "exam", "why"), [
    ("hall-b-1", "e1", "not a gate of exam e1"),
    ("kiosk-70", "e1", "not a gate of exam e1"),
    ("hall-a-1", "e9", "exam e9 is not in the timetable"),
])
def test_a_gate_outside_the_exam_is_not_accepted(timetabled, gate: str, exam: str,
                                                 why: str) -> None:
    d = timetabled.verify(_from(gate, exam)).decision
    assert (d["outcome"], d["reason"]) == ("REVIEW", "INVALID_EVENT")
    assert why in d["reason_detail"]


def test_without_a_timetable_every_gate_is_decided() -> None:
    assert CheckInSettings().gate_problem("any-exam", "any-gate") is None


def test_event_ids_are_remembered_past_the_freshness_window() -> None:
    with pytest.raises(ValidationError, match="event_memory_s"):
        CheckInSettings(max_capture_age_s=600, event_memory_s=300)
