#!/usr/bin/env bash
# The reference client augur-sdk 0.6.1, in its own virtualenv (never in the project's):
# compatibility tests validate our bundles with its validator and stream with its client.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.ci-venvs/augur-sdk-0.6.1
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import augur_sdk" 2>/dev/null; then
  exit 0
fi
log="$(mktemp "${TMPDIR:-/tmp}/install-augur-sdk.XXXXXX.log")"
start=$SECONDS
echo "install-augur-sdk-0.6.1: installing the reference client augur-sdk 0.6.1 into $VENV" \
     "(10-30 s) ..."
if ! python3 -m venv "$VENV" >>"$log" 2>&1 \
   || ! "$VENV/bin/python" -m pip install --progress-bar off "augur-sdk==0.6.1" >>"$log" 2>&1; then
  echo "install-augur-sdk-0.6.1: the install failed; the end of pip's log ($log):" >&2
  tail -n 40 "$log" >&2
  exit 1
fi
rm -f "$log"
echo "install-augur-sdk-0.6.1: done in $((SECONDS - start)) s"
