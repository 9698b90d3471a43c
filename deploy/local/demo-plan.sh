#!/usr/bin/env bash
# Say, before a `make demo`, what will be downloaded or built on this machine and roughly how
# long each step takes (measured on 2 cores; see the README). Steps already done are skipped.
# Usage: demo-plan.sh [VENV]
set -uo pipefail
venv=${1:-.venv}
cache=${EXAMGATE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/examgate}
kafka_version=${KAFKA_VERSION:-3.9.1}
steps=()
total=0
add() { steps+=("$(printf '  - %-66s ~%s' "$1" "$2")"); total=$((total + $3)); }

[[ -f $venv/.installed-demo ]] \
  || add "Python packages into $venv (PyPI, ~400 MB unpacked, no PyTorch)" "2 min" 120
command -v redis-server >/dev/null \
  || add "redis-server (Debian package)" "20 s" 20
[[ -f $cache/kafka-$kafka_version/libs/kafka_2.13-$kafka_version.jar ]] \
  || add "Apache Kafka $kafka_version jars (Maven Central, ~120 MB; Java, Maven from Debian)" "1 min" 60
[[ -x $cache/bin/minio ]] \
  || add "MinIO built from its Go module (one time, cached in $cache)" "4-5 min" 270
[[ -n $(ls "$cache"/calibration/calibration-*.npz 2>/dev/null) ]] \
  || add "threshold calibration on LFW View 1 (one time, cached)" "1.5 min" 90
add "stack start (warm), the demo itself: 500 students, 600 check-ins" "2 min" 120

echo "ExamGate demo: what this run will do"
printf '%s\n' "${steps[@]}"
echo "  about $((total / 60)) min in all; progress is shown as each step runs."
echo "  Downloads and builds are cached in $cache and reused by every later run."
