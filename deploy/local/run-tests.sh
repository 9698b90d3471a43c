#!/usr/bin/env bash
# The test command: lint, start the local stack, run every test layer, and stop the
# stack again even when tests fail (only if this script started it).
set -uo pipefail
cd "$(dirname "$0")/../.."
VENV=${VENV:-.venv}
EG="$VENV/bin/examgate"
PY="$VENV/bin/python"

"$VENV/bin/ruff" check . || exit 1

was_up=0
"$EG" stack status >/dev/null 2>&1 && was_up=1
if [ "$was_up" = 0 ]; then
  "$EG" stack up || { echo "stack failed to start; logs under .state/logs" >&2; exit 1; }
fi
stop_stack() { [ "$was_up" = 0 ] && "$EG" stack down; }
trap stop_stack EXIT

"$PY" -m pytest tests -q -p no:cacheprovider "$@"
