"""The bootstrapped model round-trips through the MLflow registry and its local cache."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest

from examgate.adapters import factory as ports
from examgate.adapters.registry import RegistryError
from examgate.core.digest import sha256_file
from examgate.core.settings import Settings
from examgate.models.analyzer import load_analyzer

pytestmark = [pytest.mark.integration, pytest.mark.lfw]


def test_bootstrapped_champion_round_trips(stack: Settings, tmp_path) -> None:
    from examgate.models.bootstrap import bootstrap

    if not (stack.data.lfw_dir / "images").is_dir():
        pytest.skip("LFW images not available")
    version = bootstrap(stack)
    registry = ports.model_registry(stack)
    assert registry.resolve("champion") == version
    # A fresh cache downloads the version's files from the registry's artifact store.
    fresh = type(registry)(stack.mlflow.tracking_uri, stack.mlflow.registered_model,
                           tmp_path / "cache")
    bundle = fresh.load("champion")
    assert bundle.version == version
    assert set(bundle.files) == {"detector", "onet", "embedder", "antispoof_v2",
                                 "antispoof_v1se"}
    assert bundle.detector == "yunet_onet"  # O-net landmarks, from the registered ONNX
    # The version names the exact liveness models and the thresholds it decides with.
    live = bundle.spec["liveness"]
    assert 0 <= live["attack_threshold"] <= live["pass_threshold"] <= 1
    assert live["pass_threshold"] >= live["pass_floor"] and live["fusion"]
    for role, path in bundle.files.items():
        assert sha256_file(path) == bundle.spec["files"][role]["sha256"]
    tags = registry.client.get_model_version(registry.model_name, version).tags
    assert json.loads(tags["thresholds"]) == bundle.thresholds.as_record()
    assert bundle.thresholds.reject <= bundle.thresholds.accept
    assert bundle.spec["calibration"]["split"] == "pairsDevTrain.txt"
    # What bootstrap registers records the calibration people's pair tail (a champion
    # registered before it was measured is served as calibrated; this one is checked anew).
    from examgate.models.bootstrap import calibrate

    assert 0.0 < calibrate(stack).thresholds.cohort_tail < bundle.thresholds.accept
    # The accept threshold holds for each gender of the calibration split, not on average.
    rule = bundle.spec["calibration"]["accept"]
    assert set(rule["slices"]) == {"female", "male"}
    assert bundle.thresholds.accept == max([s["threshold"] for s in rule["slices"].values()]
                                           + [bundle.thresholds.accept])
    assert all(s["far_at_accept"] <= bundle.thresholds.accept_far
               for s in rule["slices"].values())
    # The served model embeds a face with the registered files.
    person = sorted((stack.data.lfw_dir / "images" / "Aaron_Peirsol").glob("*.jpg"))
    analysis = load_analyzer(stack, version).analyse(person[0].read_bytes())
    assert analysis.embedding is not None and analysis.face_count == 1
    # A damaged cache is detected and cleared, never served.
    bundle.files["embedder"].write_bytes(b"not a model")
    with pytest.raises(RegistryError, match="SHA-256"):
        fresh.load(version)
    again = fresh.load(version)
    assert sha256_file(again.files["embedder"]) == bundle.spec["files"]["embedder"]["sha256"]
    shutil.rmtree(tmp_path / "cache")


def test_a_spec_copied_from_another_version_cannot_name_other_files(stack: Settings) -> None:
    """The registry's own record of the files wins over a ``files`` entry in the spec given
    (a candidate built from the champion's spec once listed files it did not carry)."""
    from examgate.models.bootstrap import bootstrap

    if not (stack.data.lfw_dir / "images").is_dir():
        pytest.skip("LFW images not available")
    registry = ports.model_registry(stack)
    champion = registry.load(bootstrap(stack))
    two = {role: champion.files[role] for role in ("detector", "embedder")}
    # The calibration people's pair tail travels with the thresholds (a champion bootstrapped
    # before it was measured has none: its own is replaced here either way).
    thresholds = dataclasses.replace(champion.thresholds, cohort_tail=0.2125)
    version = registry.register(detector=champion.detector, embedder=champion.embedder,
                                files=two, thresholds=thresholds,
                                spec=dict(champion.spec), experiment=stack.mlflow.experiment,
                                run_name="spec-copy")
    bundle = registry.load(version)
    assert set(bundle.files) == {"detector", "embedder"}
    assert set(bundle.spec["files"]) == {"detector", "embedder"}
    assert bundle.thresholds == thresholds and bundle.thresholds.cohort_tail == 0.2125


def test_a_cache_shared_with_another_registry_never_serves_its_files(stack: Settings,
                                                                    tmp_path) -> None:
    """Version numbers are per registry; the model cache (~/.cache/examgate) is shared by every
    checkout and stack on a machine. A cached "version N" of another registry, without
    liveness models, was once served in place of this registry's version N."""
    from examgate.models.bootstrap import bootstrap

    if not (stack.data.lfw_dir / "images").is_dir():
        pytest.skip("LFW images not available")
    registry = ports.model_registry(stack)
    version = bootstrap(stack)
    name = stack.mlflow.registered_model
    ours = type(registry)(stack.mlflow.tracking_uri, name, tmp_path / "a").load(version)
    # Another registry's version of the same number, cached where a version number alone
    # would put it: the same files, a spec without liveness.
    stale = tmp_path / "b" / name / version
    shutil.copytree(ours.files["embedder"].parent, stale)
    spec_file = next(stale.glob("*.json"))
    spec = json.loads(spec_file.read_text())
    spec.pop("liveness")
    spec_file.write_text(json.dumps(spec))
    shared = type(registry)(stack.mlflow.tracking_uri, name, tmp_path / "b")
    assert "liveness" in shared.load(version).spec


def test_a_signed_version_is_served_and_a_tampered_one_never(stack: Settings,
                                                             tmp_path) -> None:
    """Someone who can write to MLflow's artifact store changes a version's thresholds (an
    easier ACCEPT) and keeps the file hashes: the signature catches it (review finding 5).
    A registry that requires signatures refuses a version registered without one."""
    from examgate.adapters.registry import SIGNATURE_FILE, SPEC_FILE
    from examgate.models.bootstrap import bootstrap

    if not (stack.data.lfw_dir / "images").is_dir():
        pytest.skip("LFW images not available")
    registry = ports.model_registry(stack)
    champion = registry.load(bootstrap(stack))
    two = {role: champion.files[role] for role in ("detector", "embedder")}

    def register(signed: bool) -> str:
        signer = registry.signer if signed else None
        reg = type(registry)(stack.mlflow.tracking_uri, stack.mlflow.registered_model,
                             tmp_path / "reg", signer=signer)
        return reg.register(detector=champion.detector, embedder=champion.embedder,
                            files=two, thresholds=champion.thresholds, spec={},
                            experiment=stack.mlflow.experiment, run_name="signing")

    signed, unsigned = register(True), register(False)
    strict = type(registry)(stack.mlflow.tracking_uri, stack.mlflow.registered_model,
                            tmp_path / "strict", verifier=registry.verifier,
                            require_signature=True)
    bundle = strict.load(signed)
    folder = bundle.files["embedder"].parent
    assert (folder / SIGNATURE_FILE).is_file()
    spec = json.loads((folder / SPEC_FILE).read_text())
    spec["thresholds"]["accept"] = 0.05
    (folder / SPEC_FILE).write_text(json.dumps(spec, indent=2))
    with pytest.raises(RegistryError, match="signature"):
        strict.load(signed)
    assert strict.load(signed).thresholds == champion.thresholds  # downloaded afresh
    with pytest.raises(RegistryError, match="not signed"):
        strict.load(unsigned)
