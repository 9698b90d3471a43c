"""The liveness evidence on the console: the verdict and score against its thresholds, the
signals that fired, the burst strip (linked like the frame), "not checked" on version 1
decisions, and presentation attacks listed as alerts."""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Callable, Iterator
from typing import Any

import fastavro
import pytest
from fastapi.testclient import TestClient

from dashboard import present
from dashboard.app import create_app
from dashboard.images import ImageLinks, ImageUnavailable
from dashboard.ports import ConsolePorts
from dashboard.settings import ConsoleSettings
from examgate.adapters.objectstore import MemoryObjectStore
from examgate.core.codec import SCHEMA_DIR, EventCodec, history_path
from examgate.core.crypto import Sealer
from examgate.core.settings import Settings

MakeDecision = Callable[..., dict[str, Any]]
DECISIONS = "gate.decisions"


def _every_exam(_exam_id: str) -> bool:
    """A reader of every exam (per-exam scopes are tested in test_console_exam_scopes.py)."""
    return True

UNCERTAIN = {"verdict": "UNCERTAIN", "score": 0.55, "pass_threshold": 0.8,
             "attack_threshold": 0.3, "frames": 5, "single_frame": False,
             "signals": {"antispoof": 0.62, "motion_px": 1.4, "planarity": 0.93, "edges": 0.71,
                         "moire": 0.12, "glare": 0.05, "depth_cue": 0.25},
             "fired": ["planar_motion", "edges"], "models": "antispoof_v2:4eed38f0"}
ATTACK = {**UNCERTAIN, "verdict": "ATTACK", "score": 0.08, "fired": ["moire", "glare", "edges"]}
SINGLE = {**UNCERTAIN, "frames": 1, "single_frame": True, "signals": {"antispoof": 0.62},
          "fired": ["antispoof"]}


def _checked(d: dict[str, Any]) -> dict[str, Any]:
    EventCodec().encode("Decision", d)  # the test records are what the verifier can publish
    return d


def _burst_urls(page: str) -> list[str]:
    return [chunk.rsplit('src="', 1)[1].split('"')[0]
            for chunk in page.split('class="burst-frame"')[:-1]]


def test_review_card_shows_the_liveness_evidence_and_burst(
        login: Callable[[str], TestClient], ports: ConsolePorts,
        make_decision: MakeDecision) -> None:
    client = login("pat")
    d = _checked(make_decision(reason="LIVENESS_UNCERTAIN", similarity=None,
                               liveness=UNCERTAIN, burst=4))
    ports.source.push(DECISIONS, "Decision", d)
    page = client.get("/review").text
    assert "Liveness uncertain" in page  # the reason in words
    assert "0.550" in page and "attack &lt; 0.30" in page and "live ≥ 0.80" in page
    assert '<span class="signal-chip">planar motion</span>' in page
    assert '<span class="signal-chip">paper/screen edge</span>' in page
    assert "Planar motion</th><td>0.930" in page and "Motion</th><td>1.4 px" in page
    assert "Depth cue</th><td>0.250" in page  # a signal the console has no words for yet
    assert "antispoof_v2:4eed38f0" in page and "single-frame gate" not in page
    assert _burst_urls(page) == [
        f"http://objects.test/examgate-frames/review/s-001/{d['event_id']}-{k}.jpg?expires=120"
        for k in range(1, 5)]
    assert "burst of 4" in page


def test_single_frame_decision_says_so(login: Callable[[str], TestClient], ports: ConsolePorts,
                                       make_decision: MakeDecision) -> None:
    client = login("pat")
    ports.source.push(DECISIONS, "Decision",
                      _checked(make_decision(reason="LIVENESS_UNCERTAIN", liveness=SINGLE)))
    page = client.get("/review").text
    assert "single-frame gate" in page
    assert '<span class="signal-chip">single-frame detector</span>' in page
    assert 'class="burst-frame"' not in page


def _v1_bytes(record: dict[str, Any]) -> bytes:
    """A Decision as a version-1 verifier wrote it (no liveness, no burst)."""
    schema = fastavro.parse_schema(json.loads(history_path("Decision", 1, SCHEMA_DIR).read_text()))
    buf = io.BytesIO()
    buf.write(b"EG" + struct.pack(">BB", 1, len("Decision")) + b"Decision" + struct.pack(">H", 1))
    v1 = {k: v for k, v in record.items() if k not in ("liveness", "review_burst")}
    fastavro.schemaless_writer(buf, schema, v1, strict_allow_default=True)
    return buf.getvalue()


def test_version_1_decision_shows_liveness_not_checked(login: Callable[[str], TestClient],
                                                       ports: ConsolePorts,
                                                       make_decision: MakeDecision) -> None:
    client = login("pat")
    event = EventCodec().decode(_v1_bytes(make_decision()))
    assert event.version == 1 and event.record["liveness"] is None
    ports.source.push(DECISIONS, "Decision", event.record)
    page = client.get("/review").text
    assert "Liveness not checked" in page and "an older record" in page
    assert 'class="burst' not in page and "0.410" in page
    # A hand-built record without the new fields at all reads the same.
    bare = {k: v for k, v in make_decision().items() if k not in ("liveness", "review_burst")}
    ports.source.push(DECISIONS, "Decision", bare)
    assert client.get("/review").text.count("Liveness not checked") == 2


# -- the burst goes through the frame's access checks ------------------------------------


@pytest.fixture
def proxied(settings: Settings, console_settings: ConsoleSettings,
            ports: ConsolePorts) -> Iterator[TestClient]:
    """The console with frame_links = proxy: frames and bursts through signed console links."""
    proxy = console_settings.model_copy(update={"frame_links": "proxy"})
    with TestClient(create_app(settings, proxy, ports), base_url="http://testserver") as c:
        yield c


def test_proxied_burst_links_are_for_their_user_only(
        proxied: TestClient, ports: ConsolePorts, make_decision: MakeDecision,
        passwords: dict[str, str], csrf_of: Callable[[str], str]) -> None:
    d = make_decision(reason="LIVENESS_UNCERTAIN", liveness=UNCERTAIN, burst=2)
    assert isinstance(ports.objects, MemoryObjectStore)
    for ref in (d["review_frame"], *d["review_burst"]):
        ports.objects.put(ref["bucket"], ref["key"], b"frame" if ref is d["review_frame"]
                          else f"burst {ref['key'][-5]}".encode())

    def login(user: str) -> str:
        page = proxied.get("/login").text
        proxied.post("/login", data={"username": user, "password": passwords[user],
                                     "csrf": csrf_of(page), "next": "/review"})
        return proxied.get("/review").text

    ports.source.push(DECISIONS, "Decision", d)
    page = login("pat")
    first, second = _burst_urls(page)
    assert first.startswith("/img/") and second.startswith("/img/")
    assert proxied.get(first).content == b"burst 1" and proxied.get(second).content == b"burst 2"
    assert proxied.get(first).headers["cache-control"] == "private, no-store"
    proxied.post("/logout", data={"csrf": csrf_of(page)})
    assert proxied.get(first).status_code == 401
    login("ada")
    assert proxied.get(first).status_code == 404  # made for pat


@pytest.fixture
def store() -> MemoryObjectStore:
    return MemoryObjectStore()


def test_burst_links_are_checked_like_the_frame(store: MemoryObjectStore,
                                                make_decision: MakeDecision,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    links = ImageLinks(store, Sealer(b"k" * 32), "x" * 32, enrollment_bucket="enr",
                       frame_ttl_s=30, photo_ttl_s=3600, frame_mode="proxy")
    d = make_decision(burst=1)
    ref = d["review_burst"][0]
    store.put(ref["bucket"], ref["key"], b"burst 1")
    (picture,) = links.burst(d, "pat")
    assert picture.url is not None
    token = picture.url.removeprefix("/img/")
    assert links.open(token, "pat", _every_exam) == (b"burst 1", "image/jpeg")
    with pytest.raises(ImageUnavailable, match="someone else"):
        links.open(token, "ada", _every_exam)
    store.put(ref["bucket"], ref["key"], b"another picture")
    with pytest.raises(ImageUnavailable, match="checksum"):
        links.open(token, "pat", _every_exam)
    # Burst links last as long as frame links, not as long as photo links.
    from itsdangerous.timed import TimestampSigner

    real = TimestampSigner.get_timestamp
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: real(self) - 31)
    old = links.burst(d, "pat")[0].url
    monkeypatch.undo()
    assert old is not None
    with pytest.raises(ImageUnavailable, match="expired"):
        links.open(old.removeprefix("/img/"), "pat", _every_exam)
    assert links.burst(make_decision(), "pat") == []


# -- presentation attacks are alerts ----------------------------------------------------


def test_presentation_attack_is_listed_as_an_alert(login: Callable[[str], TestClient],
                                                   ports: ConsolePorts,
                                                   make_decision: MakeDecision,
                                                   csrf_of: Callable[[str], str]) -> None:
    client = login("pat")
    attack = _checked(make_decision("REJECT", reason="PRESENTATION_ATTACK", similarity=None,
                                    liveness=ATTACK, burst=3))
    accept = make_decision("ACCEPT", reason="MATCH", frame=False)
    for d in (attack, accept):
        ports.source.push(DECISIONS, "Decision", d)
    eid = attack["event_id"]

    live = client.get("/live").text
    assert "Presentation attack (photo or screen)" in live
    assert f'href="/alerts#alert-{eid}"' in live
    assert 'id="alert-count">1<' in live

    page = client.get("/alerts").text
    assert f'id="alert-{eid}"' in page and accept["event_id"] not in page
    assert f"http://objects.test/examgate-frames/review/s-001/{eid}.jpg" in page
    assert len(_burst_urls(page)) == 3
    assert "0.080" in page and '<span class="pill reject">Presentation attack</span>' in page
    for words in ("moiré", "glare", "paper/screen edge"):
        assert f'<span class="signal-chip">{words}</span>' in page
    assert "liveness is judged before the face is compared" in page
    assert client.get(f"/alerts/item/{eid}").status_code == 200
    assert client.get(f"/alerts/item/{accept['event_id']}").status_code == 404
    assert len(client.app.state.console.desk.queue) == 0  # an alert, not a queue item

    resp = client.post(f"/decisions/{eid}/dispute",
                       data={"csrf": csrf_of(page), "back": "alerts"}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/alerts"
    review = client.get("/review").text
    assert "Disputed by pat" in review and len(_burst_urls(review)) == 3
    assert "In the review queue" in client.get("/alerts").text


def test_alerts_need_a_login(client: TestClient) -> None:
    assert client.get("/alerts").status_code == 401
    assert client.get("/alerts/items").status_code == 401


def test_reason_and_signal_words() -> None:
    assert present.label("PRESENTATION_ATTACK") == "Presentation attack (photo or screen)"
    assert present.label("LIVENESS_UNCERTAIN") == "Liveness uncertain"
    assert present.label("NO_MATCH") == "No match"
    view = present.liveness_view(UNCERTAIN)
    assert (view.verdict, view.band, view.checked) == ("UNCERTAIN", "review", True)
    assert view.fired == ("planar motion", "paper/screen edge")
    assert [(r.label, r.fired) for r in view.signals][:4] == [
        ("Single-frame detector", False), ("Motion", False), ("Planar motion", True),
        ("Paper/screen edge", True)]
    assert view.x(view.attack_threshold) == 30.0 and view.x(1.7) == 100.0
    none = present.liveness_view(None)
    assert (none.verdict, none.checked, none.has_scale) == ("NOT_CHECKED", False, False)
    unscored = present.liveness_view({**UNCERTAIN, "verdict": "NOT_CHECKED", "score": None})
    assert not unscored.checked and unscored.note == "No valid live score was measured."


def test_review_card_says_why_a_face_did_not_pass(login: Callable[[str], TestClient],
                                                  ports: ConsolePorts,
                                                  make_decision: MakeDecision) -> None:
    client = login("pat")
    still = {**UNCERTAIN, "fired": [], "why": "too little motion",
             "signals": {"antispoof": 0.93, "motion_px": 0.2}}
    ports.source.push(DECISIONS, "Decision",
                      _checked(make_decision(reason="LIVENESS_UNCERTAIN", liveness=still,
                                             burst=4)))
    page = client.get("/review").text
    assert 'class="why-not-live"' in page and "too little motion" in page
    assert "held still" in page  # what it means for the proctor, in words
    # A version-3 record has no reason: nothing is invented for it.
    ports.source.push(DECISIONS, "Decision",
                      _checked(make_decision(reason="LIVENESS_UNCERTAIN", liveness=UNCERTAIN)))
    assert client.get("/review").text.count('class="why-not-live"') == 1
