"""Real runs of the Playwright demo agent to compare: two passing runs (``clean``, ``clean2``),
the run a dialog broke (``dialog``) and the run with an extra retry (``retry``), each recorded
once per test process by ``examples/playwright_agent/demo.py --variant ...`` in headless
Chromium.

Without Chromium or Playwright the callers skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "playwright_agent" / "demo.py"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
RUNS = {"clean": "clean", "clean2": "clean", "dialog": "dialog", "retry": "retry"}


def require_browser() -> None:
    missing = []
    if not os.path.exists(CHROMIUM):
        missing.append(f"no Chromium at {CHROMIUM} (run .ci/install-chromium.sh as root)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("Playwright for Python is not installed (pip install -e '.[demo]')")
    if missing:
        reason = "; ".join(missing)
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"the demo runs need a browser under CI: {reason}")
        pytest.skip(reason)


@functools.cache
def _record() -> dict[str, Path]:
    out = Path(tempfile.mkdtemp(prefix="augur-demo-runs-"))
    atexit.register(shutil.rmtree, out, True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AUGUR_"))}
    runs = {}
    for name, variant in RUNS.items():
        env["AUGUR_OUT"] = str(out / name)
        proc = subprocess.run([sys.executable, str(DEMO), "--variant", variant],
                              capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        (bundle,) = (out / name).iterdir()
        runs[name] = bundle
    return runs


def demo_runs() -> dict[str, Path]:
    """``{"clean": bundle, "clean2": bundle, "dialog": bundle, "retry": bundle}`` (recorded
    on first use)."""
    require_browser()
    return _record()
