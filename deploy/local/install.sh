#!/usr/bin/env bash
# Install everything the local stack runs: Kafka jars, redis-server and MinIO.
# MLflow comes with the Python `stack` extra: pip install -e '.[stack]'.
# Each step is skipped when its result is already cached (EXAMGATE_CACHE_DIR, default .cache).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/install-redis.sh"
"$here/install-kafka.sh" "${KAFKA_VERSION:-}"
"$here/install-objectstore.sh" "${MINIO_VERSION:-}"
