"""Finding a framework at the moment an integration is enabled (never at import time).

An integration names its framework once (:class:`Framework`: the distribution on PyPI, the
module to import, the versions we test, the extra that installs them). :meth:`Framework.load`
imports it and refuses, with one message that says what to install, when it is missing or
outside the tested range. A range, not a single pin: users upgrade their framework more
often than us, so an untested *newer* release is refused with the way out
(``AUGUR_INTEGRATIONS_ALLOW_UNTESTED=1``) rather than half-working in silence.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
from dataclasses import dataclass
from types import ModuleType

ALLOW_UNTESTED_ENV = "AUGUR_INTEGRATIONS_ALLOW_UNTESTED"

_RELEASE = re.compile(r"(\d+(?:\.\d+)*)")


class IntegrationNotInstalled(ImportError):
    """The framework an integration hooks is not installed, or not a version we test."""


def parse_release(version: str) -> tuple[int, ...]:
    """The release numbers a version string starts with (``"0.13.14rc1"`` -> ``(0, 13, 14)``);
    ``()`` when it starts with none."""
    found = _RELEASE.match(version.strip().lstrip("vV"))
    return tuple(int(part) for part in found.group(1).split(".")) if found else ()


def _text(release: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in release)


@dataclass(frozen=True)
class Framework:
    """One framework an integration hooks."""

    identifier: str                 # the integration's name: "browser_use"
    distribution: str               # on PyPI: "browser-use"
    module: str                     # to import: "browser_use"
    minimum: tuple[int, ...]        # tested range: minimum <= version < below
    below: tuple[int, ...]
    extra: str                      # pyproject's extra; its requirement is this range

    @property
    def supported(self) -> str:
        return f">={_text(self.minimum)},<{_text(self.below)}"

    @property
    def requirement(self) -> str:
        """What installs a tested version (the ``extra``'s requirement in pyproject.toml)."""
        return f"{self.distribution}{self.supported}"

    def _install_hint(self) -> str:
        # augur-otel is on no package index yet, so `pip install 'augur-otel[extra]'` would
        # find nothing: name the requirement itself (a test keeps it in step with the extra).
        return (f"pip install '{self.requirement}' (or, in a checkout of augur-otel, "
                f"pip install -e '.[{self.extra}]')")

    def installed_version(self) -> str | None:
        try:
            return importlib.metadata.version(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            return None

    def check_version(self, version: str | None) -> None:
        """Raise :class:`IntegrationNotInstalled` unless ``version`` is in the tested range
        (an untested newer release passes when ``AUGUR_INTEGRATIONS_ALLOW_UNTESTED`` is set)."""
        where = f"augur_sdk.integrations.{self.identifier}"
        if version is None:
            raise IntegrationNotInstalled(
                f"{where} needs {self.distribution}, which is not installed: "
                f"{self._install_hint()}")
        release = parse_release(version)
        if release and self.minimum <= release < self.below:
            return
        newer = bool(release) and release >= self.below
        if newer and os.environ.get(ALLOW_UNTESTED_ENV, "") not in ("", "0", "false", "no"):
            return
        way_out = (f"; set {ALLOW_UNTESTED_ENV}=1 to try it anyway" if newer else "")
        raise IntegrationNotInstalled(
            f"{where} is tested with {self.distribution}{self.supported}, found {version}: "
            f"{self._install_hint()}{way_out}")

    def load(self) -> ModuleType:
        """Import the framework (after checking its version) and return its module."""
        self.check_version(self.installed_version())
        try:
            return importlib.import_module(self.module)
        except ImportError as exc:
            raise IntegrationNotInstalled(
                f"augur_sdk.integrations.{self.identifier}: importing {self.module} failed "
                f"({exc}); {self._install_hint()}") from exc
