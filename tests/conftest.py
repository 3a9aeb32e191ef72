"""Shared fixtures: a clean OTel pipeline per test, internal errors re-raised, seed runs."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from augur_sdk import _internal
from augur_sdk.otel import provider

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "tests"))

_OTEL_ENV_PREFIXES = ("OTEL_", "AUGUR_")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(_OTEL_ENV_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv(_internal.RAISE_ENV, "1")
    _internal.reset_log_once()
    provider.reset(timeout_s=1.0)
    yield
    provider.reset(timeout_s=1.0)


