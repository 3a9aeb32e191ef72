#!/usr/bin/env bash
# Install augur-otel (with the demo extra: Playwright for Python) into ./.venv, make sure
# Debian's Chromium is there, and record a real computer-use run: a scripted agent drives
# headless Chromium through a local demo shop. The bundle lands in ./augur-runs/<run_id>/.
# With OTEL_EXPORTER_OTLP_ENDPOINT set, the same run also goes to your collector.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
OUT="${AUGUR_OUT:-augur-runs}"
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[demo]" >/dev/null

if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's chromium (apt-get) ..."
    bash .ci/install-chromium.sh
  else
    cat >&2 <<EOF
demo: Chromium is missing at $CHROMIUM, and installing it needs root and apt-get.
  Debian/Ubuntu:  sudo bash .ci/install-chromium.sh     (or: sudo apt-get install chromium)
  elsewhere:      CHROMIUM_PATH=/path/to/chromium ./scripts/demo.sh
  no browser:     .venv/bin/python examples/generic_loop.py   (a fake agent, same SDK calls)
EOF
    exit 1
  fi
fi

AUGUR_OUT="$OUT" .venv/bin/python examples/playwright_agent/demo.py
bundle="$(ls -td "$OUT"/run_*/ | head -n 1)"
bundle="${bundle%/}"
echo
.venv/bin/augur validate "$bundle"
echo "(the augur command is in .venv/bin: source .venv/bin/activate, or run .venv/bin/augur)"
