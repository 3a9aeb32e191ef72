#!/usr/bin/env bash
# browser-use in its own virtualenv, for tests/integrations/test_browser_use.py:
#   bash .ci/install-browser-use.sh  ->  .ci-venvs/browser-use/bin/python
#
# Its own venv: browser-use pins anthropic<2 (our test extra pins anthropic 2.x) and pulls in
# google-genai, openai, groq, … none of which belongs in the project's venv; a first install
# downloads ~370 MB (a few minutes). This repository is installed editable beside it, so the
# driver records with the code under test. What every installer does (idempotent,
# BROWSER_USE_VERSION / BROWSER_USE_VENV / BROWSER_USE_PYTHON, locking, checks):
# .ci/lib/pinned-venv.sh.
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
source "$here/lib/pinned-venv.sh"
pinned_venv browser-use browser-use 0.13.14 python "a few minutes: ~370 MB" \
    -e "$(cd "$here/.." && pwd)"
