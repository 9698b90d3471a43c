"""A student's photos change: templates of model versions not loaded now must not survive.

Issue 12, item 4: student A enrolled by mistake with B's photo under v1; v2 promoted; A's
photo replaced (only v2 is loaded, so only v2 is rebuilt); rollback to v1: B claiming A's
id was ACCEPTed from the stale v1 template.
"""

from __future__ import annotations

import os

import numpy as np

from examgate.adapters.objectstore import MemoryObjectStore
from examgate.adapters.templates import MemoryTemplateStore
from examgate.core import events
from examgate.core.crypto import Sealer
from examgate.core.enrollment import Enroller
from examgate.core.matching import Analysis
from examgate.core.policy import Thresholds

RNG = np.random.default_rng(12)
FACES = {name: (v / np.linalg.norm(v)).astype(np.float32)
         for name, v in (("anna", RNG.normal(size=128)), ("bert", RNG.normal(size=128)))}


class _Version:
    thresholds = Thresholds(accept=0.5, reject=0.3)
    liveness_model = None

    def __init__(self, version: str) -> None:
        self.model_version = version

    def analyse(self, image: bytes, burst=(), *, enrolling=False) -> Analysis:
        return Analysis(1, {}, (), FACES[image.decode()], np.zeros((32, 32), np.uint8), {})


def _request(action: str, photo: bytes) -> dict:
    return events.enrollment(student_id="anna", action=action,
                             images=[events.inline_frame(photo)])


def test_new_photos_drop_the_templates_of_versions_not_rebuilt_now():
    store = MemoryTemplateStore()
    enroller = Enroller(store, MemoryObjectStore(), Sealer(os.urandom(32)), "enrollment",
                        "frames")
    v1, v2 = _Version("1"), _Version("2")
    enroller.apply(_request("REPLACE", b"bert"), [b"bert"], [v1, v2])  # the wrong photo
    assert store.get("anna", "1") is not None and store.get("anna", "2") is not None

    enroller.apply(_request("REPLACE", b"anna"), [b"anna"], [v2])  # only v2 loaded now
    fixed = store.get("anna", "2")
    assert fixed is not None and float(fixed.embedding @ FACES["anna"]) > 0.99
    # The v1 template was Bert's face: it must not wait for a rollback to v1.
    assert store.get("anna", "1") is None
    assert "anna" not in store.students("1")


def test_an_add_also_leaves_no_template_without_the_new_photos():
    store = MemoryTemplateStore()
    enroller = Enroller(store, MemoryObjectStore(), Sealer(os.urandom(32)), "enrollment",
                        "frames")
    enroller.apply(_request("REPLACE", b"anna"), [b"anna"], [_Version("1"), _Version("2")])
    enroller.apply(_request("ADD", b"anna"), [b"anna"], [_Version("2")])
    assert store.get("anna", "1") is None and store.get("anna", "2") is not None
