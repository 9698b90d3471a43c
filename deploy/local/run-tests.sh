#!/usr/bin/env bash
# The test command: lint, start the local stack, run every test layer, and stop the
# stack again even when tests fail (only if this script started it).
set -uo pipefail
cd "$(dirname "$0")/../.."
VENV=${VENV:-.venv}
EG="$VENV/bin/examgate"
PY="$VENV/bin/python"

"$VENV/bin/ruff" check . || exit 1
# Types over the whole distribution (the file list is in pyproject.toml's [tool.mypy]).
"$VENV/bin/mypy" || exit 1
# The console's browser test drives Debian's headless Chromium.
bash deploy/local/install-browser.sh || echo "no Chromium: the browser test will be skipped" >&2

was_up=0
"$EG" stack status >/dev/null 2>&1 && was_up=1
if [ "$was_up" = 0 ]; then
  "$EG" stack up || { echo "stack failed to start; logs under .state/logs" >&2; exit 1; }
fi
stop_stack() { if [ "$was_up" = 0 ]; then "$EG" stack down; fi; }
trap stop_stack EXIT

"$PY" -m pytest tests -q -p no:cacheprovider "$@"
rc=$?
exit $rc  # the EXIT trap stops the stack; pytest's status is the script's
