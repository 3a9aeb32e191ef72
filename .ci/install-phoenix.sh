#!/usr/bin/env bash
# Arize Phoenix (a real OTLP receiver) in its own virtualenv, for tests/otlp:
#   bash .ci/install-phoenix.sh  ->  .ci-venvs/phoenix/bin/phoenix
#
# Its own venv: Phoenix pulls in pandas, pyarrow, numpy, protobuf … and arize-phoenix-client
# registers a pytest plugin; none of that belongs in the project's venv. A first install takes
# a few minutes (3.4 and 9.0 min measured on a busy 2-core machine). What every installer does
# (idempotent, PHOENIX_VERSION / PHOENIX_VENV / PHOENIX_PYTHON, locking, checks):
# .ci/lib/pinned-venv.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/pinned-venv.sh"
pinned_venv phoenix arize-phoenix 20.26.1 phoenix "a few minutes: pandas, pyarrow, ..."
