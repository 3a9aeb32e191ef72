"""augur_sdk.integrations.openai_agents without the SDK, or with a version outside the tested
range: one clear error naming what to install; importing the integration never imports the
SDK. In-process where the version check allows it, a subprocess where ``agents`` must be
missing (it is installed in the test venv)."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest

from augur_sdk.integrations import IntegrationNotInstalled
from augur_sdk.integrations import openai_agents as integration
from integrations.integration_support import REPO


def test_a_missing_sdk_says_what_to_install() -> None:
    """Not installed: the error names the integration, the distribution, the tested range
    and the extra to install."""
    with pytest.raises(IntegrationNotInstalled) as caught:
        integration.FRAMEWORK.check_version(None)
    text = str(caught.value)
    assert "augur_sdk.integrations.openai_agents needs openai-agents" in text
    assert "pip install 'openai-agents>=0.24,<0.25'" in text
    assert "pip install -e '.[openai-agents]'" in text


def test_the_extra_installs_the_tested_range() -> None:
    """pyproject's ``openai-agents`` extra is the range the integration accepts, and the test
    extra pins a version inside it."""
    assert (integration.FRAMEWORK.identifier, integration.FRAMEWORK.distribution,
            integration.FRAMEWORK.module) == ("openai_agents", "openai-agents", "agents")
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(r'^openai-agents = \["openai-agents>=0\.24,<0\.25"\]$', pyproject, re.M)
    assert integration.FRAMEWORK.requirement == "openai-agents>=0.24,<0.25"
    pinned = re.search(r'^  "openai-agents==([\d.]+)",$', pyproject, re.M)
    assert pinned
    integration.FRAMEWORK.check_version(pinned.group(1))


@pytest.mark.parametrize("version", ["0.23.9", "0.25.0"])
def test_an_untested_sdk_version_is_refused(version: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Older or newer than tested: refused with the version found; a newer one says how to
    try it anyway."""
    monkeypatch.delenv("AUGUR_INTEGRATIONS_ALLOW_UNTESTED", raising=False)
    with pytest.raises(IntegrationNotInstalled, match=re.escape(f"found {version}")) as caught:
        integration.FRAMEWORK.check_version(version)
    assert ("AUGUR_INTEGRATIONS_ALLOW_UNTESTED=1" in str(caught.value)) == \
        version.startswith("0.25")


def test_record_without_the_sdk_raises_before_opening_a_session(tmp_path: Path) -> None:
    """In a Python where ``agents`` cannot be found, ``record()`` raises the clear error and
    writes nothing (a subprocess: the SDK stays importable here)."""
    code = ("import sys, importlib.metadata as m\n"
            "real = m.version\n"
            "def version(name):\n"
            "    if name == 'openai-agents':\n"
            "        raise m.PackageNotFoundError(name)\n"
            "    return real(name)\n"
            "m.version = version\n"
            "sys.modules['agents'] = None\n"
            "from augur_sdk.integrations import openai_agents\n"
            "try:\n"
            f"    openai_agents.record(out_dir={str(tmp_path / 'runs')!r})\n"
            "except ImportError as exc:\n"
            "    print(type(exc).__name__, exc)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("IntegrationNotInstalled augur_sdk.integrations."
                                  "openai_agents needs openai-agents, which is not installed")
    assert not (tmp_path / "runs").exists()


def test_the_installed_sdk_is_in_the_tested_range() -> None:
    """The SDK the tests run is one the integration accepts (a test-extra bump past the range
    fails here, not silently in users' hands)."""
    integration.FRAMEWORK.check_version(importlib.metadata.version("openai-agents"))


def test_importing_the_integration_does_not_import_the_sdk() -> None:
    """``import augur_sdk.integrations.openai_agents`` leaves ``agents`` unimported."""
    code = ("import sys; import augur_sdk.integrations.openai_agents; "
            "print('agents' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.stdout.strip() == "False", proc.stderr
