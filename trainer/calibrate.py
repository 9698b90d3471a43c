"""Thresholds for a fine-tuned embedder, found the way the bootstrap finds the champion's.

The calibration split's images are aligned with the trainer's cached crops
and embedded by the candidate; the thresholds come from the one shared rule,
:func:`examgate.models.calibration.calibrate_thresholds` (every pair, accept
at FAR 1e-4 for every gender slice of the split, reject below FAR 1e-3).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from examgate.adapters.registry import ModelBundle
from examgate.models.calibration import ThresholdFit, calibrate_thresholds


def calibrate_embedder(lfw_dir: Path, embedder_path: Path, champion: ModelBundle,
                       cache_dir: Path, max_images: int | None = None, threads: int = 2
                       ) -> ThresholdFit:
    """The candidate ``embedder_path``'s thresholds; the replay threshold stays the champion's.

    ``max_images`` keeps about that many calibration images, whole people at a
    time (a CPU run); None uses them all.
    """
    from examgate.models.bootstrap import calibration_images
    from examgate.models.lfw import person_of, read_genders
    from examgate.vision import create_embedder
    from trainer.crops import align_files

    names = calibration_images(lfw_dir)
    if max_images is not None and max_images < len(names):
        names = whole_people(names, max_images)
    crops = align_files(lfw_dir / "images", names, cache_dir=cache_dir, tag="lfw-calib")
    embedder = create_embedder(champion.embedder, model_path=embedder_path,
                               flip=bool(champion.spec.get("flip_tta", False)),
                               intra_op_threads=threads)
    genders = read_genders(lfw_dir)
    emb = embedder.embed(crops.faces)
    # The new version keeps the champion's spec, so its templates are embedded the same way:
    # mirrored templates are calibrated template against probe, as bootstrap does.
    templates = (embedder.embed_with_mirror(crops.faces, emb)
                 if champion.spec.get("mirror_templates") else None)
    return calibrate_thresholds([person_of(n) for n in crops.names], emb,
                                replay=champion.thresholds.replay,
                                slices=[genders.get(n, "") for n in crops.names],
                                templates=templates)


def whole_people(names: Sequence[str], limit: int) -> list[str]:
    """About ``limit`` of ``names``, taking every image of people spread over the list, so that
    genuine pairs survive the cut."""
    from examgate.models.lfw import person_of

    people: dict[str, list[str]] = {}
    for n in names:
        people.setdefault(person_of(n), []).append(n)
    chosen: list[str] = []
    for person in list(people)[::max(1, len(names) // limit)]:
        if len(chosen) >= limit:
            break
        chosen += people[person]
    return sorted(chosen)
