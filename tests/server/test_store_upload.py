"""``augur serve --store s3://...``: finished runs are uploaded to a real S3 API (moto on
loopback), re-uploaded when late data changes them, optionally evicted locally, and runs an
earlier server left un-uploaded are found at start."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from serverkit import ACME, session_record

from augur_sdk.stores.s3 import ClientOptions, S3Location
from augur_sdk.stores.sync import mirror
from augur_sdk.validation import validate_bundle

from s3_support import BUCKET, MotoServer, aws_env, require_moto
from support import step_record


@pytest.fixture
def moto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[MotoServer,
                                                                               dict[str, str]]]:
    require_moto()
    server = MotoServer(tmp_path)
    server.start()
    env = aws_env(server.endpoint, tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        yield server, env
    finally:
        server.stop()


def finish_run(srv: Any, run: str, steps: int = 2) -> None:
    recs = [step_record(run, i) for i in range(steps)]
    srv.json("PUT", f"/runs/{run}/session", session_record(run, status="running"))
    for i, rec in enumerate(recs):
        srv.json("PUT", f"/runs/{run}/steps/{i}", rec)
    srv.json("PUT", f"/runs/{run}/trace", {"session": session_record(run), "steps": recs})


def store_stats(srv: Any) -> dict[str, Any]:
    http = urllib3.PoolManager(retries=False, timeout=5.0)
    stats: dict[str, Any] = http.request("GET", f"{srv.url}/healthz").json()["store"]
    return stats


def wait_stats(srv: Any, check: Any, timeout_s: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    stats = store_stats(srv)
    while not check(stats):
        if time.monotonic() > deadline:
            raise AssertionError(f"store stats never matched: {stats}")
        time.sleep(0.05)
        stats = store_stats(srv)
    return stats


def bucket_copy(prefix: str, dest: Path) -> Path:
    result = mirror(S3Location(BUCKET, prefix, ClientOptions()), dest)
    assert result.failed == 0
    return dest


def test_finished_run_is_uploaded_and_late_data_uploaded_again(
        moto: tuple[MotoServer, dict[str, str]], make_server: Any, tmp_path: Path) -> None:
    """The finished run lands valid under <prefix>/<tenant>/<run>/; a step merged within the
    reopen window is uploaded too; a running run is not uploaded."""
    server, env = moto
    srv = make_server("--store", f"s3://{BUCKET}/up", "--store-delay", "0.1", env=env)
    srv.json("PUT", "/runs/still-running/session", session_record("still-running",
                                                                  status="running"))
    finish_run(srv, "r1")
    wait_stats(srv, lambda s: s["uploaded"] >= 1 and s["queued"] == 0)
    copy = bucket_copy("up/acme/r1", tmp_path / "c1")
    assert validate_bundle(copy) == []
    assert sorted(p.name for p in (copy / "steps").iterdir()) == ["0000.json", "0001.json"]
    assert not server.objects(prefix="up/acme/still-running")

    srv.json("PUT", "/runs/r1/steps/2", step_record("r1", 2))  # late, within the window
    wait_stats(srv, lambda s: s["uploaded"] >= 2 and s["queued"] == 0)
    copy = bucket_copy("up/acme/r1", tmp_path / "c2")
    assert validate_bundle(copy) == []
    assert (copy / "steps" / "0002.json").is_file()


def test_evict_removes_the_local_bundle_after_the_reopen_window(
        moto: tuple[MotoServer, dict[str, str]], make_server: Any, tmp_path: Path) -> None:
    """--evict: the bundle directory goes once uploaded and past --reopen-window; the index
    stays, so late data is answered 'ignored' and does not make a new bundle."""
    _server, env = moto
    srv = make_server("--store", f"s3://{BUCKET}/ev", "--store-delay", "0", "--evict",
                      "--reopen-window", "0.5", env=env)
    finish_run(srv, "gone")
    wait_stats(srv, lambda s: s["evicted"] == 1, timeout_s=30)
    assert not srv.run_dir("gone").exists()
    assert (srv.data / "acme" / ".augur-server" / "gone.json").is_file()
    late = srv.json("PUT", "/runs/gone/steps/5", step_record("gone", 5))
    assert late.get("ignored")
    assert not srv.run_dir("gone").exists()
    assert validate_bundle(bucket_copy("ev/acme/gone", tmp_path / "c")) == []


def test_runs_left_unuploaded_are_found_at_start(
        moto: tuple[MotoServer, dict[str, str]], make_server: Any, tmp_path: Path) -> None:
    """Runs finished by a server without --store are uploaded when a server with --store
    starts on the same data directory; an uploaded run is not sent again."""
    _server, env = moto
    base = tmp_path / "shared"
    first = make_server(base=base, env=env)
    finish_run(first, "old1")
    finish_run(first, "old2")
    first.stop()
    second = make_server("--store", f"s3://{BUCKET}/scan", base=base, env=env)
    wait_stats(second, lambda s: s["uploaded"] == 2 and s["queued"] == 0)
    for run in ("old1", "old2"):
        assert validate_bundle(bucket_copy(f"scan/acme/{run}", tmp_path / run)) == []
    second.stop()
    third = make_server("--store", f"s3://{BUCKET}/scan", base=base, env=env)
    time.sleep(0.5)
    assert store_stats(third) == {"store": f"s3://{BUCKET}/scan", "queued": 0, "uploaded": 0,
                                  "failed_attempts": 0, "evicted": 0}


@pytest.mark.parametrize(("args", "message"), [
    (["--store", "s3://"], "store: expected s3://BUCKET"),
    (["--store", "file:///tmp/x"], "store: expected s3://BUCKET"),
    (["--evict"], "evict: needs --store"),
    (["--store", "s3://b/p", "--store-delay", "-1"], "store_delay_s: must be 0 or positive"),
])
def test_bad_store_options_are_refused(tmp_path: Path, args: list[str], message: str) -> None:
    """Bad --store options end augur serve at once with exit 2 and a message naming them."""
    proc = subprocess.run([sys.executable, "-m", "augur_sdk.cli", "serve", "--data",
                           str(tmp_path / "d"), "--port", "0", *args],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert ACME not in proc.stderr
