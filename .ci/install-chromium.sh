#!/usr/bin/env bash
# Debian's Chromium for the demo and the viewer's end-to-end tests. Python Playwright drives
# /usr/bin/chromium through executable_path and never downloads a browser of its own.
# Headless Chromium needs only the package's own dependencies (about 25 packages on a bare
# Debian 12); its recommends (upower, printing and desktop-notification services, and the
# avahi/cups/samba libraries they pull in: over 100 more) are left out. DejaVu is there so
# that pages render text. Idempotent: does nothing when /usr/bin/chromium is already there.
# Needs root (CI runs as root); apt's output goes to a log shown only on failure.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
export DEBIAN_FRONTEND=noninteractive
log="$(mktemp "${TMPDIR:-/tmp}/install-chromium.XXXXXX.log")"
start=$SECONDS
echo "install-chromium: installing Debian's chromium with apt-get, without recommends" \
     "(about 25 packages, 1-2 minutes) ..."
# Another apt-get on the machine holds the lock for a while: wait for it, not fail.
apt_get() { apt-get -o DPkg::Lock::Timeout=600 "$@" >>"$log" 2>&1; }
if ! apt_get update -q \
   || ! apt_get install -y -q --no-install-recommends chromium fonts-dejavu-core; then
  echo "install-chromium: apt-get failed; the end of its log ($log):" >&2
  tail -n 40 "$log" >&2
  exit 1
fi
test -x /usr/bin/chromium
rm -f "$log"
echo "install-chromium: done in $((SECONDS - start)) s"
