# Sourced by scripts/demo.sh and scripts/test.sh (not run on its own).
#
# ensure_venv WHO EXTRA WHAT HOW_LONG: make $VENV (default ./.venv) with $PYTHON (default
# python3) and install this checkout into it with the extra EXTRA, saying first what is
# being installed and roughly how long it takes. pip's own output goes to a log file that is
# shown only when the install fails. The install is skipped when $VENV already has it: a
# stamp holds pyproject.toml's hash, the extra and the venv's Python version.

: "${VENV:=.venv}"
: "${PYTHON:=python3}"

_venv_want() {
  echo "$(sha256sum pyproject.toml | cut -d' ' -f1) $1 $("$VENV/bin/python" --version 2>&1)"
}

ensure_venv() {
  local who="$1" extra="$2" what="$3" how_long="$4"
  local stamp="$VENV/.augur-installed-$extra" log start
  if [ -x "$VENV/bin/python" ] && [ -f "$stamp" ] \
     && [ "$(cat "$stamp")" = "$(_venv_want "$extra")" ]; then
    return 0
  fi
  echo "$who: installing $what into $VENV ($how_long the first time) ..."
  log="$(mktemp "${TMPDIR:-/tmp}/augur-pip.XXXXXX.log")"
  start=$SECONDS
  if ! { [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"; } >>"$log" 2>&1 \
     || ! "$VENV/bin/python" -m pip install --upgrade --progress-bar off pip >>"$log" 2>&1 \
     || ! "$VENV/bin/python" -m pip install --progress-bar off -e ".[$extra]" >>"$log" 2>&1; then
    echo "$who: the install failed; the end of pip's log ($log):" >&2
    tail -n 40 "$log" >&2
    return 1
  fi
  rm -f "$log"
  _venv_want "$extra" >"$stamp"
  echo "$who: installed in $((SECONDS - start)) s"
}
