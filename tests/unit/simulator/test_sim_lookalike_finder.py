"""The simulator's look-alike impostor picks the enrolled student the gate would score
highest: the student's template, embedded as enrollment embeds it, against the face."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from examgate.core.matching import Analysis
from simulator.cohort import Person
from simulator.run import lookalike_finder


class TemplatesDiffer:
    """Analyzer stub: a photo's file text names its plain and its template embedding."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    def analyse(self, image: bytes, burst=(), *, enrolling=False) -> Analysis:
        plain, template = image.decode().split("|")
        self.calls.append((image.decode(), enrolling))
        x, y = (float(v) for v in (template if enrolling else plain).split(","))
        vec = np.array([x, y], np.float32)
        return Analysis(1, {}, (), vec / np.linalg.norm(vec), None)


def test_the_nearest_enrolled_student_is_found_by_template(tmp_path: Path) -> None:
    def photo(name: str, plain: str, template: str) -> str:
        path = tmp_path / f"{name}.jpg"
        path.write_text(f"{plain}|{template}")
        return str(path)

    # Photo against photo, Bo is nearer; template against photo (as the gate scores), Al.
    students = [Person("Al", (photo("al", "0,1", "1,0.1"),)),
                Person("Bo", (photo("bo", "1,0", "0,1"),))]
    face = photo("impostor", "1,0.05", "0,1")
    analyzer = TemplatesDiffer()
    nearest = lookalike_finder(analyzer, students)
    assert nearest(face, ["Al", "Bo"]) == "Al"
    assert nearest(face, ["Al", "Bo"]) == "Al"
    assert sorted(enrolling for _, enrolling in analyzer.calls) == [False, True, True]
