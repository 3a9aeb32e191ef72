#!/usr/bin/env bash
# Install everything the tests need (project venv, test receivers, reference SDK) and run
# lint, type checks and every test. Used by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[dev]" >/dev/null
for installer in .ci/install-*.sh; do
  [ -e "$installer" ] && bash "$installer"
done
echo "== ruff"; .venv/bin/ruff check src tests benchmarks examples
echo "== mypy"; .venv/bin/mypy
echo "== pytest"; .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
