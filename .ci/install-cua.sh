#!/usr/bin/env bash
# Install cua-agent (the Cua computer-use agent framework) into its own virtualenv for
# tests/integrations/test_cua.py.
#
#   bash .ci/install-cua.sh          # -> .ci-venvs/cua/bin/python
#
# * Idempotent: when the pinned version is already installed it only checks a marker file
#   and exits silently. A first install takes a few minutes (litellm and its dependencies).
# * Separate venv: cua-agent pins litellm==1.86.2 (with openai, tokenizers, ...); none of that
#   belongs in the project's venv. The venv also gets this repository (editable, so the driver
#   records with the code under test) and Playwright's Python package (the driver's computer
#   drives the system Chromium through it; no browser download).
# * A half-finished install (no marker) is removed and redone.
#
# Environment:
#   CUA_VERSION   version to install (default: the pin below)
#   CUA_VENV      venv directory (default: <repo>/.ci-venvs/cua)
#   CUA_PYTHON    interpreter for the venv (default: python3)
set -euo pipefail

CUA_VERSION="${CUA_VERSION:-0.9.1}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${CUA_VENV:-$repo/.ci-venvs/cua}"
python="${CUA_PYTHON:-python3}"
marker="$venv/.augur-installed"
want="cua-agent==$CUA_VERSION"

installed() {
    [[ -f "$marker" && -x "$venv/bin/python" && "$(cat "$marker")" == "$want" ]]
}

installed && exit 0

mkdir -p "$(dirname "$venv")"
# Serialise concurrent installs (two jobs on one machine) on a lock beside the venv.
exec 9>"$venv.lock"
flock 9
installed && exit 0

log="$(mktemp "${TMPDIR:-/tmp}/install-cua.XXXXXX.log")"
trap 'rm -f "$log"' EXIT
fail() {
    echo "install-cua: $1 failed; last lines of the log:" >&2
    tail -n 40 "$log" >&2
    exit 1
}

start=$SECONDS
echo "install-cua: installing $want into ${venv#"$repo"/} (a few minutes: litellm, ...)…"
rm -rf "$venv"
"$python" -m venv "$venv" >>"$log" 2>&1 || fail "venv creation"
PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install --quiet --no-input \
    --progress-bar off "$want" playwright -e "$repo" >>"$log" 2>&1 \
    || { rm -rf "$venv"; fail "pip install"; }
"$venv/bin/python" -c "import importlib.metadata as m; assert m.version('cua-agent') == '$CUA_VERSION'" \
    >>"$log" 2>&1 || { rm -rf "$venv"; fail "the version check"; }
echo "$want" >"$marker"
echo "install-cua: done in $((SECONDS - start)) s"
