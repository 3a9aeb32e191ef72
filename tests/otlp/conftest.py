"""A real OTLP receiver for the tests in this folder: Arize Phoenix on 127.0.0.1.

Phoenix runs from its own venv (``bash .ci/install-phoenix.sh`` makes ``.ci-venvs/phoenix``;
``PHOENIX_VENV`` points elsewhere) as one process per test session, on free loopback ports,
with telemetry and external resources off and a throwaway working directory (its SQLite DB).
It is stopped by its process group at the end, and the fixture checks that it is gone.

Without the venv the tests are skipped, except under ``CI`` where that is a failure: CI must
install Phoenix, not silently skip the only test against a real receiver.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALL_HINT = "bash .ci/install-phoenix.sh"
# Startup is mostly Python imports: 10-13 s on an idle 2-core machine, ~40 s under load.
START_TIMEOUT_S = float(os.environ.get("AUGUR_PHOENIX_START_TIMEOUT_S", "180"))
STOP_TIMEOUT_S = 15.0
# Lines of Phoenix's structured log that mean a span was lost after OTLP said SUCCESS.
LOG_ERROR_MARKERS = ('"level": "ERROR"', '"level": "CRITICAL"', "Span insertion failed")

_timings: dict[str, float] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "phoenix: needs the Arize Phoenix receiver (deselect with -m 'not phoenix')"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.phoenix)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _timings:
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in _timings.items())
        terminalreporter.write_line(f"phoenix receiver: {parts}")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def phoenix_venv() -> Path:
    return Path(os.environ.get("PHOENIX_VENV") or REPO / ".ci-venvs" / "phoenix")


def _free_port(family: socket.AddressFamily, host: str) -> int:
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _free_grpc_port() -> int:
    # Phoenix binds gRPC to [::]:port (hard-coded, whatever PHOENIX_HOST says): pick a port
    # that is free on every interface, not just on loopback.
    try:
        return _free_port(socket.AF_INET6, "::")
    except OSError:
        return _free_port(socket.AF_INET, "0.0.0.0")


class Phoenix:
    """A running Phoenix: OTLP endpoints, a small REST client, and its log."""

    def __init__(self, proc: subprocess.Popen[bytes], http_port: int, grpc_port: int,
                 log_path: Path) -> None:
        self.proc = proc
        self.http_port = http_port
        self.grpc_port = grpc_port
        self.log_path = log_path
        self.base_url = f"http://127.0.0.1:{http_port}"
        self.otlp_http_endpoint = self.base_url  # the SDK adds /v1/traces
        self.otlp_grpc_endpoint = f"http://127.0.0.1:{grpc_port}"

    def endpoint(self, protocol: str) -> str:
        return self.otlp_grpc_endpoint if protocol == "grpc" else self.otlp_http_endpoint

    # ── REST ────────────────────────────────────────────────────────────────

    def get_json(self, path: str, timeout_s: float = 10.0) -> Any:
        with urllib.request.urlopen(self.base_url + path, timeout=timeout_s) as resp:
            return json.load(resp)

    def spans(self, project: str, trace_id: str) -> list[dict[str, Any]]:
        """Every stored span of ``trace_id`` in ``project`` ([] while the project is unknown)."""
        out: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            query = {"trace_id": trace_id, "limit": "100"}
            if cursor:
                query["cursor"] = cursor
            path = (f"/v1/projects/{urllib.parse.quote(project, safe='')}/spans?"
                    + urllib.parse.urlencode(query))
            try:
                page = self.get_json(path)
            except urllib.error.HTTPError as exc:
                if exc.code == 404:  # the project exists only once its first span is stored
                    return []
                raise
            out.extend(page["data"])
            cursor = page.get("next_cursor")
            if not cursor:
                return out

    def wait_for_spans(self, project: str, trace_id: str, count: int,
                       timeout_s: float = 30.0) -> list[dict[str, Any]]:
        """Poll (narrowly, by trace id) until ``count`` spans are stored; insertion is async."""
        deadline = time.monotonic() + timeout_s
        spans: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            spans = self.spans(project, trace_id)
            if len(spans) >= count:
                return spans
            self.check_alive()
            time.sleep(0.25)
        raise AssertionError(
            f"Phoenix stored {len(spans)} of {count} spans of trace {trace_id} in project "
            f"{project!r} within {timeout_s:.0f} s\n{self.log_errors()}\n{self.log_tail()}")

    # ── process and log ─────────────────────────────────────────────────────

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(
                f"Phoenix exited with status {self.proc.returncode}\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no Phoenix log)"
        return "--- Phoenix log (tail) ---\n" + "\n".join(text.splitlines()[-lines:])

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_errors(self, since: int = 0) -> str:
        """Error lines in Phoenix's log after byte ``since``: a span Phoenix could not store
        is reported there and nowhere else (the OTLP call had already succeeded)."""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(since)
                text = fh.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(line for line in text.splitlines()
                         if any(marker in line for marker in LOG_ERROR_MARKERS))


def _phoenix_env(workdir: Path, http_port: int, grpc_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OTEL_", "PHOENIX_", "AUGUR_"))}
    env.update({
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(http_port),
        "PHOENIX_GRPC_PORT": str(grpc_port),
        "PHOENIX_WORKING_DIR": str(workdir),
        # No outside connection at all (no telemetry, no CDN, no sandbox download): checked
        # with strace in shared/research/receivers.md.
        "PHOENIX_TELEMETRY_ENABLED": "false",
        "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
        "PHOENIX_DISABLE_AGENT_ASSISTANT": "true",
        "PHOENIX_AGENTS_DISABLE_BASH": "true",
        "PHOENIX_LOG_MIGRATIONS": "false",
        "PHOENIX_LOGGING_MODE": "structured",
    })
    return env


def _die_with_parent() -> None:
    """In the child: SIGTERM when pytest dies (even by SIGKILL), so no Phoenix is orphaned."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL it after a grace period, and check it is gone."""
    pgid = proc.pid  # start_new_session=True: the group id is the leader's pid
    for sig, grace in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)  # exit status 143 (uvicorn re-raises SIGTERM) is normal
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return  # no process left in the group
            time.sleep(0.05)
    raise AssertionError(f"Phoenix process group {pgid} is still alive after SIGKILL")


def _wait_ready(proc: subprocess.Popen[bytes], http_port: int, grpc_port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    url = f"http://127.0.0.1:{http_port}/readyz"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    with socket.create_connection(("127.0.0.1", grpc_port), timeout=2):
                        return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"not ready within {START_TIMEOUT_S:.0f} s")


@pytest.fixture(scope="session")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Phoenix]:
    """Phoenix on free loopback ports for the whole session; stopped (and checked) at the end."""
    exe = phoenix_venv() / "bin" / "phoenix"
    if not os.access(exe, os.X_OK):
        message = f"Arize Phoenix is not installed at {exe}; run `{INSTALL_HINT}`"
        if _in_ci():
            pytest.fail(f"{message} (CI is set: the OTLP round-trip tests must run)")
        pytest.skip(message)

    errors = []
    for attempt in range(3):  # it exits if a port was taken after we picked it: retry
        workdir = tmp_path_factory.mktemp("phoenix")
        log_path = workdir / "phoenix.log"
        http_port, grpc_port = _free_port(socket.AF_INET, "127.0.0.1"), _free_grpc_port()
        started = time.monotonic()
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [str(exe), "serve"], cwd=workdir, env=_phoenix_env(workdir, http_port, grpc_port),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_die_with_parent,
            )
        server = Phoenix(proc, http_port, grpc_port, log_path)
        try:
            _wait_ready(proc, http_port, grpc_port)
        except (RuntimeError, TimeoutError) as exc:
            _stop(proc)
            errors.append(f"attempt {attempt + 1}: Phoenix {exc}\n{server.log_tail()}")
            if isinstance(exc, TimeoutError):  # slow, not clashing: a retry would not help
                break
            continue
        _timings["startup"] = time.monotonic() - started
        try:
            yield server
        finally:
            stopping = time.monotonic()
            _stop(proc)
            _timings["stop"] = time.monotonic() - stopping
        return
    pytest.fail("Phoenix did not start:\n" + "\n".join(errors))
