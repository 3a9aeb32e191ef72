"""The install instructions work as written: augur-otel is on no package index, so the docs
and the messages name the checkout, a wheel built from it, or the extras' own packages."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

from augur_sdk._version import __version__
from augur_sdk.cli.serve import SERVER_REQUIREMENTS
from augur_sdk.images import PILLOW_INSTALL

ROOT = Path(__file__).resolve().parents[2]
EXTRAS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def test_the_quickstarts_wheel_builds_and_installs_with_the_server_extra(tmp_path: Path) -> None:
    """`pip wheel --no-deps -w dist .` in the checkout writes the wheel the quickstart names,
    and pip resolves `"<that wheel>[server]"` (a dry run in this venv)."""
    quickstart = (ROOT / "docs" / "quickstart.md").read_text()
    named = re.search(r'pip install "(dist/[^"\[]+\.whl)\[server\]"', quickstart)
    assert named, "the quickstart names no wheel"
    dist = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--progress-bar",
                            "off", "-w", str(dist), "."], cwd=ROOT, capture_output=True,
                           text=True, timeout=300)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    wheel = tmp_path / named.group(1)
    assert wheel.is_file(), sorted(p.name for p in dist.iterdir())
    assert f"-{__version__}-" in wheel.name
    dry = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--progress-bar",
                          "off", f"{wheel}[server]"], capture_output=True, text=True,
                         timeout=300)
    assert dry.returncode == 0, dry.stdout[-2000:] + dry.stderr[-2000:]
    assert f"Would install augur-otel-{__version__}" in dry.stdout, dry.stdout[-2000:]


def test_missing_extra_messages_name_installable_packages() -> None:
    """`augur serve` and screenshot masking name the server/images extras' own packages (on
    PyPI), never `augur-otel[...]`, which no index has."""
    assert list(SERVER_REQUIREMENTS) == EXTRAS["server"]
    assert all(f"'{req}'" in PILLOW_INSTALL for req in EXTRAS["images"])
    assert "augur-otel[" not in PILLOW_INSTALL


def test_augur_serve_without_the_extra_says_what_to_install() -> None:
    """With Starlette unimportable, `augur serve` exits 2 and prints the packages to install."""
    code = ("import sys; sys.modules['starlette'] = None; from augur_sdk.cli import main; "
            "sys.exit(main(['serve', '--port', '0']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "pip install 'starlette>=0.40' 'uvicorn>=0.30' 'python-multipart>=0.0.18'" \
        in proc.stderr, proc.stderr
    assert "augur-otel[" not in proc.stderr
