"""Training sets as labelled aligned faces, and a batch sampler that runs on the device.

Three sources, chosen by ``TrainConfig.dataset``:

* ``synthetic``: random faces and labels, so a smoke run works anywhere;
* ``lfw``: LFW people kept out of calibration and evaluation (see trainer.splits);
* ``feedback``: a JSON manifest of reviewed samples over a local folder.

A set lives in memory as uint8 crops (LFW's 1.6k faces are 60 MB), and the
sampler draws batches on the GPU, so no loader workers sit between the
optimiser and the data. A streaming loader is the seam to add when feedback
outgrows memory.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from trainer.config import TrainConfig, load_config
from trainer.crops import align_files
from trainer.feedback import checked_key
from trainer.splits import check_disjoint, evaluation_identities, training_identities

log = logging.getLogger("trainer.data")
MANIFEST_SCHEMA = "examgate.training-manifest/1"


@dataclass(frozen=True)
class FaceSet:
    """Aligned BGR uint8 faces (N, 112, 112, 3) and class indices into ``identities``."""

    faces: np.ndarray
    labels: np.ndarray
    identities: tuple[str, ...]
    source: str

    def __post_init__(self) -> None:
        if self.faces.ndim != 4 or self.faces.shape[1:] != (112, 112, 3):
            raise ValueError(f"faces must be (N, 112, 112, 3), got {self.faces.shape}")
        if len(self.faces) != len(self.labels):
            raise ValueError("faces and labels differ in length")
        if len(self.identities) < 2:
            raise ValueError(f"{self.source}: a classifier needs 2+ identities")

    @property
    def num_classes(self) -> int:
        """How many identities the head classifies."""
        return len(self.identities)

    def save(self, path: Path, *, jpeg_quality: int | None = None, **meta: object) -> None:
        """Write the set (and JSON-able ``meta``) as one .npz; JPEG-encode crops when asked.

        JPEG at quality 95 shrinks LFW's crops about sevenfold, which is what lets
        them travel with a job to a machine that has no dataset of its own.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        if jpeg_quality is None:
            arrays["faces"] = self.faces
        else:
            blobs = [_encode_jpeg(face, jpeg_quality) for face in self.faces]
            arrays["jpeg"] = np.frombuffer(b"".join(blobs), np.uint8)
            arrays["jpeg_offsets"] = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
        arrays.update(labels=self.labels, identities=np.array(self.identities),
                      meta=np.array(json.dumps({"source": self.source, **meta})))
        np.savez_compressed(path, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path) -> tuple[FaceSet, dict[str, object]]:
        """A set written by :meth:`save`, and its metadata."""
        with np.load(path) as data:
            meta = json.loads(str(data["meta"]))
            if "faces" in data:
                faces = data["faces"]
            else:
                blob, offsets = data["jpeg"], data["jpeg_offsets"]
                faces = np.stack([_decode_jpeg(blob[a:b]) for a, b in zip(offsets[:-1],
                                                                             offsets[1:],
                                                                             strict=True)])
            identities = tuple(str(s) for s in data["identities"])
            return cls(faces, data["labels"], identities, str(meta["source"])), meta


def _encode_jpeg(face: np.ndarray, quality: int) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def _decode_jpeg(data: np.ndarray) -> np.ndarray:
    import cv2

    face = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if face is None or face.shape != (112, 112, 3):
        raise ValueError("a stored crop does not decode to 112x112x3")
    return face


def build_faceset(cfg: TrainConfig) -> FaceSet:
    """The training set ``cfg`` names."""
    if cfg.crops_npz is not None:
        return load_crops(cfg)
    if cfg.dataset == "synthetic":
        return synthetic(cfg.synthetic_size, cfg.synthetic_classes, cfg.seed)
    if cfg.dataset == "lfw":
        return lfw_train(cfg)
    if cfg.dataset == "feedback":
        if cfg.feedback_manifest is None:
            raise ValueError("dataset=feedback needs feedback_manifest")
        return feedback(cfg.feedback_manifest, cfg.feedback_root,
                        held_out=evaluation_identities(cfg.lfw_dir, cfg.eval_folds)
                        if (cfg.lfw_dir / "pairs.txt").is_file() else ())
    raise ValueError(f"unknown dataset {cfg.dataset!r}: synthetic, lfw or feedback")


def synthetic(size: int, classes: int, seed: int = 0) -> FaceSet:
    """Random faces with labels ``i % classes``."""
    rng = np.random.default_rng(seed)
    faces = rng.integers(0, 256, (size, 112, 112, 3), dtype=np.uint8)
    labels = np.arange(size, dtype=np.int64) % classes
    return FaceSet(faces, labels, tuple(f"synthetic-{i}" for i in range(classes)), "synthetic")


def lfw_train(cfg: TrainConfig) -> FaceSet:
    """LFW training identities (disjoint from calibration and evaluation), aligned and cached."""
    people = training_identities(cfg.lfw_dir, min_images=cfg.lfw_min_images,
                                 eval_folds=cfg.eval_folds)
    root = cfg.lfw_dir / "images"
    names = [str(Path(p).relative_to(root)) for images in people.values() for p in images]
    crops = align_files(root, names, cache_dir=cfg.cache_dir, tag="lfw-train")
    identities = tuple(people)
    index = {p: i for i, p in enumerate(identities)}
    labels = np.array([index[n.split("/", 1)[0]] for n in crops.names], np.int64)
    log.info("lfw: %d identities, %d faces (>= %d images each; eval folds %s)",
             len(identities), len(labels), cfg.lfw_min_images, list(cfg.eval_folds))
    return FaceSet(crops.faces, labels, identities, "lfw")


def load_crops(cfg: TrainConfig) -> FaceSet:
    """A set saved by :meth:`FaceSet.save` (the GPU bundle), re-checked against held-out people."""
    assert cfg.crops_npz is not None
    faces, meta = FaceSet.load(cfg.crops_npz)
    folds = meta.get("eval_folds")
    if isinstance(folds, list) and tuple(folds) != cfg.eval_folds:
        raise ValueError(f"{cfg.crops_npz} was split for eval folds {meta['eval_folds']}, "
                         f"the config holds out {list(cfg.eval_folds)}")
    if faces.source == "lfw" and (cfg.lfw_dir / "pairs.txt").is_file():
        training_identities(cfg.lfw_dir, min_images=1, eval_folds=cfg.eval_folds,
                            identities=faces.identities)
    return faces


@dataclass(frozen=True)
class FeedbackSample:
    """One reviewed image: its key under the folder and the identity a reviewer confirmed."""

    key: str
    identity: str


def read_manifest(path: Path) -> list[FeedbackSample]:
    """Samples of a training manifest: ``{"schema": ..., "samples": [{"key", "identity"}]}``."""
    doc = json.loads(Path(path).read_text())
    if not isinstance(doc, dict) or doc.get("schema") != MANIFEST_SCHEMA:
        raise ValueError(f"{path}: not a {MANIFEST_SCHEMA} manifest")
    samples = []
    for i, item in enumerate(doc.get("samples", [])):
        key, identity = item.get("key"), item.get("identity")
        if not (isinstance(key, str) and key and isinstance(identity, str) and identity):
            raise ValueError(f"{path}: sample {i} needs a non-empty key and identity")
        try:
            checked_key(key)
        except ValueError as exc:
            raise ValueError(f"{path}: sample {i}: {exc}") from None
        samples.append(FeedbackSample(key, identity))
    return samples


def feedback(manifest: Path, root: Path | None, held_out: Iterable[str] = ()) -> FaceSet:
    """Reviewed samples, aligned (no landmark fallback: a frame without a face is dropped
    and logged with its reason). Never cached: a cache keyed by this manifest would keep a
    student's face after erasure rewrote the manifest (LFW's crops are cached, these not)."""
    samples = read_manifest(manifest)
    check_disjoint((s.identity for s in samples), {"evaluation": held_out}, name="feedback")
    folder = Path(root) if root is not None else Path(manifest).parent
    crops = align_files(folder, [s.key for s in samples], cache_dir=None,
                        fallback_landmarks=False)
    by_key = {s.key: s.identity for s in samples}
    identities = tuple(sorted({by_key[k] for k in crops.names}))
    index = {p: i for i, p in enumerate(identities)}
    labels = np.array([index[by_key[k]] for k in crops.names], np.int64)
    log.info("feedback: %d samples, %d identities, %d rejected", len(labels), len(identities),
             len(crops.rejected))
    return FaceSet(crops.faces, labels, identities, "feedback")


class DeviceBatches:
    """Endless batches drawn on ``device``: each epoch a seeded permutation shared by all ranks,
    each rank taking every ``world``-th index of it."""

    def __init__(self, faces: FaceSet, batch_size: int, device: torch.device, *, seed: int = 0,
                 rank: int = 0, world: int = 1) -> None:
        self.faces = torch.from_numpy(faces.faces).to(device)
        self.labels = torch.from_numpy(faces.labels).to(device)
        self.batch_size = batch_size
        self.rank, self.world, self.seed = rank, world, seed
        self.epoch = 0
        self._pending = torch.empty(0, dtype=torch.long)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        while len(self._pending) < self.batch_size:
            gen = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(len(self.labels), generator=gen)[self.rank::self.world]
            self._pending = torch.cat([self._pending, order])
            self.epoch += 1
        take, self._pending = self._pending[:self.batch_size], self._pending[self.batch_size:]
        take = take.to(self.faces.device, non_blocking=True)
        return self.faces.index_select(0, take), self.labels.index_select(0, take)


def main(argv: list[str] | None = None) -> int:
    """Align an experiment's training set once and save it as a portable .npz (GPU bundle)."""
    parser = argparse.ArgumentParser(prog="python -m trainer.data", description=main.__doc__)
    parser.add_argument("--config", default="sface_finetune")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--jpeg-quality", type=int, default=None,
                        help="store crops as JPEG (95 keeps LFW's 1.6k crops near 8 MB)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    cfg = load_config(args.config, args.set)
    faces = build_faceset(cfg)
    faces.save(args.out, jpeg_quality=args.jpeg_quality, eval_folds=list(cfg.eval_folds),
               min_images=cfg.lfw_min_images)
    print(json.dumps({"out": str(args.out), "faces": len(faces.labels),
                      "identities": faces.num_classes, "bytes": args.out.stat().st_size}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
