"""Start a processor worker: build the runtime once, then run the exactly-once loop."""

from __future__ import annotations

import logging
import os
import socket

from examgate.adapters import factory as ports
from examgate.adapters.registry import RegistryError
from examgate.core.codec import EventCodec
from examgate.core.enrollment import Enroller
from examgate.core.gate_signatures import GateSignatures
from examgate.core.settings import Settings
from examgate.core.verify import GATE_UPLOADS, Verifier
from stream_processors.runtime import Runtime

log = logging.getLogger("examgate.worker")


def build_runtime(settings: Settings, worker_id: str) -> Runtime:
    """Connect the ports and load the champion (and challenger, if any) from the registry."""
    from examgate.models.analyzer import analyzer_from_bundle

    sealer = ports.sealer(settings)
    templates = ports.template_store(settings)
    objects = ports.object_store(settings)
    cfg = settings.object_store
    retention = {"review/": cfg.review_retention_days,
                 f"{GATE_UPLOADS}/": cfg.gate_upload_retention_days}
    try:
        # The store itself deletes review frames and gates' uploads after their retention.
        objects.set_expiry(cfg.bucket_frames, retention)
    except Exception as exc:  # noqa: BLE001 - a store without lifecycle support still works
        log.warning("could not set the retention of frames (%s): %s", retention, exc)
    registry = ports.model_registry(settings)
    try:
        champion = analyzer_from_bundle(registry.load("champion"), settings)
    except RegistryError as exc:
        raise SystemExit(f"no champion model in the registry ({exc}); "
                         "run `examgate models bootstrap` first") from exc
    signatures = GateSignatures.from_settings(
        settings.checkin, production=settings.environment == "production")
    verifier = Verifier(templates, objects, settings.object_store.bucket_frames, champion,
                        processor_id=worker_id, max_frame_bytes=settings.vision.max_image_bytes,
                        max_capture_age_s=settings.checkin.max_capture_age_s,
                        max_clock_skew_s=settings.checkin.max_clock_skew_s,
                        max_extra_frames=settings.checkin.max_extra_frames,
                        single_frame_gates=settings.checkin.single_frame_gates,
                        lookalike_margin=settings.checkin.lookalike_margin,
                        cohort_check=settings.checkin.cohort_check,
                        cohort_threshold=settings.checkin.cohort_threshold,
                        events_seen=ports.event_ledger(settings),
                        event_memory_s=settings.checkin.event_memory_s,
                        gate_check=settings.checkin.gate_problem,
                        gate_signatures=signatures)
    if signatures is None or not signatures.required:
        log.warning("checkin.require_gate_signatures is off: check-ins from gates without a "
                    "key in checkin.gate_keys (%d listed) are decided unsigned, so a gate's "
                    "credential can check in under another gate's id",
                    len(settings.checkin.gate_keys))
    elif not settings.checkin.gate_keys:
        log.error("gate signatures are required (production) and checkin.gate_keys is empty: "
                  "every check-in will be REVIEW INVALID_EVENT until the gates' keys are set")
    if not settings.checkin.exam_gates:
        log.warning("checkin.exam_gates is empty: any gate may check students in for any "
                    "exam (set the timetable to refuse check-ins from other halls)")
    enroller = Enroller(templates, objects, sealer, cfg.bucket_enrollment, cfg.bucket_frames,
                        training_bucket=cfg.bucket_training)
    rt = Runtime(settings, EventCodec(), templates, objects, registry, verifier, enroller,
                 worker_id, analyzer_factory=lambda b: analyzer_from_bundle(b, settings))
    from stream_processors.metrics import MODEL_VERSION

    MODEL_VERSION.labels("champion", champion.model_version).set(1)
    if "challenger" in registry.aliases():
        rt.reload("challenger")
    log.info("worker %s: champion model version %s (accept >= %.3f, reject < %.3f)", worker_id,
             champion.model_version, champion.thresholds.accept, champion.thresholds.reject)
    return rt


def run_worker(settings: Settings, slices: tuple[str, ...], metrics_port: int,
               worker_id: str | None = None, metrics_host: str = "127.0.0.1") -> None:
    """Run one processor worker until SIGTERM/SIGINT."""
    from prometheus_client import start_http_server

    from stream_processors.app import create_app
    from stream_processors.model_reload import ModelReloader

    worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
    if metrics_port:
        start_http_server(metrics_port, addr=metrics_host)
        log.info("worker %s: Prometheus metrics on http://%s:%d/metrics", worker_id,
                 metrics_host, metrics_port)
    rt = build_runtime(settings, worker_id)
    reloader = ModelReloader(rt)
    reloader.start()
    processor = create_app(rt, slices)
    processor.install_signal_handlers()
    log.info("worker %s: processing %s", worker_id, ", ".join(slices))
    try:
        processor.run()
    finally:
        reloader.stop()
        log.info("worker %s: stopped", worker_id)
