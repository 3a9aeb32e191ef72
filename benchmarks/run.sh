#!/usr/bin/env bash
# The benchmark: augur-otel side by side with augur-sdk 0.6.1 and with the physical floor.
#   ./benchmarks/run.sh            full run (~13 min on 2 cores), writes benchmarks/results/latest.md
#   ./benchmarks/run.sh --quick    2-3 minute smoke run
#   ./benchmarks/run.sh --help     every flag (--reps N, --only ROLES, --workdir DIR, ...)
# Installs augur-otel into ./.venv and augur-sdk 0.6.1 into .ci-venvs/augur-sdk-0.6.1 if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -c "import augur_sdk.testing" 2>/dev/null || .venv/bin/python -m pip install -q -e . >/dev/null
bash .ci/install-augur-sdk-0.6.1.sh
exec .venv/bin/python benchmarks/compare.py "$@"
