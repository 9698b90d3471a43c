#!/usr/bin/env bash
# Install everything the local stack runs: Kafka jars, redis-server and MinIO.
# MLflow comes with the Python `stack` extra: pip install '.[stack]'.
# Each step is skipped when its result is already cached (EXAMGATE_CACHE_DIR, default
# ~/.cache/examgate). `examgate stack up` runs the same scripts itself when something is missing.
set -euo pipefail
scripts=$(cd "$(dirname "$0")/devstack/scripts" && pwd)
"$scripts/install-redis.sh"
"$scripts/install-kafka.sh" "${KAFKA_VERSION:-}"
"$scripts/install-objectstore.sh" "${MINIO_VERSION:-}"
