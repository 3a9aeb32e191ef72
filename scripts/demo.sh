#!/usr/bin/env bash
# Install augur-otel into ./.venv and record a demo agent run into ./augur-runs/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e . >/dev/null
AUGUR_OUT="${AUGUR_OUT:-augur-runs}" .venv/bin/python examples/generic_loop.py
