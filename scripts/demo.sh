#!/usr/bin/env bash
# Sets up a virtual environment and runs the demo (the README's first Quick start command).
# Until the flagship scheme lands (issue 6) the demo validates the example schemes and runs one
# expression through the debugger.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
.venv/bin/python -m pip install -q -e . >/dev/null
.venv/bin/ferry validate examples
.venv/bin/ferry expr "_function CASE WHEN {{amount}} > 10000 THEN CONCAT('大额-', {{no}}) ELSE {{no}} END" \
  --data '{"amount": "12000.00", "no": "FKSQ0001"}'
