"""The internal-error gate: a telemetry failure is logged once per place and kind and never
reaches the agent; under the test suite it re-raises; Ctrl-C and SystemExit always pass."""

from __future__ import annotations

import logging

import pytest

from augur_sdk import _internal
from augur_sdk._internal import internal_errors


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(_internal.RAISE_ENV, raising=False)
    _internal.reset_log_once()


def test_an_error_is_swallowed_and_logged_once_per_place_and_kind(
        production: None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="augur_sdk")
    for _ in range(3):
        with internal_errors("disk"):
            raise OSError("full")
    with internal_errors("disk"):
        raise ValueError("other kind")
    with internal_errors("stream"):
        raise OSError("other place")
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3
    assert "internal error in disk (OSError: full)" in messages[0]
    assert "internal error in disk (ValueError: other kind)" in messages[1]
    assert "internal error in stream (OSError: other place)" in messages[2]
    assert not any(r.exc_info for r in caplog.records)  # no traceback below DEBUG


def test_at_debug_level_the_log_line_carries_the_traceback(
        production: None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="augur_sdk")
    with internal_errors("hasher"):
        raise RuntimeError("boom")
    (record,) = [r for r in caplog.records if "hasher" in r.getMessage()]
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError
    assert "raise RuntimeError" in caplog.text  # the formatted traceback names the line


def test_under_the_test_suite_the_error_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_internal.RAISE_ENV, "1")
    with pytest.raises(OSError, match="full"), internal_errors("disk"):
        raise OSError("full")


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit])
def test_interrupts_and_exits_are_never_swallowed(production: None,
                                                  exc: type[BaseException]) -> None:
    with pytest.raises(exc), internal_errors("anywhere"):
        raise exc()


def test_nothing_raised_means_nothing_logged(production: None,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="augur_sdk")
    with internal_errors("quiet") as entered:
        pass
    assert entered is None and caplog.records == []
