#!/usr/bin/env bash
# Install Arize Phoenix (a real OTLP receiver) into its own virtualenv for tests/otlp.
#
#   bash .ci/install-phoenix.sh          # -> .ci-venvs/phoenix/bin/phoenix
#
# * Idempotent: when the pinned version is already installed it only checks a marker file
#   and exits silently (well under a second). A first install takes a few minutes (3.4 and 9.0
#   min measured on a busy 2-core machine).
# * Separate venv: Phoenix pulls in pandas, pyarrow, numpy, protobuf … and
#   arize-phoenix-client registers a pytest plugin; none of that belongs in the project's venv.
# * A half-finished install (no marker) is removed and redone.
#
# Environment:
#   PHOENIX_VERSION   version to install (default: the pin below)
#   PHOENIX_VENV      venv directory (default: <repo>/.ci-venvs/phoenix); tests/otlp reads the same
#                     variable
#   PHOENIX_PYTHON    interpreter for the venv (default: python3)
set -euo pipefail

PHOENIX_VERSION="${PHOENIX_VERSION:-20.26.1}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${PHOENIX_VENV:-$repo/.ci-venvs/phoenix}"
python="${PHOENIX_PYTHON:-python3}"
marker="$venv/.augur-installed"
want="arize-phoenix==$PHOENIX_VERSION"

installed() {
    [[ -f "$marker" && -x "$venv/bin/phoenix" && "$(cat "$marker")" == "$want" ]]
}

installed && exit 0

mkdir -p "$(dirname "$venv")"
# Serialise concurrent installs (two jobs on one machine) on a lock beside the venv.
exec 9>"$venv.lock"
flock 9
installed && exit 0

log="$(mktemp "${TMPDIR:-/tmp}/install-phoenix.XXXXXX.log")"
trap 'rm -f "$log"' EXIT
fail() {
    echo "install-phoenix: $1 failed; last lines of the log:" >&2
    tail -n 40 "$log" >&2
    exit 1
}

start=$SECONDS
echo "install-phoenix: installing $want into ${venv#"$repo"/} (a few minutes: pandas, pyarrow, ...)…"
rm -rf "$venv"
"$python" -m venv "$venv" >>"$log" 2>&1 || fail "venv creation"
# pip compiles .pyc during install; that matters here because PYTHONDONTWRITEBYTECODE=1 would
# otherwise make every Phoenix start ~7 s slower.
PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install --quiet --no-input \
    --progress-bar off "$want" >>"$log" 2>&1 || { rm -rf "$venv"; fail "pip install"; }
# A cheap sanity check (importing phoenix itself takes 10-30 s, the tests do that).
"$venv/bin/python" -c "import importlib.metadata as m; assert m.version('arize-phoenix') == '$PHOENIX_VERSION'" \
    >>"$log" 2>&1 && [[ -x "$venv/bin/phoenix" ]] || { rm -rf "$venv"; fail "the version check"; }
echo "$want" >"$marker"
echo "install-phoenix: done in $((SECONDS - start)) s"
