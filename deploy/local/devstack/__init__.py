"""The local development stack: Kafka, Redis, MinIO and MLflow as real processes on loopback.

``up`` installs what is missing (cached under ``stack.cache_dir``), starts each
service that is not already healthy as a detached process, waits for it and
creates the topics and buckets; ``down`` stops only the processes it started.
Data, logs and PID files live under ``stack.state_dir``.
"""

from .base import Health, Service, StackError, StackPaths
from .lifecycle import SERVICE_NAMES, ServiceStatus, build_services, down, status, up

__all__ = [
    "SERVICE_NAMES",
    "Health",
    "Service",
    "ServiceStatus",
    "StackError",
    "StackPaths",
    "build_services",
    "down",
    "status",
    "up",
]
