"""Erasure of a deleted student's training copies from the feedback datasets already written.

The feedback sink (``trainer.feedback``) writes each dataset version as

    <training bucket>/feedback/v{N}/samples/<name>
    <training bucket>/feedback/v{N}/manifest.json

The layout is defined here, not in the sink: the sink that writes it and the erasure that
scrubs it must agree, and the core cannot import an application. Versions built after a
deletion leave the student out by themselves (their review frames are gone, so the sink
counts FRAME_UNAVAILABLE); only the versions already written need scrubbing.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from examgate.core.ports import ObjectStore

log = logging.getLogger("examgate.erasure")

DATASET_PREFIX = "feedback"
MANIFEST = "manifest.json"
UNKNOWN = "unknown"  # the condition counted for a sample whose check-in named none


def manifest_key(version: int, prefix: str = DATASET_PREFIX) -> str:
    """Where the manifest of dataset version ``version`` lives in the training bucket."""
    return f"{prefix}/v{version}/{MANIFEST}"


@dataclass(frozen=True)
class Erased:
    """What an erasure took out of the training bucket."""

    samples: int = 0  # manifest entries removed, their objects with them
    versions: int = 0  # manifests rewritten
    unreadable: tuple[str, ...] = ()  # manifests that are not JSON: not scrubbed


def names(sample: Any, student_id: str) -> bool:
    """Whether a manifest entry is a training copy of ``student_id``: labelled with them, or
    taken at a check-in that claimed their id (an impostor's face, but their check-in)."""
    return isinstance(sample, dict) and student_id in (sample.get("identity"),
                                                       sample.get("claimed_student_id"))


def erase_training_copies(objects: ObjectStore, bucket: str, student_id: str,
                          prefix: str = DATASET_PREFIX) -> Erased:
    """Delete the samples naming ``student_id`` from every dataset version under ``prefix``
    and rewrite each manifest without them; a second run finds nothing to do.

    ObjectStoreError (the store is unreachable) propagates: the caller retries the whole
    erasure, which picks up where it stopped.
    """
    pattern = re.compile(rf"^{re.escape(prefix)}/v\d+/{re.escape(MANIFEST)}$")
    samples = versions = 0
    unreadable = []
    for key in objects.keys(bucket, f"{prefix}/v"):
        if not pattern.match(key):
            continue
        try:
            doc = json.loads(objects.get(bucket, key))
        except ValueError:  # not UTF-8 or not JSON: no trainer can read it either
            doc = None
        if not (isinstance(doc, dict) and isinstance(doc.get("samples"), list)):
            log.warning("erasure: %s/%s is not a readable manifest; its samples cannot be "
                        "told apart and are left as they are", bucket, key)
            unreadable.append(key)
            continue
        removed = _scrub(objects, bucket, key, doc, student_id)
        samples += removed
        versions += removed > 0
    return Erased(samples, versions, tuple(unreadable))


def _scrub(objects: ObjectStore, bucket: str, key: str, doc: dict[str, Any],
           student_id: str) -> int:
    """Remove the entries naming ``student_id`` from one manifest; how many."""
    folder = key.rsplit("/", 1)[0]
    gone = [s for s in doc["samples"] if names(s, student_id)]
    if not gone:
        return 0
    left = [s for s in doc["samples"] if not names(s, student_id)]
    still_named = {k for s in left for k in _object_keys(folder, s)}
    # Objects before the manifest: a failure in between leaves a manifest that still names
    # the student, so a replay finds the entries and finishes; the other order could leave
    # samples that no manifest points to any more.
    for doomed in sorted({k for s in gone for k in _object_keys(folder, s)} - still_named):
        objects.delete(bucket, doomed)
    doc["samples"] = left
    doc["counts"] = _recount(doc.get("counts"), gone, len(left))
    objects.put(bucket, key, json.dumps(doc, indent=1).encode(), "application/json")
    return len(gone)


def _object_keys(folder: str, sample: Any) -> set[str]:
    """The objects of an entry: its ``key`` under the version folder and its ``object_key``,
    each only when it stays inside that folder (a manifest is not trusted to aim elsewhere)."""
    if not isinstance(sample, dict):
        return set()
    candidates = [f"{folder}/{sample['key']}" if isinstance(sample.get("key"), str) else None,
                  sample.get("object_key")]
    return {k for k in candidates if isinstance(k, str) and k.startswith(f"{folder}/")
            and ".." not in PurePosixPath(k).parts and k != f"{folder}/{MANIFEST}"}


def _recount(counts: Any, gone: list[dict[str, Any]], left: int) -> dict[str, Any]:
    """The counts of the samples left, plus how many were erased (without saying whose).

    What the build saw (verdicts, skips) stays as it was: those counts name nobody.
    """
    counts = dict(counts) if isinstance(counts, dict) else {}
    counts["samples"] = left
    counts["erased"] = int(counts.get("erased", 0)) + len(gone)
    for s in gone:
        label = "SAME_PERSON" if s.get("verdict") == "SAME_PERSON" else "IMPOSTOR"
        _take_one(counts.get("by_label"), label)
        _take_one(counts.get("by_identity"), s.get("identity"))
        by_condition = counts.get("by_condition")
        condition = s.get("condition") or UNKNOWN
        if isinstance(by_condition, dict):
            _take_one(by_condition.get(condition), s.get("verdict"))
            if by_condition.get(condition) == {}:
                del by_condition[condition]
    return counts


def _take_one(counter: Any, key: Any) -> None:
    """One less of ``key`` in a JSON counter; the key goes when none is left."""
    if not isinstance(counter, dict) or key not in counter:
        return
    counter[key] = int(counter[key]) - 1
    if counter[key] <= 0:
        del counter[key]
