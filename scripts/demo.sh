#!/usr/bin/env bash
# Install augur-otel (with the demo extra: Playwright for Python) into ./.venv ($VENV), make sure
# Debian's Chromium is there, and record a real computer-use run: a scripted agent drives
# headless Chromium through a local demo shop. The bundle lands in ./augur-runs/<run_id>/.
# With OTEL_EXPORTER_OTLP_ENDPOINT set, the same run also goes to your collector.
set -euo pipefail
# The demo prints commands to type next; they are written for the directory you are in.
export DEMO_CALLER_CWD="${DEMO_CALLER_CWD:-$PWD}"
cd "$(dirname "$0")/.."
OUT="${AUGUR_OUT:-augur-runs}"
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
source scripts/venv-lib.sh

ensure_venv demo demo "augur-otel and Playwright for Python (no browser download)" \
  "about a minute"

if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    bash .ci/install-chromium.sh
  else
    cat >&2 <<MSG
demo: Chromium is missing at $CHROMIUM, and installing it needs root and apt-get.
  Debian/Ubuntu:  sudo bash .ci/install-chromium.sh     (or: sudo apt-get install --no-install-recommends chromium)
  elsewhere:      CHROMIUM_PATH=/path/to/chromium ./scripts/demo.sh
  no browser:     $VENV/bin/python examples/generic_loop.py   (a fake agent, same SDK calls)
MSG
    exit 1
  fi
fi

AUGUR_OUT="$OUT" "$VENV/bin/python" examples/playwright_agent/demo.py
bundle="$(ls -td "$OUT"/run_*/ | head -n 1)"
bundle="${bundle%/}"
echo
"$VENV/bin/augur" validate "$bundle"
