"""Students, impostors and visitors drawn from LFW, kept apart from training identities.

Students are LFW people with two or more photos: the first photo in
``Person.images`` is enrolled, the others are their genuine check-in photos.
People with a single photo are the impostors and unenrolled visitors. A
student id is the LFW person name (``Aaron_Eckhart``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from examgate.models import lfw

GENDER_FILES = {"male": "male_names.txt", "female": "female_names.txt"}


class Person(NamedTuple):
    """One identity: its name, image paths (enrollment photo first) and gender if known."""

    name: str
    images: tuple[str, ...]
    gender: str | None = None


class CohortSelection(NamedTuple):
    """Enrolled students and the people who are not enrolled (impostors, visitors)."""

    students: list[Person]
    others: list[Person]


class IdentityLeakError(ValueError):
    """A simulated identity is also used for training or calibration, or in two roles."""


def as_person(item: Person | tuple[str, Sequence[str]] | tuple[str, Sequence[str], str | None]
              ) -> Person:
    """A :class:`Person` from a ``(name, paths)`` or ``(name, paths, gender)`` tuple."""
    if isinstance(item, Person):
        return item
    name, paths, *rest = item
    return Person(str(name), tuple(str(p) for p in paths), rest[0] if rest else None)


def load_gender_labels(lfw_dir: str | Path) -> dict[str, str]:
    """Image file name -> ``"male"``/``"female"`` from ``labels/*_names.txt``.

    A handful of files sit in both lists; they are left out (unknown), not guessed.
    """
    seen: dict[str, set[str]] = {}
    for gender, file_name in GENDER_FILES.items():
        path = Path(lfw_dir) / "labels" / file_name
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                seen.setdefault(line.strip(), set()).add(gender)
    return {name: next(iter(g)) for name, g in seen.items() if len(g) == 1}


def person_gender(images: Iterable[str | Path], labels: Mapping[str, str]) -> str | None:
    """The majority label over a person's image files; None when unlabelled or tied."""
    votes = Counter(labels[Path(p).name] for p in images if Path(p).name in labels)
    top = votes.most_common(2)
    if not top or (len(top) == 2 and top[0][1] == top[1][1]):
        return None
    return top[0][0]


def check_disjoint(students: Sequence[Person], others: Sequence[Person],
                   excluded_names: Iterable[str] = ()) -> None:
    """Raise :class:`IdentityLeakError` if any simulated identity is excluded or in both roles.

    A model scored on faces it was trained or calibrated on looks better than it
    is, and an "impostor" who is also enrolled is a genuine user.
    """
    excluded = set(excluded_names)
    student_names = {p.name for p in students}
    other_names = {p.name for p in others}
    problems = []
    for role, names in (("students", student_names), ("impostors/visitors", other_names)):
        leaked = sorted(names & excluded)
        if leaked:
            problems.append(f"{len(leaked)} {role} are training/calibration identities "
                            f"(e.g. {', '.join(leaked[:5])})")
    both = sorted(student_names & other_names)
    if both:
        problems.append(f"{len(both)} people are both students and impostors/visitors "
                        f"(e.g. {', '.join(both[:5])})")
    if problems:
        raise IdentityLeakError("simulated identities are not disjoint: " + "; ".join(problems))


def select_cohort(lfw_dir: str | Path, n: int, excluded_names: Iterable[str],
                  rng: np.random.Generator, *, max_others: int | None = None
                  ) -> CohortSelection:
    """Draw ``n`` students (LFW people with >= 2 photos) and the single-photo people as others.

    Nobody in ``excluded_names`` (identities used for training or calibration)
    is drawn. Each student's enrollment photo is chosen at random and put first.
    ``max_others`` caps the impostor/visitor pool (a random subset).
    """
    excluded = set(excluded_names)
    labels = load_gender_labels(lfw_dir)
    people = {name: imgs for name, imgs in lfw.people(lfw_dir).items() if name not in excluded}
    multi = sorted(name for name, imgs in people.items() if len(imgs) >= 2)
    single = sorted(name for name, imgs in people.items() if len(imgs) == 1)
    if n > len(multi):
        raise ValueError(f"asked for {n} students but only {len(multi)} LFW people with two "
                         f"or more photos remain after excluding {len(excluded)} identities")
    students = []
    for name in (multi[i] for i in sorted(rng.choice(len(multi), size=n, replace=False))):
        imgs = people[name]
        first = int(rng.integers(len(imgs)))
        ordered = (imgs[first], *(p for i, p in enumerate(imgs) if i != first))
        students.append(Person(name, ordered, person_gender(imgs, labels)))
    if max_others is not None and max_others < len(single):
        single = [single[i] for i in sorted(rng.choice(len(single), max_others, replace=False))]
    others = [Person(name, tuple(people[name]), person_gender(people[name], labels))
              for name in single]
    check_disjoint(students, others, excluded)
    return CohortSelection(students, others)
