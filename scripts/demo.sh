#!/usr/bin/env bash
# Sets up a virtual environment and runs the demo (the README's first Quick start command):
# the flagship scheme, DingTalk payment approvals -> Kingdee payment bills, against the built-in
# sandboxes, then a reconciliation against the sandboxes' own state. Extra arguments go to `ferry demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
.venv/bin/python -m pip install -q -e . >/dev/null
exec .venv/bin/ferry demo --serve "$@"   # then open the console URL it prints; Ctrl-C ends
