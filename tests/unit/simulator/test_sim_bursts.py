"""Bursts in the simulator: instruments in the plan, rendered probes, and the PAD report."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest
from pydantic import ValidationError
from rich.console import Console

from examgate.core.codec import EventCodec
from simulator import driver
from simulator.cohort import Person
from simulator.driver import Probe
from simulator.report import compute_report, print_summary, render_html, row_from
from simulator.run import headline_rates, render_probe, render_probes
from simulator.scenario import PlannedCheckIn, ProbeMix, Scenario, plan_checkins


def scenario(probes: list[dict], **overrides: Any) -> Scenario:
    data = {"name": "b", "seed": 3, "cohort_size": 4, "checkins": 24, "gates": 2,
            "arrival": {"process": "steady", "rate_per_s": 10}, "probes": probes, **overrides}
    return Scenario.model_validate(data)


def people(prefix: str, n: int, images: tuple[str, ...] = ()) -> list[Person]:
    return [Person(f"{prefix}_{i}", images or (f"/lfw/{prefix}_{i}_1.jpg",
                                               f"/lfw/{prefix}_{i}_2.jpg"), None)
            for i in range(n)]


MIX = [{"kind": "genuine", "weight": 3}, {"kind": "printed_photo", "weight": 1},
       {"kind": "replay", "weight": 1}, {"kind": "no_face", "weight": 1},
       {"kind": "presentation_attack", "instrument": "phone_replay", "weight": 1,
        "instrument_params": {"bezel_visible": False}},
       {"kind": "presentation_attack", "instrument": "cutout_print", "weight": 1,
        "transforms": ["dim"]}]


def test_plans_with_instruments_are_deterministic() -> None:
    s = scenario(MIX)
    students, others = people("s", 4), people("v", 3)
    a = plan_checkins(s, students, others)
    assert a == plan_checkins(s, students, others)
    assert a != plan_checkins(s, students, others, np.random.default_rng(4))
    assert {p.condition for p in a} == {
        "genuine", "printed_photo", "replay", "no_face", "presentation_attack:phone_replay",
        "presentation_attack:cutout_print+dim"}
    for p in a:
        assert p.burst_frames == 4
        expected = {"genuine": "bona_fide", "printed_photo": "printed_photo_handheld",
                    "replay": None, "no_face": None}.get(p.probe_kind, p.attack)
        assert p.instrument == expected
        if p.probe_kind == "presentation_attack":
            assert p.source_image == f"/lfw/{p.claimed_student_id}_1.jpg"  # the enrolled one
            assert not p.is_genuine and p.attack in ("phone_replay", "cutout_print")
            assert [st.name for st in p.steps] == (["dim"] if p.attack == "cutout_print" else [])
        if p.attack == "phone_replay":
            assert p.instrument_params["bezel_visible"] is False
            assert p.instrument_params["width"] == 640  # completed with the camera defaults
    assert a[0].as_record()["instrument_params"] == a[0].instrument_params
    assert len({p.burst_rng().integers(1 << 30) for p in a}) == len(a)


def test_printed_photo_single_frame_is_as_before_bursts() -> None:
    mix = [{"kind": "printed_photo", "weight": 1}, {"kind": "genuine", "weight": 1},
           {"kind": "presentation_attack", "instrument": "tablet_replay", "weight": 1}]
    one, burst = (plan_checkins(scenario(mix, burst_frames=n), people("s", 4), [])
                  for n in (0, 4))
    for p, q in zip(one, burst, strict=True):  # same people, images and seeds either way
        assert (p.claimed_student_id, p.source_image, p.seed) == (q.claimed_student_id,
                                                                 q.source_image, q.seed)
        if p.probe_kind == "printed_photo":
            assert [st.name for st in p.steps] == ["printed_photo"] and q.steps == ()
            assert (p.attack, p.instrument) == ("printed_photo", None)
            assert q.attack == q.instrument == "printed_photo_handheld"
        elif p.probe_kind == "genuine":
            assert p.instrument is None and q.instrument == "bona_fide"
        else:  # an attack instrument still renders the one frame
            assert p.instrument == q.instrument == "tablet_replay"
    assert scenario(mix).burst_frames == 4


def test_condition_labels() -> None:
    def label(**kw: Any) -> str:
        return ProbeMix.model_validate({"weight": 1, **kw}).condition

    assert label(kind="printed_photo", instrument="cutout_print") == "printed_photo@cutout_print"
    assert label(kind="printed_photo", instrument="printed_photo_handheld") == "printed_photo"
    assert label(kind="genuine", instrument="bona_fide", transforms=["dim"]) == "genuine:dim"
    assert label(kind="presentation_attack", instrument="phone_replay",
                 label="phones") == "phones"


@pytest.mark.parametrize("probe, match", [
    ({"kind": "genuine", "instrument": "hologram"}, "unknown burst instrument"),
    ({"kind": "presentation_attack", "instrument": "bona_fide"}, "attack `instrument`"),
    ({"kind": "presentation_attack"}, "attack `instrument`"),
    ({"kind": "genuine", "instrument": "phone_replay"}, "live person"),
    ({"kind": "impostor_random", "instrument": "cutout_print"}, "live person"),
    ({"kind": "printed_photo", "instrument": "phone_replay"}, "print instrument"),
    ({"kind": "replay", "instrument": "phone_replay"}, "takes no instrument"),
    ({"kind": "no_face", "instrument_params": {"noise": 1}}, "without an instrument"),
    ({"kind": "presentation_attack", "instrument": "phone_replay",
      "instrument_params": {"bezel": 3}}, "bezel"),
    ({"kind": "genuine", "instrument_params": {"face_px": 5}}, "face_px"),
])
def test_bad_instruments_are_refused(probe: dict, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        scenario([{"weight": 1, **probe}])


def test_burst_frames_bounds() -> None:
    for n in (-1, 9):
        with pytest.raises(ValidationError, match="burst_frames"):
            scenario(MIX, burst_frames=n)


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """Two LFW-like 250 x 250 portraits (a face-ish oval on a background)."""
    out = []
    for i in range(2):
        rng = np.random.default_rng(i)
        img = np.full((250, 250, 3), (90 + 40 * i, 110, 140), np.uint8)
        cv2.ellipse(img, (125, 120), (48, 64), 0, 0, 360, (140, 170, 210), -1)
        for x in (105, 145):
            cv2.circle(img, (x, 108), 6, (40, 40, 40), -1)
        noisy = cv2.add(img, rng.integers(0, 12, img.shape, dtype=np.uint8))
        path = tmp_path_factory.mktemp("lfw") / f"p_{i}.jpg"
        cv2.imwrite(str(path), noisy)
        out.append(str(path))
    return out[0], out[1]


def decode(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_render_probe_sends_a_burst(photos: tuple[str, str]) -> None:
    mix = [{"kind": "genuine", "weight": 1, "transforms": ["rotate"]},
           {"kind": "replay", "weight": 1},
           {"kind": "presentation_attack", "instrument": "screen_replay_video", "weight": 1}]
    plan = plan_checkins(scenario(mix, checkins=3, cohort_size=1), people("s", 1, photos), [])
    for p in plan:
        primary, burst = render_probe(p)
        assert len(burst) == 4
        assert sum(map(len, [primary, *burst])) < 1_000_000
        frames = [decode(b) for b in (primary, *burst)]
        if p.probe_kind == "replay":  # the photo itself, without motion
            assert burst == [primary] * 4 and frames[0].shape == (250, 250, 3)
        else:
            assert all(f.shape == (480, 640, 3) for f in frames)
            assert len(set(burst)) == 4
    again = list(render_probes(plan, workers=1))
    assert again == [render_probe(p) for p in plan]  # seeded: the same bytes every time


def test_render_probe_single_frame(photos: tuple[str, str]) -> None:
    mix = [{"kind": "genuine", "weight": 1}, {"kind": "printed_photo", "weight": 1}]
    plan = plan_checkins(scenario(mix, checkins=2, cohort_size=1, burst_frames=0),
                         people("s", 1, photos), [])
    for p in plan:
        primary, burst = render_probe(p)
        assert burst == [] and decode(primary).shape == (250, 250, 3)


def test_replay_sends_the_extra_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[dict] = []

    class Publisher:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def publish(self, topic: str, key: str, name: str, record: dict) -> None:
            EventCodec().encode(name, record)  # a valid CheckIn
            sent.append(record)

        def flush(self) -> SimpleNamespace:
            return SimpleNamespace(failed=[])

    monkeypatch.setattr(driver, "EventPublisher", Publisher)
    collector = SimpleNamespace(decisions={}, wait_for=lambda ids, timeout, progress: set())
    settings = SimpleNamespace(kafka=SimpleNamespace(topics=SimpleNamespace(checkins="c")))
    probes = [Probe("gate-01", "s_0", b"first", 0.0, {}, (b"a", b"b")),
              Probe("gate-02", "s_1", b"only", 0.0)]
    driver.replay(settings, probes, "exam", collector, progress_bar=False)  # type: ignore[arg-type]
    assert [[f["data"] for f in r["extra_frames"]] for r in sent] == [[b"a", b"b"], []]
    assert sent[0]["frame"]["data"] == b"first"


def pad_rows() -> list[dict]:
    rows: list[dict] = []

    def add(condition: str, outcome: str | None, reason: str, verdict: str | None,
            attack: str | None = None, kind: str = "genuine") -> None:
        rows.append({"checkin_id": f"c{len(rows)}", "condition": condition, "probe_kind": kind,
                     "is_genuine": attack is None and kind == "genuine", "attack": attack,
                     "outcome": outcome, "reason": reason, "liveness_verdict": verdict,
                     "liveness_score": None if verdict is None else 0.5})

    pa = "presentation_attack"
    # phone_replay: 4 decided; 2 passed liveness (one of them even accepted), one REVIEWed
    # as uncertain, one caught; one more never decided.
    add(f"{pa}:phone_replay", "ACCEPT", "MATCH", "LIVE", "phone_replay", pa)
    add(f"{pa}:phone_replay", "REVIEW", "LOW_QUALITY", "LIVE", "phone_replay", pa)
    add(f"{pa}:phone_replay", "REVIEW", "LIVENESS_UNCERTAIN", "UNCERTAIN", "phone_replay", pa)
    add(f"{pa}:phone_replay", "REJECT", "PRESENTATION_ATTACK", "ATTACK", "phone_replay", pa)
    add(f"{pa}:phone_replay", None, "", None, "phone_replay", pa)
    # cutout_print: 2 caught, 1 without a liveness record (an old decision).
    add(f"{pa}:cutout_print", "REJECT", "PRESENTATION_ATTACK", "ATTACK", "cutout_print", pa)
    add(f"{pa}:cutout_print", "REJECT", "PRESENTATION_ATTACK", "ATTACK", "cutout_print", pa)
    add(f"{pa}:cutout_print", "REVIEW", "LIVENESS_UNCERTAIN", None, "cutout_print", pa)
    add("replay", "REJECT", "PRESENTATION_ATTACK", "ATTACK", "replay", "replay")
    # Clean genuine: 6 LIVE, 2 UNCERTAIN (REVIEW), 1 ATTACK (REJECT), 1 NOT_CHECKED.
    for _ in range(6):
        add("genuine", "ACCEPT", "MATCH", "LIVE")
    add("genuine", "REVIEW", "LIVENESS_UNCERTAIN", "UNCERTAIN")
    add("genuine", "REVIEW", "LIVENESS_UNCERTAIN", "UNCERTAIN")
    add("genuine", "REJECT", "PRESENTATION_ATTACK", "ATTACK")
    add("genuine", "REVIEW", "NO_FACE", "NOT_CHECKED")
    # Not clean genuine: out of the BPCER.
    add("genuine:dim", "REVIEW", "LIVENESS_UNCERTAIN", "UNCERTAIN")
    add("impostor_random", "REJECT", "NO_MATCH", "LIVE", kind="impostor_random")
    return rows


def test_pad_report_numbers() -> None:
    pad = compute_report(pad_rows())["pad"]
    assert pad["attempts"] == {"cutout_print": 3, "phone_replay": 4, "replay": 1}
    assert pad["family"] == {"cutout_print": "print", "phone_replay": "screen",
                             "replay": "digital"}
    phone = pad["apcer"]["phone_replay"]
    assert (phone["k"], phone["n"], phone["rate"]) == (2, 4, 0.5)  # the REVIEWed LIVE counts
    assert (pad["apcer"]["cutout_print"]["k"], pad["apcer"]["cutout_print"]["n"]) == (0, 2)
    assert pad["apcer_max"]["attack"] == "phone_replay" and pad["apcer_max"]["rate"] == 0.5
    assert pad["outcomes"]["phone_replay"] == {
        "accept": 1, "review": 2, "reject": 1, "accepted": pad["outcomes"]["phone_replay"][
            "accepted"]}
    assert pad["outcomes"]["phone_replay"]["accepted"]["rate"] == 0.25
    assert pad["verdicts"]["phone_replay"] == {"LIVE": 2, "UNCERTAIN": 1, "ATTACK": 1,
                                               "NOT_CHECKED": 0}
    assert (pad["bpcer"]["k"], pad["bpcer"]["n"]) == (4, 10)
    assert (pad["bpcer_review"]["k"], pad["bpcer_reject"]["k"]) == (2, 1)
    assert pad["bona_fide_verdicts"]["LIVE"] == 6
    assert pad["unjudged"] == 1


def test_pad_report_without_attacks_or_liveness() -> None:
    rows = [r | {"liveness_verdict": None} for r in pad_rows() if r["attack"] is None]
    pad = compute_report(rows)["pad"]
    assert pad["attempts"] == {} and pad["apcer_max"] is None
    assert pad["bpcer"]["rate"] is None and pad["unjudged"] == 10
    assert "No presentation attacks" in render_html(compute_report(rows), {})


def test_pad_in_summary_html_and_metrics() -> None:
    rows = [r | {"scenario": "one" if i % 2 else "two"} for i, r in enumerate(pad_rows())]
    report = compute_report(rows)
    assert set(report["pad_by_scenario"]) == {"one", "two"}
    console = Console(record=True, width=160)
    print_summary(report, console)
    text = console.export_text()
    assert "Presentation attacks" in text and "phone_replay" in text
    assert "BPCER (clean genuine not LIVE) 40.0%" in text
    page = render_html(report, {})
    assert "APCER (liveness LIVE)" in page and "cutout_print" in page
    metrics = headline_rates(report)
    assert metrics["pad_bpcer"] == 0.4 and metrics["pad_apcer_max"] == 0.5


def test_row_from_reads_liveness() -> None:
    planned = PlannedCheckIn(
        index=0, checkin_id="x-1", exam_id="e", gate_id="gate-01", send_offset_s=0.0,
        claimed_student_id="Ann_A", claimed_enrolled=True, source_image="/a.jpg", steps=(),
        seed=1, probe_kind="presentation_attack", condition="presentation_attack:phone_replay",
        is_genuine=False, attack="phone_replay", actual_person="Ann_A", claimed_gender=None,
        actual_gender=None, instrument="phone_replay", burst_frames=4)
    liveness = {"verdict": "ATTACK", "score": 0.08, "pass_threshold": 0.7,
                "attack_threshold": 0.2, "frames": 5, "single_frame": False,
                "signals": {"motion": 0.1}, "fired": ["motion"], "models": ""}
    row = row_from(planned, {"outcome": "REJECT", "reason": "PRESENTATION_ATTACK",
                             "liveness": liveness})
    assert (row.liveness_verdict, row.liveness_score, row.instrument) == ("ATTACK", 0.08,
                                                                          "phone_replay")
    old = row_from(planned, {"outcome": "REVIEW", "reason": "NO_FACE", "liveness": None})
    assert old.liveness_verdict is None and old.instrument == "phone_replay"
    assert planned.as_record()["burst_frames"] == 4


def test_probe_without_burst() -> None:
    assert Probe("g", "s", b"x", 0.0).extra_frames == ()
