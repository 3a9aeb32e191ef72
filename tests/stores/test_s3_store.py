"""`S3Store` against a real S3-compatible server (moto's server mode on loopback): live and
at-close uploads, the server going away mid-run, `augur upload` finishing the job."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from augur_sdk import DebugSession, S3Store, validate_bundle
from augur_sdk.cli import main as augur
from augur_sdk.stores.s3 import S3Location
from augur_sdk.testing import make_png

from s3_support import BUCKET, KEY_ID, SECRET, MotoServer
from support import event_record, run_seed_session, step_record


def local_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in root.rglob("*") if p.is_file()}


def wait_for(cond: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def record(session: DebugSession, run_id: str, i: int) -> None:
    pre = session.attach_observation(step_index=i, kind="pre", png_bytes=make_png(64, 48, seed=i))
    session.record_step(step_record(run_id, i, pre=pre))
    session.record_event(event_record(i))


def test_live_upload_mirrors_the_bundle(moto_server: MotoServer, tmp_path: Path) -> None:
    """After close the prefix holds the local bundle byte for byte (upload.json included),
    with the manifest and without live.json."""
    manifest = run_seed_session(tmp_path / "b", steps=4,
                                store=S3Store(BUCKET, "runs/r1", poll_interval_s=0.1))
    remote = moto_server.objects(prefix="runs/r1")
    assert remote == local_files(tmp_path / "b")
    assert json.loads(remote["manifest.json"]) == manifest
    assert "live.json" not in remote
    report = json.loads(remote["upload.json"])
    assert report["complete"] and report["destination"] == "s3://augur-runs/runs/r1"
    assert report["endpoint"] == moto_server.endpoint and report["missing"] == []
    assert validate_bundle(tmp_path / "b") == []


def test_files_go_up_while_the_run_goes_on_never_on_the_agents_thread(
        moto_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A step's files reach the store before close (live.json marks the remote copy as
    running, no manifest yet), and no request is made on the agent's thread."""
    threads: set[str] = set()
    real_put = S3Location.put

    def put(self: S3Location, rel: str, data: bytes, content_type: str | None = None) -> None:
        threads.add(threading.current_thread().name)
        real_put(self, rel, data, content_type)

    monkeypatch.setattr(S3Location, "put", put)
    with DebugSession(run_id="r2", client_name="t", capture_mode="screenshots",
                      out_dir=tmp_path / "b",
                      store=S3Store(BUCKET, "live/r2", poll_interval_s=0.1)) as session:
        record(session, "r2", 0)
        wait_for(lambda: {"steps/0000.json", "screenshots/0000_pre.png", "live.json"}
                 <= set(moto_server.objects(prefix="live/r2")))
        assert "manifest.json" not in moto_server.objects(prefix="live/r2")
        record(session, "r2", 1)
        wait_for(lambda: "steps/0001.json" in moto_server.objects(prefix="live/r2"))
    assert threading.main_thread().name not in threads and threads
    assert "manifest.json" in moto_server.objects(prefix="live/r2")


def test_upload_at_close_sends_nothing_before(moto_server: MotoServer, tmp_path: Path) -> None:
    """upload="close": the store sees nothing while the run goes on, everything after."""
    with DebugSession(run_id="r3", client_name="t", capture_mode="screenshots",
                      out_dir=tmp_path / "b",
                      store=S3Store(BUCKET, "c/r3", upload="close")) as session:
        for i in range(3):
            record(session, "r3", i)
        time.sleep(0.5)
        assert moto_server.objects(prefix="c/r3") == {}
    assert moto_server.objects(prefix="c/r3") == local_files(tmp_path / "b")


def test_server_going_away_mid_run_loses_nothing_and_augur_upload_completes(
        own_moto_server: MotoServer, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The server is killed mid-run: the agent never sees an error, the local bundle is
    whole and valid, upload.json and one WARNING say what is missing; no credential is
    written or logged; `augur upload` sends the rest once a server is back."""
    caplog.set_level(logging.DEBUG, logger="augur_sdk")
    out = tmp_path / "b"
    started = time.monotonic()
    with DebugSession(run_id="r4", client_name="t", capture_mode="screenshots", out_dir=out,
                      close_timeout_s=1.5,
                      store=S3Store(BUCKET, "k/r4", poll_interval_s=0.1)) as session:
        for i in range(3):
            record(session, "r4", i)
        wait_for(lambda: "steps/0002.json" in own_moto_server.objects(prefix="k/r4"))
        own_moto_server.stop()  # SIGKILL, by pid
        for i in range(3, 6):
            t = time.monotonic()
            record(session, "r4", i)
            assert time.monotonic() - t < 1.0  # the agent does not wait for the store
        close_started = time.monotonic()
    assert time.monotonic() - close_started < 4.0
    assert validate_bundle(out) == []
    assert sorted(p.name for p in (out / "steps").iterdir()) == \
        [f"{i:04d}.json" for i in range(6)]
    report = json.loads((out / "upload.json").read_text())
    assert not report["complete"] and report["destination"] == "s3://augur-runs/k/r4"
    assert {"manifest.json", "steps/0003.json", "steps/0005.json",
            "screenshots/0004_pre.png"} <= set(report["missing"])
    assert report["missing_count"] == len(report["missing"]) and report["errors"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "augur upload" in warnings[0] and "s3://augur-runs/k/r4" in warnings[0]
    everything = caplog.text + "".join(
        p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())
    assert KEY_ID not in everything and SECRET not in everything
    assert time.monotonic() - started < 60

    own_moto_server.start()  # a new, empty server on the same endpoint
    assert augur(["upload", str(out)]) == 0  # the destination recorded in upload.json
    printed = capsys.readouterr().out
    assert "complete:" in printed and KEY_ID not in printed and SECRET not in printed
    remote = own_moto_server.objects(prefix="k/r4")
    assert remote == local_files(out)
    assert json.loads(remote["upload.json"])["complete"] is True


def test_augur_upload_sends_only_what_is_missing(moto_server: MotoServer, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A partial upload is completed: objects already there (same MD5) are not sent again,
    lost ones and the manifest are, a leftover live.json is removed."""
    out = tmp_path / "b"
    run_seed_session(out, steps=4, store=S3Store(BUCKET, "p/r5", poll_interval_s=0.1))
    client = moto_server.client()
    for rel in ("steps/0001.json", "screenshots/0002_post.png", "manifest.json"):
        client.delete_object(Bucket=BUCKET, Key=f"p/r5/{rel}")
    client.put_object(Bucket=BUCKET, Key="p/r5/steps/0003.json", Body=b"corrupted")
    client.put_object(Bucket=BUCKET, Key="p/r5/live.json", Body=b"{}")
    total = len(local_files(out)) - 1  # upload.json is written after
    capsys.readouterr()
    assert augur(["upload", str(out), "s3://augur-runs/p/r5"]) == 0
    printed = capsys.readouterr().out
    assert "sent 4 file(s)" in printed, printed
    assert f"{total - 4} already there, 1 removed" in printed
    assert moto_server.objects(prefix="p/r5") == local_files(out)


def test_reusing_a_prefix_leaves_no_stale_step(moto_server: MotoServer, tmp_path: Path) -> None:
    """A second run at the same prefix removes the first run's extra steps."""
    run_seed_session(tmp_path / "a", steps=5, store=S3Store(BUCKET, "same"))
    run_seed_session(tmp_path / "b", steps=2, store=S3Store(BUCKET, "same"))
    remote = moto_server.objects(prefix="same")
    assert sorted(k for k in remote if k.startswith("steps/")) == \
        ["steps/0000.json", "steps/0001.json"]
    assert remote == local_files(tmp_path / "b")


AGENT = r"""
import sys, time
from augur_sdk import DebugSession, S3Store
from augur_sdk.testing import make_png
with DebugSession(run_id="r6", client_name="t", capture_mode="screenshots", out_dir=sys.argv[1],
                  store=S3Store("augur-runs", "killed/r6", poll_interval_s=0.1)) as s:
    for i in range(3):
        pre = s.attach_observation(step_index=i, kind="pre", png_bytes=make_png(8, 8, seed=i))
        s.record_step({"step_id": f"r6/step/{i:04d}", "step_index": i, "step_type": "click",
                       "status": "succeeded", "started_at": "2026-05-19T00:00:00Z",
                       "observation_pre": pre})
    print("recorded", flush=True)
    time.sleep(600)
"""


def test_a_killed_agents_bundle_is_recovered_then_uploaded(moto_server: MotoServer,
                                                          tmp_path: Path) -> None:
    """SIGKILL mid-run: `augur upload` refuses the unfinished folder and names `augur
    recover`; after recovery it sends the bundle to the destination the run recorded, and
    the remote copy validates."""
    out = tmp_path / "b"
    proc = subprocess.Popen([sys.executable, "-c", AGENT, str(out)], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "AUGUR_RAISE_INTERNAL_ERRORS": "0"})
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "recorded"
        wait_for(lambda: "steps/0002.json" in moto_server.objects(prefix="killed/r6"))
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()
    assert augur(["upload", str(out)]) == 1  # unfinished: recover first
    assert augur(["recover", str(out)]) == 0
    assert augur(["upload", str(out)]) == 0
    remote = moto_server.objects(prefix="killed/r6")
    copy = tmp_path / "copy"
    for rel, data in remote.items():
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        (copy / rel).write_bytes(data)
    assert "live.json" not in remote
    assert validate_bundle(copy) == []
    assert json.loads(remote["trace.json"])["session"]["status"] == "halted"


def test_the_0_6_1_store_methods_work_on_s3(moto_server: MotoServer) -> None:
    """S3Store's Store methods (0.6.1 left them NotImplementedError) write, read and sign."""
    store = S3Store(BUCKET, "api/")
    assert store.root_uri == "s3://augur-runs/api"
    with store.open_write_text("a/b.json") as fh:
        fh.write('{"ok": "é"}\n')
    assert store.read_text("a/b.json") == '{"ok": "é"}\n'
    assert store.exists("a/b.json") and not store.exists("a/none.json")
    url = store.signed_url("a/b.json", ttl_seconds=60)
    assert url.startswith(moto_server.endpoint) and SECRET not in url
    assert urllib.request.urlopen(url, timeout=10).read() == '{"ok": "é"}\n'.encode()
    with pytest.raises(ValueError):
        store.exists("../x")


def test_endpoint_and_credentials_come_from_an_aws_profile(
        moto_server: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no AWS_* keys or endpoint in the environment, AWS_PROFILE's config and
    credentials files (endpoint_url included) are used."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    (tmp_path / "aws-config").write_text(
        f"[profile augur]\nregion = us-east-1\nendpoint_url = {moto_server.endpoint}\n")
    (tmp_path / "aws-credentials").write_text(
        f"[augur]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n")
    monkeypatch.setenv("AWS_PROFILE", "augur")
    run_seed_session(tmp_path / "b", steps=2, store=S3Store(BUCKET, "profile/r7"))
    assert moto_server.objects(prefix="profile/r7") == local_files(tmp_path / "b")


def test_without_boto3_the_error_says_what_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """S3Store() raises ImportError naming the extra; the CLI commands exit 2 saying so."""
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(ImportError, match=r"pip install boto3 \(the augur-otel \[s3\] extra\)"):
        S3Store(BUCKET)
    run_seed_session(tmp_path / "b", steps=1)
    assert augur(["upload", str(tmp_path / "b"), "s3://x/y"]) == 2
    assert augur(["view", "s3://x/y", "--no-open"]) == 2
    err = capsys.readouterr().err
    assert err.count("pip install boto3 (the augur-otel [s3] extra)") == 2


def test_a_forked_child_uploads_its_own_bundle(moto_server: MotoServer, tmp_path: Path) -> None:
    """After os.fork() mid-run, the child's bundle (`<out_dir>.fork-<pid>`) goes to
    `<prefix>.fork-<pid>`, the parent's to the prefix, each complete."""
    out = tmp_path / "b"
    with DebugSession(run_id="rf", client_name="t", capture_mode="screenshots", out_dir=out,
                      store=S3Store(BUCKET, "fork/rf", poll_interval_s=0.1)) as session:
        for i in range(2):
            record(session, "rf", i)
        wait_for(lambda: "steps/0001.json" in moto_server.objects(prefix="fork/rf"))
        pid = os.fork()
        if pid == 0:  # child
            code = 1
            try:
                record(session, "rf", 2)
                session.close()
                code = 0
            finally:
                os._exit(code)
        record(session, "rf", 5)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    child = tmp_path / f"b.fork-{pid}"
    assert moto_server.objects(prefix="fork/rf") == local_files(out)
    assert moto_server.objects(prefix=f"fork/rf.fork-{pid}") == local_files(child)
    assert "steps/0002.json" in local_files(child)


@pytest.mark.parametrize("mode", ["hang", "error500"])
def test_a_server_that_hangs_or_fails_costs_the_agent_nothing(
        mode: str, fault_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """An endpoint that accepts connections and never answers (or answers 500): the agent's
    calls stay fast, close() keeps to its budget, the bundle is whole, the report says
    what is missing, once."""
    from s3_support import aws_env

    server = fault_server(mode)
    for key, value in aws_env(f"http://127.0.0.1:{server.port}", tmp_path).items():
        monkeypatch.setenv(key, value)
    caplog.set_level(logging.WARNING, logger="augur_sdk")
    out = tmp_path / "b"
    with DebugSession(run_id="rh", client_name="t", capture_mode="screenshots", out_dir=out,
                      close_timeout_s=1.0,
                      store=S3Store(BUCKET, "h/rh", poll_interval_s=0.1)) as session:
        for i in range(4):
            t = time.monotonic()
            record(session, "rh", i)
            assert time.monotonic() - t < 1.0
            time.sleep(0.1)
        close_started = time.monotonic()
    assert time.monotonic() - close_started < 3.0
    assert validate_bundle(out) == []
    report = json.loads((out / "upload.json").read_text())
    assert not report["complete"] and "manifest.json" in report["missing"]
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1
