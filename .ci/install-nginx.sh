#!/usr/bin/env bash
# Install nginx from Debian's package for the two-replica deployment test
# (tests/server/test_deploy_replicas.py) and the load benchmark (benchmarks/bench_serve_load.py).
#
#   bash .ci/install-nginx.sh
#
# * Idempotent: exits at once when an nginx binary is there.
# * The tests run nginx themselves in the foreground (deploy/render_nginx.py writes its
#   configuration); the package's own service is not started or needed.
# * Needs root or sudo, and apt-get (Debian/Ubuntu). Elsewhere: install nginx by hand.
set -euo pipefail

if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-nginx: no apt-get here; install nginx by hand" >&2
    exit 1
fi
as_root=()
if [ "$(id -u)" != 0 ]; then
    as_root=(sudo -n)
fi
echo "install-nginx: apt-get install nginx…"
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d: do not start the packaged service (it would take port 80); one already
# there (container images ship one) is left as it is.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    "${as_root[@]}" sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
    trap '"${as_root[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
fi
"${as_root[@]}" apt-get install -y -q --no-install-recommends nginx >/dev/null 2>&1 || {
    "${as_root[@]}" apt-get update -q >/dev/null
    "${as_root[@]}" apt-get install -y -q --no-install-recommends nginx >/dev/null
}
echo "install-nginx: $(/usr/sbin/nginx -v 2>&1)"
