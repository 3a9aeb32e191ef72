#!/usr/bin/env bash
# Install everything the tests need (project venv, test receivers, reference SDK, Chromium)
# and run lint, type checks and every test. Used by .ci/run, once per supported Python.
#
#   ./scripts/test.sh [PYTEST ARGS]                       python3, into ./.venv
#   PYTHON=python3.13 VENV=.venv-3.13 ./scripts/test.sh   another interpreter, its own venv
#   LINT=0 ./scripts/test.sh                               tests only (no ruff, no mypy)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv-lib.sh

ensure_venv test dev "augur-otel with its test, docs and lint tools (pytest, Playwright for \
Python, Starlette/uvicorn, MkDocs, ruff, mypy)" "about 2 minutes"
for installer in .ci/install-*.sh; do
  [ -e "$installer" ] && bash "$installer"
done
if [ "${LINT:-1}" != 0 ]; then
  echo "== ruff"; "$VENV/bin/ruff" check src tests benchmarks examples
  echo "== mypy"; "$VENV/bin/mypy"
fi
echo "== pytest ($("$VENV/bin/python" --version), $VENV)"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
