"""Identity splits of LFW: training, calibration and evaluation never share a person.

Calibration is the bootstrap's split (every identity in ``pairsDevTrain.txt``);
evaluation is the identities of some View 2 folds (``pairs.txt``, whose folds
are identity-disjoint); training takes people with enough images from what is
left. :func:`check_disjoint` is the guard each of them passes through.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from examgate.models import lfw

VIEW2 = "pairs.txt"


class SplitOverlapError(ValueError):
    """Two splits that must be identity-disjoint share identities."""


def check_disjoint(split: Iterable[str], held_out: Mapping[str, Iterable[str]],
                   name: str = "training") -> None:
    """Raise :class:`SplitOverlapError` if ``split`` shares an identity with any held-out split.

    Held-out splits may overlap each other (View 2 reuses calibration people;
    evaluation drops those pairs), never the split being checked.
    """
    ids = set(split)
    problems = []
    for other, other_ids in held_out.items():
        shared = ids & set(other_ids)
        if shared:
            sample = ", ".join(sorted(shared)[:5])
            problems.append(f"{name} and {other} share {len(shared)} identities (e.g. {sample})")
    if problems:
        raise SplitOverlapError("identity splits overlap: " + "; ".join(problems))


def calibration_identities(lfw_dir: Path) -> set[str]:
    """The bootstrap's calibration identities (LFW ``pairsDevTrain.txt``)."""
    from examgate.models.bootstrap import calibration_identities as from_bootstrap

    return from_bootstrap(Path(lfw_dir))


def view2_pairs(lfw_dir: Path, folds: Sequence[int]) -> list[lfw.Pair]:
    """The View 2 pairs of the given folds (0-based)."""
    lfw.require_lfw(Path(lfw_dir), VIEW2)
    wanted = set(folds)
    pairs = lfw.read_pairs(Path(lfw_dir) / VIEW2)
    unknown = wanted - {p.fold for p in pairs}
    if unknown:
        raise ValueError(f"{VIEW2} has no folds {sorted(unknown)}")
    return [p for p in pairs if p.fold in wanted]


def evaluation_identities(lfw_dir: Path, folds: Sequence[int]) -> set[str]:
    """Every identity named in the View 2 ``folds`` kept for evaluation."""
    return {lfw.person_of(n) for p in view2_pairs(lfw_dir, folds) for n in (p.a, p.b)}


def training_identities(lfw_dir: Path, *, min_images: int, eval_folds: Sequence[int],
                        identities: Iterable[str] | None = None) -> dict[str, list[str]]:
    """Person -> image paths for training: ``min_images`` or more, none held out elsewhere.

    With ``identities`` the caller names the people; any of them in the
    calibration or evaluation split raises :class:`SplitOverlapError` rather
    than being dropped quietly.
    """
    everyone = lfw.people(lfw_dir)
    calibration = calibration_identities(lfw_dir)
    evaluation = evaluation_identities(lfw_dir, eval_folds)
    if identities is None:
        chosen = {p for p, images in everyone.items()
                  if len(images) >= min_images and p not in calibration and p not in evaluation}
    else:
        chosen = set(identities)
        missing = chosen - set(everyone)
        if missing:
            raise ValueError(f"not LFW identities: {', '.join(sorted(missing)[:5])}")
    check_disjoint(chosen, {"calibration": calibration, "evaluation": evaluation})
    return {p: everyone[p] for p in sorted(chosen) if len(everyone[p]) >= min_images}


def evaluation_pairs(lfw_dir: Path, folds: Sequence[int], *,
                     training: Iterable[str] = (),
                     exclude_calibration: bool = True) -> list[lfw.Pair]:
    """View 2 pairs of ``folds`` for evaluation; raises if training shares an identity.

    Pairs touching a calibration identity are dropped (the bootstrap chose the
    champion's thresholds on those people).
    """
    pairs = view2_pairs(lfw_dir, folds)
    people = {lfw.person_of(n) for p in pairs for n in (p.a, p.b)}
    check_disjoint(training, {"evaluation": people})
    if not exclude_calibration:
        return pairs
    calibration = calibration_identities(lfw_dir)
    return [p for p in pairs
            if lfw.person_of(p.a) not in calibration and lfw.person_of(p.b) not in calibration]
