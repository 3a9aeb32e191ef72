#!/usr/bin/env bash
# Debian's Chromium for the viewer's end-to-end tests (tests/viewer). Python Playwright
# drives /usr/bin/chromium through executable_path and never downloads a browser of its own.
# Idempotent: does nothing when /usr/bin/chromium is already there. CI runs as root.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q chromium >/dev/null
test -x /usr/bin/chromium
