#!/usr/bin/env bash
# The reference client augur-sdk 0.6.1, in its own virtualenv (never in the project's):
# compatibility tests validate our bundles with its validator and stream with its client.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.ci-venvs/augur-sdk-0.6.1
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import augur_sdk" 2>/dev/null; then
  exit 0
fi
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q "augur-sdk==0.6.1" >/dev/null
