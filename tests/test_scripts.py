"""The README's scripts and the CI entry: they say what they install and roughly how long
(pip's own output only when it fails), and CI runs the suite on both ends of the Pythons the
package claims."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV_LIB = ROOT / "scripts" / "venv-lib.sh"

PYPROJECT = textwrap.dedent("""
    [build-system]
    requires = ["hatchling>=1.24"]
    build-backend = "hatchling.build"
    [project]
    name = "tinypkg"
    version = "0.0.1"
    dependencies = [{deps}]
    [project.optional-dependencies]
    extra = []
    [tool.hatch.build.targets.wheel]
    packages = ["src/tinypkg"]
""")


def _ensure_venv(project: Path) -> subprocess.CompletedProcess[str]:
    script = f'source {VENV_LIB}; ensure_venv tiny extra "tinypkg, a test project" "a moment"'
    return subprocess.run(["bash", "-c", script], cwd=project, capture_output=True, text=True,
                          timeout=600,
                          env={**os.environ, "PYTHON": sys.executable, "VENV": ".venv"},
                          stdin=subprocess.DEVNULL)


@pytest.mark.slow
def test_installs_say_what_and_how_long_and_keep_pips_noise_out(tmp_path: Path) -> None:
    """First install: two lines (what, roughly how long; then the time taken), nothing of
    pip's; again: silent; a broken project: pip's log tail on stderr and a non-zero exit."""
    project = tmp_path / "proj"
    (project / "src" / "tinypkg").mkdir(parents=True)
    (project / "src" / "tinypkg" / "__init__.py").write_text("")
    (project / "pyproject.toml").write_text(PYPROJECT.format(deps=""))

    first = _ensure_venv(project)
    assert first.returncode == 0, first.stdout + first.stderr
    lines = first.stdout.splitlines()
    assert lines[0] == ("tiny: installing tinypkg, a test project into .venv (a moment the "
                        "first time) ..."), lines
    assert re.fullmatch(r"tiny: installed in \d+ s", lines[1]) and len(lines) == 2, lines
    assert first.stderr == "", first.stderr
    assert (project / ".venv" / ".augur-installed-extra").is_file()

    again = _ensure_venv(project)
    assert (again.returncode, again.stdout, again.stderr) == (0, "", "")

    (project / "pyproject.toml").write_text(PYPROJECT.format(deps="") + "[broken\n")
    broken = _ensure_venv(project)
    assert broken.returncode != 0
    assert "tiny: the install failed; the end of pip's log" in broken.stderr, broken.stderr
    assert len(broken.stderr.splitlines()) > 5, broken.stderr  # pip's own words follow


def _find_python(version: str) -> subprocess.CompletedProcess[str]:
    text = (ROOT / ".ci" / "run").read_text()
    function = text[text.index("find_python() {"):text.index("\n}\n", text.index("find_python"))]
    return subprocess.run(["bash", "-c", f"{function}\n}}\nfind_python {version}"],
                          capture_output=True, text=True, timeout=60)


def test_ci_runs_the_suite_on_the_oldest_and_newest_python_claimed() -> None:
    """.ci/run loops over the first and last Python of pyproject's classifiers and finds each
    interpreter (a pyenv shim of an unselected version does not count)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    claimed = sorted((c.rsplit(" :: ", 1)[1] for c in project["classifiers"]
                      if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)),
                     key=lambda v: int(v.split(".")[1]))
    assert project["requires-python"] == f">={claimed[0]}"
    loop = re.search(r"^for version in ([\d. ]+); do$", (ROOT / ".ci" / "run").read_text(), re.M)
    assert loop and loop.group(1).split() == [claimed[0], claimed[-1]]
    for version in (claimed[0], claimed[-1]):
        found = _find_python(version)
        if found.returncode != 0 and not os.environ.get("CI"):
            pytest.skip(f"Python {version} is not installed here")
        assert found.returncode == 0, f"no Python {version}: {found.stderr}"
        python = found.stdout.strip()
        ran = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=60)
        assert ran.stdout.strip() == str(tuple(int(p) for p in version.split("."))), ran
