# Shared by the .ci/install-<name>.sh scripts that put one pinned package (a test receiver,
# a framework an integration hooks) into a virtualenv of its own under .ci-venvs/. Sourced,
# not run (scripts/test.sh runs .ci/install-*.sh only).
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/pinned-venv.sh"
#   pinned_venv NAME DIST VERSION EXE NOTE [MORE PIP ARGUMENTS...]
#
# installs DIST==VERSION (and the extra pip arguments) into .ci-venvs/NAME, then writes the
# marker file .augur-installed that the tests look for. What every installer gets:
#
# * Idempotent: with the pinned version installed it only reads the marker and returns
#   (well under a second).
# * Overridable: $<NAME>_VERSION, $<NAME>_VENV (the tests read the same variable) and
#   $<NAME>_PYTHON (default python3), NAME upper-cased with '-' as '_'.
# * Safe: concurrent installs (two jobs on one machine) are serialised on a lock beside the
#   venv; a half-finished install (no marker) is removed and redone; a failure prints the end
#   of pip's log.
# * Checked: the installed version is read back, and bin/EXE must exist.

pinned_venv() {
    local name="$1" dist="$2" version="$3" exe="$4" note="$5"
    shift 5
    local var repo venv python marker want log start
    var="$(echo "$name" | tr '[:lower:]-' '[:upper:]_')"
    version="$(eval echo "\${${var}_VERSION:-$version}")"
    repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
    venv="$(eval echo "\${${var}_VENV:-$repo/.ci-venvs/$name}")"
    python="$(eval echo "\${${var}_PYTHON:-python3}")"
    marker="$venv/.augur-installed"
    want="$dist==$version"

    _pinned_installed() {
        [[ -f "$marker" && -x "$venv/bin/$exe" && "$(cat "$marker")" == "$want" ]]
    }
    _pinned_installed && return 0
    mkdir -p "$(dirname "$venv")"
    exec 9>"$venv.lock"
    flock 9
    if _pinned_installed; then
        exec 9>&-
        return 0
    fi
    log="$(mktemp "${TMPDIR:-/tmp}/install-$name.XXXXXX.log")"
    _pinned_fail() {
        echo "install-$name: $1 failed; last lines of the log:" >&2
        tail -n 40 "$log" >&2
        rm -rf "$venv" "$log"
        exit 1
    }
    start=$SECONDS
    echo "install-$name: installing $want into ${venv#"$repo"/} ($note)…"
    rm -rf "$venv"
    "$python" -m venv "$venv" >>"$log" 2>&1 || _pinned_fail "venv creation"
    # pip compiles .pyc during install: with PYTHONDONTWRITEBYTECODE=1 set later, every start
    # of a big package would otherwise compile again.
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install --quiet --no-input \
        --progress-bar off "$want" "$@" >>"$log" 2>&1 || _pinned_fail "pip install"
    "$venv/bin/python" -c "import importlib.metadata as m, sys; \
sys.exit(m.version('$dist') != '$version')" >>"$log" 2>&1 && [[ -x "$venv/bin/$exe" ]] \
        || _pinned_fail "the version check"
    echo "$want" >"$marker"
    rm -f "$log"
    exec 9>&-
    echo "install-$name: done in $((SECONDS - start)) s"
}
