"""Liveness (presentation-attack detection): is the face at the gate a live person,
or a photo or a screen held up to the camera?

Pure: arrays and a face in, a :class:`LivenessEvidence` out; the only I/O is
loading the two ONNX anti-spoofing models (checked by SHA-256). Signals:

* ``antispoof``: the learned single-frame detector (two MiniFASNets on wide crops).
* ``edges``, ``glare``, ``moire``: context cues of a re-captured image (:mod:`.cues`).
* ``motion_px``, ``planarity``, ``parallax_px``, ``surround_coherence``: does the
  face move like a flat sheet or like a head, and does its surround move with it
  (:mod:`.motion`; needs a burst of frames).

:mod:`.fusion` turns them into one score by written-down rules;
:mod:`examgate.core.policy` turns the score into a verdict.
"""

from __future__ import annotations

from examgate.vision.liveness.antispoof import ANTISPOOF_FILES, AntiSpoof
from examgate.vision.liveness.checker import LivenessChecker, LivenessEvidence, select_burst
from examgate.vision.liveness.fusion import SIGNALS, Fused, fuse

__all__ = ["ANTISPOOF_FILES", "SIGNALS", "AntiSpoof", "Fused", "LivenessChecker",
           "LivenessEvidence", "fuse", "select_burst"]
