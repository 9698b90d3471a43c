"""Image links: decrypted enrolled photos, proxied frames checked against their checksum,
links that expire and belong to one user; and the score bar's geometry."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from dashboard import present
from dashboard.images import ImageLinks, ImageUnavailable
from examgate.adapters.objectstore import MemoryObjectStore
from examgate.core import events
from examgate.core.crypto import Sealer

KEY = b"k" * 32


def _every_exam(_exam_id: str) -> bool:
    """A reader of every exam (per-exam scopes are tested in test_console_exam_scopes.py)."""
    return True


@pytest.fixture
def store() -> MemoryObjectStore:
    return MemoryObjectStore()


def _links(store: MemoryObjectStore, mode: str = "proxy", ttl: int = 60) -> ImageLinks:
    return ImageLinks(store, Sealer(KEY), "x" * 32, enrollment_bucket="enr", frame_ttl_s=ttl,
                      photo_ttl_s=ttl, frame_mode=mode, max_photos=2)


def _token(url: str | None) -> str:
    assert url is not None and url.startswith("/img/")
    return url.removeprefix("/img/")


def test_enrolled_photos_are_decrypted_for_their_user(store: MemoryObjectStore) -> None:
    for i in range(3):
        key = f"students/s1/e-{i}.jpg.enc"
        store.put("enr", key, Sealer(KEY).seal(f"photo {i}".encode(), key))
    links = _links(store)
    pictures = links.enrolled("s1", "pat", "exam-42")
    assert len(pictures) == 2  # max_photos
    token = _token(pictures[0].url)
    assert links.open(token, "pat", _every_exam) == (b"photo 0", "image/jpeg")
    with pytest.raises(ImageUnavailable, match="someone else"):
        links.open(token, "ada", _every_exam)


def test_a_photo_moved_to_another_key_does_not_decrypt(store: MemoryObjectStore) -> None:
    store.put("enr", "students/s1/e-0.jpg.enc",
              Sealer(KEY).seal(b"other student", "students/s2/e-0.jpg.enc"))
    links = _links(store)
    with pytest.raises(ImageUnavailable):
        links.open(_token(links.enrolled("s1", "pat", "exam-42")[0].url), "pat", _every_exam)


def test_proxied_frame_is_checked(store: MemoryObjectStore,
                                  make_decision: Callable[..., dict[str, Any]]) -> None:
    d = make_decision()
    ref = events.object_ref("frames", "review/s-001/x.jpg", b"jpeg bytes")
    d["review_frame"] = ref
    store.put("frames", ref["key"], b"jpeg bytes")
    links = _links(store)
    token = _token(links.frame(d, "pat").url)
    assert links.open(token, "pat", _every_exam)[0] == b"jpeg bytes"
    store.put("frames", ref["key"], b"swapped")
    with pytest.raises(ImageUnavailable, match="checksum"):
        links.open(token, "pat", _every_exam)


def test_links_expire(store: MemoryObjectStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from itsdangerous.timed import TimestampSigner

    key = "students/s1/e-0.jpg.enc"
    store.put("enr", key, Sealer(KEY).seal(b"p", key))
    links = _links(store, ttl=30)
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 31)
    token = _token(links.enrolled("s1", "pat", "exam-42")[0].url)
    monkeypatch.undo()
    with pytest.raises(ImageUnavailable, match="expired"):
        links.open(token, "pat", _every_exam)
    with pytest.raises(ImageUnavailable):
        links.open(token[:-2] + "xx", "pat", _every_exam)


def test_missing_pictures_say_why(store: MemoryObjectStore,
                                  make_decision: Callable[..., dict[str, Any]]) -> None:
    links = _links(store, mode="presigned")
    assert links.enrolled("nobody", "pat", "exam-42")[0].missing == \
        "No enrolled photo for this student."
    reject = make_decision("REJECT", frame=False)
    assert "Only REVIEW decisions" in links.frame(reject, "pat").missing
    # MemoryObjectStore cannot presign: the card says so instead of breaking.
    assert links.frame(make_decision(), "pat").missing
    store.fail = True
    assert links.enrolled("s1", "pat", "exam-42")[0].missing == "The object store is unavailable."


def test_score_scale_and_quality_rows() -> None:
    scale = present.score_scale(0.41, {"accept": 0.52, "reject": 0.30})
    assert scale is not None and scale.band == "review"
    assert 0 < scale.reject_x < scale.score_x < scale.accept_x < 100
    assert present.score_scale(None, {"accept": 0.5, "reject": 0.3}) is None
    assert present.score_scale(-0.2, {"accept": 0.5, "reject": 0.3}).score_x >= 0
    rows = present.quality_rows({"face_count": 2, "sharpness": 3.0, "yaw_deg": None,
                                 "failed": ["MULTIPLE_FACES"]})
    assert [(r.label, r.value, r.failed) for r in rows] == [
        ("Faces found", "2", True), ("Sharpness", "3.0", False)]
    assert present.label("UNCERTAIN_MATCH") == "Uncertain match"
