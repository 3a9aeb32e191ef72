#!/usr/bin/env bash
# Install browser-use into its own virtualenv for tests/integrations/test_browser_use.py.
#
#   bash .ci/install-browser-use.sh      # -> .ci-venvs/browser-use/bin/python
#
# * Idempotent: when the pinned version is already installed it only checks a marker file
#   and exits silently. A first install downloads ~370 MB (a few minutes).
# * Separate venv: browser-use pins anthropic<2 (our test extra pins anthropic 2.x) and pulls
#   in google-genai, openai, groq, … none of which belongs in the project's venv. This repo is
#   installed editable beside it, so the driver records with the code under test.
# * A half-finished install (no marker) is removed and redone.
#
# Environment:
#   BROWSER_USE_VERSION  version to install (default: the pin below)
#   BROWSER_USE_VENV     venv directory (default: <repo>/.ci-venvs/browser-use)
#   BROWSER_USE_PYTHON   interpreter for the venv (default: python3)
set -euo pipefail

BROWSER_USE_VERSION="${BROWSER_USE_VERSION:-0.13.14}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${BROWSER_USE_VENV:-$repo/.ci-venvs/browser-use}"
python="${BROWSER_USE_PYTHON:-python3}"
marker="$venv/.augur-installed"
want="browser-use==$BROWSER_USE_VERSION"

installed() {
    [[ -f "$marker" && -x "$venv/bin/python" && "$(cat "$marker")" == "$want" ]]
}

installed && exit 0

mkdir -p "$(dirname "$venv")"
# Serialise concurrent installs (two jobs on one machine) on a lock beside the venv.
exec 9>"$venv.lock"
flock 9
installed && exit 0

log="$(mktemp "${TMPDIR:-/tmp}/install-browser-use.XXXXXX.log")"
trap 'rm -f "$log"' EXIT
fail() {
    echo "install-browser-use: $1 failed; last lines of the log:" >&2
    tail -n 40 "$log" >&2
    exit 1
}

start=$SECONDS
echo "install-browser-use: installing $want into ${venv#"$repo"/} (a few minutes, ~370 MB)…"
rm -rf "$venv"
"$python" -m venv "$venv" >>"$log" 2>&1 || fail "venv creation"
PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install --quiet --no-input \
    --progress-bar off "$want" -e "$repo" >>"$log" 2>&1 || { rm -rf "$venv"; fail "pip install"; }
# A cheap sanity check: the pinned version, and this repo's integration importable beside it.
"$venv/bin/python" -c "
import importlib.metadata as m
assert m.version('browser-use') == '$BROWSER_USE_VERSION', m.version('browser-use')
import augur_sdk.integrations.browser_use
" >>"$log" 2>&1 || { rm -rf "$venv"; fail "the version check"; }
echo "$want" >"$marker"
echo "install-browser-use: done in $((SECONDS - start)) s"
