"""Named, seeded, composable transforms of a probe frame (BGR uint8 in, same out).

Every transform takes ``(image, rng, landmarks=None, **params)``; ``landmarks``
are the five ArcFace-order points in pixels, guessed for a centred face when
None (see :func:`face_landmarks`). The same seed gives the same bytes.

    >>> rng = np.random.default_rng(7)
    >>> out = apply_transform("dim", frame, rng, brightness=0.3)
    >>> out = apply_chain(frame, [Step("mask", {}, 1), Step("jpeg", {"quality": 20}, 2)])
"""

from __future__ import annotations

# Importing the modules registers their transforms.
from examgate.augment import attacks, camera, lighting, occlusion
from examgate.augment.attacks import empty_scene, printed_photo
from examgate.augment.base import (
    TRANSFORMS,
    FaceFrame,
    Kind,
    Moved,
    Step,
    TransformSpec,
    UnknownTransformError,
    apply_chain,
    apply_chain_moved,
    apply_transform,
    apply_transform_moved,
    face_landmarks,
    get_transform,
    transform_names,
)
from examgate.augment.bursts import ATTACK_FAMILY, burst_names, get_burst, render_burst
from examgate.augment.camera import (
    defocus,
    jpeg,
    low_resolution,
    motion_blur,
    off_center,
    rotate,
)
from examgate.augment.lighting import backlight, color_cast, dim, overexpose
from examgate.augment.occlusion import cap_shadow, hair_over_eyes, mask, sunglasses

__all__ = [
    "ATTACK_FAMILY", "burst_names", "get_burst", "render_burst",
    "TRANSFORMS", "FaceFrame", "Kind", "Moved", "Step", "TransformSpec", "UnknownTransformError",
    "apply_chain", "apply_chain_moved", "apply_transform", "apply_transform_moved", "attacks",
    "backlight", "camera", "cap_shadow", "color_cast", "defocus", "dim", "empty_scene",
    "face_landmarks", "get_transform", "hair_over_eyes", "jpeg", "lighting", "low_resolution",
    "mask", "motion_blur", "occlusion", "off_center", "overexpose", "printed_photo", "rotate",
    "sunglasses", "transform_names",
]
