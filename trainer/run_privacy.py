"""What a retrain run keeps of the students whose reviewed frames it trained on: nothing that
names them or shows their faces outside the training bucket.

The feedback dataset (``feedback/vN`` in the training bucket) is the one place that holds
students' frames and ids, and erasure (:mod:`examgate.core.erasure`) rewrites it when a
student is deleted. A run must not make copies that erasure cannot reach:

* the tracker gets a summary of the dataset (counts, its version and the manifest's
  SHA-256), never the manifest, whose samples name students;
* the model version's spec lists only the LFW identities it trained on (the simulator and
  the evaluations exclude those) and the *number* of feedback identities;
* after training (or a failure anywhere from the first frame mirrored on), the run folder
  drops the mirrored frames, the aligned training crops, the student ids in
  ``split.json``, and the checkpoint when feedback was trained on (its margin head holds one
  learned prototype per training identity, a template of each student); the exported ONNX
  backbone, which is what is registered, stays.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# Count tables of the manifest keyed by student id (or by a label naming one).
_NAMING = ("by_identity", "by_label")
# The training step's files in a run folder that can name or encode training identities.
CHECKPOINT = "checkpoint.pt"
SPLIT = "split.json"
TRAIN_FACES = "train_faces.npz"  # the aligned training crops handed to the trainer, with ids


def manifest_summary(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest as the tracker may keep it: counts and a digest, no student named."""
    samples = manifest.get("samples") or []
    counts = {k: v for k, v in (manifest.get("counts") or {}).items() if k not in _NAMING}
    return {
        "dataset": manifest.get("dataset"), "version": manifest.get("version"),
        "created_at": manifest.get("created_at"), "samples": len(samples),
        "identities": len({s.get("identity") for s in samples}),
        "manifest_sha256": hashlib.sha256(
            json.dumps(manifest, sort_keys=True, default=str).encode()).hexdigest(),
        "counts": counts,
    }


def split_identities(identities: Iterable[str], public: Iterable[str]
                     ) -> tuple[tuple[str, ...], int]:
    """(the identities that are public LFW people, how many others there are: students)."""
    known = set(public)
    names = list(dict.fromkeys(identities))
    shown = tuple(sorted(n for n in names if n in known))
    return shown, len(names) - len(shown)


def purge_feedback_copies(run_dir: Path, public: Iterable[str], *,
                          checkpoint: str = CHECKPOINT, split: str = SPLIT) -> list[str]:
    """Remove from ``run_dir`` what names or shows feedback students; returns what went."""
    gone: list[str] = []
    crops = run_dir / TRAIN_FACES  # deleted after a successful export; not after a failure
    if crops.is_file():
        crops.unlink()
        gone.append(TRAIN_FACES)
    mirror = run_dir / "feedback"
    if mirror.exists():
        shutil.rmtree(mirror)
        gone.append("feedback/")
    split_path = run_dir / split
    students = 0
    if split_path.is_file():
        doc = json.loads(split_path.read_text())
        shown, students = split_identities(doc.get("identities", []), public)
        if students:
            doc["identities"] = list(shown)
            doc["feedback_identities"] = students
            split_path.write_text(json.dumps(doc, indent=1))
            gone.append(f"{split}: {students} student id(s)")
    ckpt = run_dir / checkpoint
    if students and ckpt.is_file():
        ckpt.unlink()
        gone.append(checkpoint)
    return gone
