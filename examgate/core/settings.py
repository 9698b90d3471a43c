"""Typed, frozen settings read once from the environment (``EXAMGATE_*``) and an optional file.

Every address and credential lives here, so the same code points at a laptop
stack or at a university's real clusters. Nested sections use ``__`` in
environment variables, e.g. ``EXAMGATE_KAFKA__BOOTSTRAP_SERVERS=broker:9092``.
A settings file (YAML or TOML) is named by ``EXAMGATE_CONFIG`` or ``--config``;
environment variables win over the file. Unknown keys anywhere are an error.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from examgate.core.checkin_settings import CheckInSettings as CheckInSettings
from examgate.core.liveness_settings import LivenessSettings as LivenessSettings
from examgate.core.paths import user_cache_dir
from examgate.core.registry_settings import MlflowSettings as MlflowSettings
from examgate.core.release_settings import ReleaseSettings as ReleaseSettings
from examgate.core.signing import DEV_MODEL_SIGNING_KEY, DEV_MODEL_VERIFY_KEY

# Public development defaults: they let a laptop stack start with no set-up, and
# `environment: production` refuses them.
DEV_TEMPLATE_KEY = "ZXhhbWdhdGUtZGV2LWtleS0zMi1ieXRlcy1sb25nISE="
DEV_OBJECT_STORE_SECRET = "examgate-dev-secret"


def _absolute(path: Path) -> Path:
    """Relative paths are taken from the working directory once, when settings are read, so
    that child processes and symlinks made from them agree."""
    return Path(os.path.abspath(path.expanduser()))


class Section(BaseModel):
    """Base for settings sections: frozen, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class TopicSettings(Section):
    """Topic names and partition counts; keys keep one gate on one partition."""

    checkins: str = "gate.checkins"
    decisions: str = "gate.decisions"
    enrollments: str = "enrollment.requests"
    feedback: str = "gate.feedback"
    model_events: str = "model.events"
    audit: str = "audit.events"
    dlq_suffix: str = Field(".dlq", description="Dead-letter topic = source topic + this suffix.")
    dlq_payload_max_bytes: int = Field(
        256 * 1024, ge=0, le=300_000,
        description="A dead letter keeps the failed record's bytes (and key) up to this size; "
        "above it, only their SHA-256, size and topic/partition/offset. The payload, the key "
        "and the record's Kafka key together stay under the producer's 1 MB message limit.")
    partitions: int = Field(3, ge=1, description="Partitions of the check-in and decision topics.")
    replication_factor: int = Field(1, ge=1)

    def all_topics(self) -> list[str]:
        """Every topic the system uses, dead-letter topics included."""
        main = [self.checkins, self.decisions, self.enrollments, self.feedback,
                self.model_events, self.audit]
        sources = (self.checkins, self.enrollments, self.feedback)
        return main + [t + self.dlq_suffix for t in sources]


class KafkaSettings(Section):
    """Where the Kafka cluster is and how to talk to it."""

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = Field(None, description=(
        "PEM file of the CA that signed the brokers' certificates (SSL / SASL_SSL), e.g. "
        "the Strimzi cluster CA for gates on the external listener; unset: the system's."))
    topics: TopicSettings = Field(default_factory=TopicSettings)
    processor_group: str = Field("examgate-processors",
                                 description="Consumer group of the processor workers.")
    processing_stall_s: float = Field(
        30.0, ge=5, description=(
            "A processor that makes no progress for this long (a client call hung, e.g. after "
            "a broker restart) logs where it is stuck and exits, to be started again; its "
            "open transaction is fenced by its successor. Three times the transaction "
            "timeout (10 s), after which the broker has aborted the transaction anyway; "
            "`bench chaos` measured 78 s to recover from a broker restart at 60 s."))

    def client_config(self) -> dict[str, Any]:
        """librdkafka (confluent-kafka) connection properties."""
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            conf["sasl.mechanism"] = self.sasl_mechanism
            conf["sasl.username"] = self.sasl_username or ""
            conf["sasl.password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else ""
            )
        if self.ssl_ca_location:
            conf["ssl.ca.location"] = self.ssl_ca_location
        return conf


class RedisSettings(Section):
    """The template cache and idempotency keys."""

    url: str = "redis://127.0.0.1:6379/0"
    password: SecretStr | None = None
    socket_timeout_s: float = Field(0.5, gt=0, description="Fail fast: a slow cache means REVIEW.")
    template_prefix: str = Field("examgate:tpl", pattern=r"^[A-Za-z0-9:_.-]+$", description=(
        "Key prefix of the templates. Model versions are numbered per registry and all of a "
        "version's templates are the cohort every ACCEPT is held against, so a second "
        "registry sharing this Redis (a benchmark's, a staging run's) needs its own prefix."))


class ObjectStoreSettings(Section):
    """S3-compatible object store (MinIO, SeaweedFS, AWS S3, Ceph ...)."""

    endpoint: str = "127.0.0.1:9000"
    access_key: str = "examgate"
    secret_key: SecretStr = SecretStr(DEV_OBJECT_STORE_SECRET)
    secure: bool = False
    region: str | None = None
    bucket_enrollment: str = "examgate-enrollment"
    bucket_frames: str = "examgate-frames"
    bucket_training: str = "examgate-training"
    bucket_models: str = "examgate-models"
    bucket_mlflow: str = "examgate-mlflow"
    review_retention_days: int = Field(30, ge=1, description=(
        "Frames kept for proctors' review are deleted by the store after this many days."))
    gate_upload_retention_days: int = Field(1, ge=1, description=(
        "Frames gates upload by reference (incoming/<gate>/...) are needed only until decided "
        "(a REVIEW keeps its own copy): the store deletes them after this many days."))
    timeout_s: float = Field(2.0, gt=0, le=60, description=(
        "Connect and read timeout of each object-store call; with `retries` it bounds how long "
        "a stopped store can hold a check-in (then REVIEW FRAME_UNAVAILABLE)."))
    retries: int = Field(1, ge=0, le=5, description="Retries of a failed call (short backoff).")

    def buckets(self) -> list[str]:
        """Every bucket the system writes to."""
        return [self.bucket_enrollment, self.bucket_frames, self.bucket_training,
                self.bucket_models, self.bucket_mlflow]


class StackSettings(Section):
    """The local development stack started by ``examgate stack up``."""

    state_dir: Path = Field(Path(".state"), description="PIDs, logs and data of local services "
                            "(relative paths are taken from the working directory).")
    cache_dir: Path = Field(default_factory=user_cache_dir,
                            description="Downloaded jars, built binaries and models, shared by "
                            "every checkout (default ~/.cache/examgate).")
    kafka_version: str = "3.9.1"
    minio_version: str = Field(
        "v0.0.0-20260212201848-7aac2a2c5b7c",
        description="Go module version of github.com/minio/minio built for the local object store.",
    )
    kafka_controller_port: int = 9093
    mlflow_port: int = 5000
    object_store_console_port: int = 9001
    start_timeout_s: float = 180.0
    autostart: bool = Field(True, description=(
        "demo, simulate and the load benchmarks start the local stack first (installing what "
        "is missing); turn off when the settings point at real clusters."))

    @field_validator("state_dir", "cache_dir")
    @classmethod
    def absolute_paths(cls, path: Path) -> Path:
        """Relative paths are from the working directory (see :func:`_absolute`)."""
        return _absolute(path)


class DataSettings(Section):
    """Where offline face data lives."""

    lfw_dir: Path = Field(Path("../shared/datasets/lfw"), description=(
        "LFW (deepfunneled images, pairs files, genders), used for calibration and the "
        "simulator's cohort; relative paths are taken from the working directory."))

    @field_validator("lfw_dir")
    @classmethod
    def absolute_paths(cls, path: Path) -> Path:
        """Relative paths are from the working directory (see :func:`_absolute`)."""
        return _absolute(path)


class QualitySettings(Section):
    """Quality gates on the main face; a failed gate sends a check-in to REVIEW with a reason."""

    min_face_px: int = Field(
        default=60, ge=1, description="FACE_TOO_SMALL below this box side in pixels."
    )
    min_confidence: float = Field(
        default=0.75, ge=0, le=1, description="LOW_CONFIDENCE below this detector score."
    )
    min_sharpness: float = Field(
        default=15.0, ge=0,
        description="BLURRY below this variance of the Laplacian of the face resized to 112 px "
        "(LFW: 1st percentile 27; a Gaussian blur of sigma 2 gives 11-24).",
    )
    min_brightness: float = Field(
        default=40.0, ge=0, le=255, description="TOO_DARK below this mean gray level of the face."
    )
    max_brightness: float = Field(
        default=215.0, ge=0, le=255, description="OVEREXPOSED above this mean gray level."
    )
    max_dark_fraction: float = Field(
        default=0.5, ge=0, le=1, description="TOO_DARK when more of the face is near black."
    )
    max_clipped_fraction: float = Field(
        default=0.3, ge=0, le=1, description="OVEREXPOSED when more of the face is blown out."
    )
    max_abs_yaw_deg: float = Field(
        default=40.0, ge=0, description="POSE above this yaw, roughly estimated from landmarks."
    )
    max_abs_roll_deg: float = Field(
        default=30.0, ge=0, description="POSE above this in-plane tilt of the eye line."
    )
    secondary_face_ratio: float = Field(
        default=0.7, gt=0, le=1,
        description="MULTIPLE_FACES when another confident face is at least this fraction of the "
        "main face's width (someone right beside the student); smaller faces, people further "
        "back in the queue, are ignored. On 300 LFW news photos 0.5 flagged 9.7%, 0.7 5.3%.",
    )


class VisionSettings(Section):
    """Face detector and embedder by name, image limits and quality gates."""

    detector: str = Field(default="yunet_onet", description=(
        "Registered detector: yunet_onet (YuNet boxes, MTCNN O-net landmarks: LFW View 2 "
        "TAR@FAR 1e-4 98.49% against 97.78% with YuNet's own points), yunet or mtcnn."))
    onet_path: Path = Field(Path("../shared/models/onet/mtcnn_onet.onnx"), description=(
        "The O-net as ONNX for yunet_onet (registered with each model version, so serving "
        "reads it from the registry); relative paths are from the working directory."))
    onet_sha256: str = Field(
        "a5d2c2f68b27c4927099fff9200ef91f7a139a13c7afed9b847f65c8d0f53645", description=(
            "Expected SHA-256 of onet_path (the file in shared/models/onet); set your own "
            "export's, or empty to skip the check."))
    embedder: str = Field(default="sface", description="Registered embedder name.")
    detector_score_threshold: float = Field(
        default=0.5, ge=0, le=1, description="Faces scored below this are not reported at all."
    )
    detect_max_side: int = Field(
        default=640, ge=64, description="Frames are downscaled to this longer side to detect."
    )
    flip_tta: bool = Field(default=False, description="Also embed the mirrored face, average.")
    mirror_templates: bool = Field(default=True, description=(
        "Enrollment templates also embed the mirrored face and average (the gate's probe "
        "stays one pass); recorded with the model version, whose thresholds are calibrated "
        "template against probe"))
    intra_op_threads: int = Field(default=1, ge=1, description="Threads per inference call.")
    max_image_bytes: int = Field(default=20 * 1024 * 1024, ge=1)
    max_image_pixels: int = Field(
        default=25_000_000, ge=1, description="TOO_LARGE above this, read from the header."
    )
    min_image_side: int = Field(default=32, ge=1, description="TOO_SMALL below this side.")
    model_cache_dir: Path = Field(
        default_factory=lambda: user_cache_dir() / "models",
        description="Models converted on first use (the O-net ONNX of yunet_onet).",
    )
    align_method: str = Field(
        default="lsq", description="Five-point fit: lsq (all points) or lmeds (robust)."
    )
    quality: QualitySettings = Field(default_factory=QualitySettings)
    liveness: LivenessSettings = Field(default_factory=LivenessSettings)

    @field_validator("model_cache_dir", "onet_path")
    @classmethod
    def absolute_paths(cls, path: Path) -> Path:
        """Relative paths are from the working directory (see :func:`_absolute`)."""
        return _absolute(path)


class EnvOverFileSettings(BaseSettings):
    """Settings whose file contents (passed as arguments) rank below the environment."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings, file_secret_settings)


class Settings(EnvOverFileSettings):
    """ExamGate's one settings object; build it once in ``main()`` with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="EXAMGATE_",
        env_nested_delimiter="__",
        frozen=True,
        extra="forbid",
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    object_store: ObjectStoreSettings = Field(default_factory=ObjectStoreSettings)
    mlflow: MlflowSettings = Field(default_factory=MlflowSettings)
    stack: StackSettings = Field(default_factory=StackSettings)
    data: DataSettings = Field(default_factory=DataSettings)
    vision: VisionSettings = Field(default_factory=VisionSettings)
    checkin: CheckInSettings = Field(default_factory=CheckInSettings)
    release: ReleaseSettings = Field(default_factory=ReleaseSettings)
    environment: Literal["development", "production"] = Field(
        "development", description=(
            "production refuses the public development secrets below (template key, "
            "object-store secret); the Kubernetes production overlay sets it."))
    template_key: SecretStr = Field(
        SecretStr(DEV_TEMPLATE_KEY),
        description="Base64 AES-256 key that encrypts templates and enrollment images at rest.",
    )

    @model_validator(mode="after")
    def _no_development_secrets_in_production(self) -> Settings:
        if self.environment != "production":
            return self
        public = [name for name, value, dev in (
            ("template_key", self.template_key, DEV_TEMPLATE_KEY),
            ("object_store.secret_key", self.object_store.secret_key, DEV_OBJECT_STORE_SECRET),
            ("mlflow.signing_key", self.mlflow.signing_key, DEV_MODEL_SIGNING_KEY),
        ) if value is not None and value.get_secret_value() == dev]
        if DEV_MODEL_VERIFY_KEY in self.mlflow.trusted_keys:
            public.append("mlflow.trusted_keys")
        if public:
            raise ValueError(f"production refuses the public development value of "
                             f"{', '.join(public)}: set your own (from a secret store)")
        return self



class SettingsError(ValueError):
    """The settings file or environment is invalid."""


def read_settings_file(path: Path) -> dict[str, Any]:
    """The mapping in a YAML or TOML settings file."""
    if not path.is_file():
        raise SettingsError(f"settings file not found: {path}")
    text = path.read_text()
    if path.suffix == ".toml":
        data = tomllib.loads(text)
    else:
        data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise SettingsError(f"settings file {path} must hold a mapping at the top level")
    return data


def load_settings(config_file: str | Path | None = None) -> Settings:
    """Read settings from ``config_file`` (or ``$EXAMGATE_CONFIG``) and the environment."""
    path = config_file or os.environ.get("EXAMGATE_CONFIG")
    data = read_settings_file(Path(path)) if path else {}
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise SettingsError(describe_errors(exc, "settings")) from None


def describe_errors(exc: ValidationError, what: str) -> str:
    """A validation error as lines of ``where: what is wrong``, never the rejected values
    (a mistyped variable may hold a password)."""
    lines = [f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
             for err in exc.errors(include_input=False, include_url=False)]
    return (f"invalid {what} ({len(lines)} problem(s); environment variables are "
            f"EXAMGATE_<SECTION>__<KEY>):\n  " + "\n  ".join(lines))
