#!/usr/bin/env bash
# cua-agent (the Cua computer-use agent framework) in its own virtualenv, for
# tests/integrations/test_cua.py:  bash .ci/install-cua.sh  ->  .ci-venvs/cua/bin/python
#
# Its own venv: cua-agent pins litellm==1.86.2 (with openai, tokenizers, ...); none of that
# belongs in the project's venv. The venv also gets this repository (editable, so the driver
# records with the code under test) and Playwright's Python package (the driver's computer
# drives the system Chromium through it; no browser download). What every installer does
# (idempotent, CUA_VERSION / CUA_VENV / CUA_PYTHON, locking, checks): .ci/lib/pinned-venv.sh.
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
source "$here/lib/pinned-venv.sh"
pinned_venv cua cua-agent 0.9.1 python "a few minutes: litellm, ..." \
    playwright -e "$(cd "$here/.." && pwd)"
