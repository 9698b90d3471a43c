"""``examgate evaluate`` on a small folder of LFW people, through the served pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from examgate.adapters.registry import ModelBundle
from examgate.core.policy import ACCEPT, REVIEW, Thresholds
from examgate.core.settings import DataSettings, Settings
from examgate.models import evaluate_cli
from examgate.models.analyzer import analyzer_from_bundle
from examgate.models.evaluate import (
    PhotoSetError,
    read_labels,
    read_photo_set,
    run_evaluation,
    summarise,
)
from examgate.models.liveness_calibration import liveness_files
from examgate.vision.detectors import detector_files
from examgate.vision.model_files import locate_model, sha256_file

LFW = DataSettings().lfw_dir
PEOPLE = {"Colin_Powell": "male", "Tony_Blair": "male", "Jean_Chretien": "male",
          "Serena_Williams": "female", "Jennifer_Aniston": "female",
          "Gloria_Macapagal_Arroyo": "female"}
pytestmark = pytest.mark.skipif(not (LFW / "images").is_dir(), reason=f"no LFW at {LFW}")


SERVED = Thresholds(accept=0.43, reject=0.37)


def _served(thresholds: Thresholds = SERVED, **spec_extra: object):
    """The served pipeline with fixed thresholds (no calibration run in a unit test)."""
    settings = Settings()
    files = {**detector_files(settings.vision), "embedder": locate_model("sface").path,
             **liveness_files(settings)}
    spec = {"liveness": {"pass_threshold": 0.445, "attack_threshold": 0.051},
            "files": {role: {"name": p.name, "sha256": sha256_file(p)}
                      for role, p in files.items()}, **spec_extra}
    bundle = ModelBundle("test", "7", settings.vision.detector, "sface", files,
                         thresholds, spec)
    return analyzer_from_bundle(bundle, settings)


@pytest.fixture(scope="module")
def analyzer():
    """A version registered before mirrored templates (its spec does not name them)."""
    return _served()


@pytest.fixture(scope="module")
def mirroring():
    """A version whose templates are mirror-averaged (``mirror_templates`` in its spec)."""
    return _served(mirror_templates=True)


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    for person in PEOPLE:
        (root / person).mkdir(parents=True)
        for n in (1, 2, 3):
            name = f"{person}_{n:04d}.jpg"
            (root / person / name).symlink_to(LFW / "images" / person / name)
    (root / "notes.txt").write_text("a stray file beside the folders is ignored")
    return root


def _labels(tmp_path: Path) -> Path:
    path = tmp_path / "labels.csv"
    path.write_text("person,gender\n" + "".join(f"{p},{g}\n" for p, g in PEOPLE.items()))
    return path


def test_every_probe_is_claimed_as_itself_and_as_everyone_else(analyzer, photos, tmp_path):
    photo_set = read_photo_set(photos)
    ev = run_evaluation(analyzer, photo_set)
    r = summarise(ev, analyzer, read_labels(_labels(tmp_path)), liveness="assume-live")

    assert r["enrolled"] == 6 and r["probes"] == 12
    assert r["genuine"]["claims"] == 12 and r["impostor"]["claims"] == 12 * 5
    assert r["pairs"] == {"genuine": 12, "impostor": 60}
    assert r["far_at_accept"] == 0.0 and r["genuine_accept_rate"] >= 0.75
    assert r["rank1"] == 1.0 and r["rank1_probes"] == 12
    assert set(r["tar_at_far"]) == {"1e-3", "1e-4", "1e-5"}
    assert not r["far_resolvable"]["1e-4"]  # 60 impostor pairs cannot measure 1e-4
    women = r["slices"]["gender"]["female"]
    assert women["people"] == 3 and women["genuine_claims"] == 6
    assert women["impostor_claims"] == 6 * 2  # a woman's probe claiming another woman
    json.dumps(r)


def test_the_scores_are_the_image_pair_cosines_bench_lfw_computes(analyzer, photos):
    """Enrolling one image makes the template that image's embedding: the score of each
    claim is the cosine of the two images, as ``bench lfw`` scores the same pair."""
    photo_set = read_photo_set(photos)
    ev = run_evaluation(analyzer, photo_set)
    emb = {path: analyzer.analyse(path.read_bytes()).embedding
           for paths in photo_set.images.values() for path in paths}
    genuine, impostor = [], []
    for person, path in photo_set.probes():
        for other, enrolled in photo_set.enrollment.items():
            (genuine if other == person else impostor).append(float(emb[path] @ emb[enrolled]))
    assert np.allclose(np.sort(ev.scores[0]), np.sort(genuine), atol=1e-6)
    assert np.allclose(np.sort(ev.scores[1]), np.sort(impostor), atol=1e-6)


def test_with_mirrored_templates_a_claim_scores_the_template_against_the_probe(mirroring,
                                                                              photos):
    """What ``bench lfw --mirror-templates`` scores: the enrolled image's mirror-averaged
    template against the probe's one-pass embedding."""
    photo_set = read_photo_set(photos)
    ev = run_evaluation(mirroring, photo_set)
    templates = {p: mirroring.analyse(path.read_bytes(), enrolling=True).embedding
                 for p, path in photo_set.enrollment.items()}
    genuine, impostor = [], []
    for person, path in photo_set.probes():
        probe = mirroring.analyse(path.read_bytes()).embedding
        for other, template in templates.items():
            (genuine if other == person else impostor).append(float(probe @ template))
    assert np.allclose(np.sort(ev.scores[0]), np.sort(genuine), atol=1e-6)
    assert np.allclose(np.sort(ev.scores[1]), np.sort(impostor), atol=1e-6)
    one = photo_set.enrollment["Tony_Blair"].read_bytes()
    assert np.abs(mirroring.analyse(one, enrolling=True).embedding
                  - mirroring.analyse(one).embedding).max() > 1e-3


def test_a_version_without_mirrored_templates_enrolls_as_it_always_did(analyzer, photos):
    one = read_photo_set(photos).enrollment["Tony_Blair"].read_bytes()
    np.testing.assert_array_equal(analyzer.analyse(one, enrolling=True).embedding,
                                  analyzer.analyse(one).embedding)


def test_unusable_photos_are_reported_and_never_accepted(analyzer, photos):
    (photos / "Tony_Blair" / "Tony_Blair_0003.jpg").unlink()
    (photos / "Tony_Blair" / "Tony_Blair_0003.jpg").write_bytes(b"not a jpeg")
    (photos / "Jean_Chretien" / "Jean_Chretien_0002.jpg").unlink()
    (photos / "Jean_Chretien" / "Jean_Chretien_0002.jpg").symlink_to(photos / "gone.jpg")
    blank = photos / "Nobody"
    blank.mkdir()
    import cv2

    cv2.imwrite(str(blank / "Nobody_0001.png"), np.full((200, 200, 3), 127, np.uint8))
    cv2.imwrite(str(blank / "Nobody_0002.png"), np.full((200, 200, 3), 90, np.uint8))

    ev = run_evaluation(analyzer, read_photo_set(photos))
    r = summarise(ev, analyzer, {}, liveness="assume-live")
    assert "Nobody" in r["enrollment_failures"]
    assert "NO_USABLE_IMAGE" in r["enrollment_failures"]["Nobody"]
    problems = r["probe_problems"]  # (one news photo also shows a second face)
    assert (problems["unreadable"], problems["no face"]) == (2, 1)  # + a dangling link
    judged = list(zip(ev.claims.probe, ev.claims.outcome, ev.claims.reason, strict=True))
    # Nobody (not enrolled) claims each of the 6 enrolled people; so does Tony Blair's
    # unreadable photo: all 12 claims go to a proctor, none is accepted.
    nobody = [(o, why) for p, o, why in judged if p == "Nobody"]
    assert nobody == [(REVIEW, "NO_FACE")] * 6
    tony = [(o, why) for p, o, why in judged if p == "Tony_Blair"]
    assert tony.count((REVIEW, "NO_FACE")) == 6 and len(tony) == 12


def test_single_frame_liveness_is_applied_when_asked(analyzer, photos):
    single = run_evaluation(analyzer, read_photo_set(photos), liveness="single-frame")
    assumed = run_evaluation(analyzer, read_photo_set(photos))
    assert single.claims.claimed == assumed.claims.claimed  # the same claims, in order
    for was, now in zip(assumed.claims.outcome, single.claims.outcome, strict=True):
        assert now != ACCEPT or was == ACCEPT  # liveness only ever takes an ACCEPT away
    model = analyzer.liveness_model
    failing = [a for _, _, a in single.probes
               if a.liveness is not None and a.liveness.score < model.pass_threshold]
    assert failing  # news photos: some fail the single-frame detector...
    assert {"LIVENESS_UNCERTAIN", "PRESENTATION_ATTACK"} & set(single.claims.reason)  # ...said


def test_impostors_are_also_counted_as_if_they_were_not_enrolled(photos):
    """At a threshold low enough to let strangers in, most impostors are stopped because
    their own enrolled template fits their face better (the cohort check); the rate for
    stand-ins from outside, who have no template, is the threshold's alone."""
    lax = _served(Thresholds(accept=0.12, reject=0.08))
    served, without = (summarise(run_evaluation(lax, read_photo_set(photos), cohort_check=c),
                                 lax, {}, liveness="assume-live") for c in (True, False))
    assert served["far_at_accept_not_enrolled"] > served["far_at_accept"]
    assert served["impostor"]["review_reasons"].get("LOOKALIKE", 0) > \
        without["impostor"]["review_reasons"].get("LOOKALIKE", 0)
    assert without["far_at_accept"] > served["far_at_accept"]
    assert served["genuine"] == without["genuine"]  # own faces fit their own templates best


def test_the_command_writes_json_and_an_html_report(analyzer, photos, tmp_path, monkeypatch):
    monkeypatch.setattr(evaluate_cli, "_analyzer", lambda settings, model: analyzer)
    out, report = tmp_path / "r.json", tmp_path / "report"
    result = CliRunner().invoke(evaluate_cli_app(), [
        str(photos), "--json", str(out), "--labels", str(_labels(tmp_path)),
        "--report", str(report), "--max-impostor-claims", "30"])
    assert result.exit_code == 0, result.output
    r = json.loads(out.read_text())
    assert r["impostor"]["claims"] == 30 and r["pairs"]["impostor"] == 60  # sampled claims
    assert {"far_at_accept", "frr", "review_rate", "tar_at_far", "rank1", "slices"} <= set(r)
    assert r["far_at_accept_not_enrolled"] >= r["far_at_accept"]
    assert "far_at_accept_not_enrolled" in r["slices"]["gender"]["female"]
    page = (report / "index.html").read_text()
    assert "impostors not enrolled" in page and "By gender" in page and "data:image/png" in page


def test_bad_folders_and_lists_are_refused_with_the_reason(photos, tmp_path):
    with pytest.raises(PhotoSetError, match="not a folder"):
        read_photo_set(tmp_path / "missing")
    lonely = tmp_path / "one"
    (lonely / "Colin_Powell").mkdir(parents=True)
    (lonely / "Colin_Powell" / "a.jpg").write_bytes(b"x")
    with pytest.raises(PhotoSetError, match="at least two people"):
        read_photo_set(lonely)
    listing = tmp_path / "enroll.csv"
    listing.write_text("person,image\nColin_Powell,Colin_Powell_0009.jpg\n")
    with pytest.raises(PhotoSetError, match="is not an image"):
        read_photo_set(photos, listing)
    listing.write_text("person,image\nColin_Powell,Colin_Powell_0002.jpg\n")
    chosen = read_photo_set(photos, listing).enrollment["Colin_Powell"]
    assert chosen.name == "Colin_Powell_0002.jpg"
    (tmp_path / "bad.csv").write_text("name,gender\nx,y\n")
    with pytest.raises(PhotoSetError, match="missing column"):
        read_labels(tmp_path / "bad.csv")


def evaluate_cli_app():
    import typer

    app = typer.Typer()
    app.command()(evaluate_cli.evaluate)
    return app
