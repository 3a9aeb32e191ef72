"""The background uploader against an in-memory sink (real threads, real files): what it
sends and when, in which order, and what it reports when the store fails."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import pytest

from augur_sdk.bundle.files import append_line, atomic_write
from augur_sdk.stores.s3 import RemoteObject, TransferError
from augur_sdk.stores.uploader import BundleUploader


class MemorySink:
    """Stores puts in a dict; ``down`` makes every request fail, ``refuse`` some paths."""

    destination = "mem://bucket/run"

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts: list[tuple[str, str]] = []  # (rel, thread name)
        self.deleted: list[str] = []
        self.down = False
        self.refuse: set[str] = set()
        self.lock = threading.Lock()

    def put(self, rel: str, data: bytes, content_type: str | None = None) -> None:
        if self.down:
            raise TransferError("EndpointConnectionError: Could not connect")
        if rel in self.refuse:
            raise TransferError("AccessDenied (HTTP 403)", retryable=False)
        with self.lock:
            self.objects[rel] = data
            self.puts.append((rel, threading.current_thread().name))

    def delete(self, rel: str) -> None:
        if self.down:
            raise TransferError("EndpointConnectionError: Could not connect")
        self.objects.pop(rel, None)
        self.deleted.append(rel)

    def list_objects(self) -> dict[str, RemoteObject]:
        if self.down:
            raise TransferError("EndpointConnectionError: Could not connect")
        return {rel: RemoteObject(len(d), "") for rel, d in self.objects.items()}


def wait_for(cond: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def bundle(root: Path) -> None:
    (root / "steps").mkdir(parents=True)
    (root / "events").mkdir()
    atomic_write(root / "live.json", b"{}\n")
    atomic_write(root / "manifest.json", b'{"envelope": true}\n')


def test_files_go_up_as_they_are_written_on_background_threads(tmp_path: Path) -> None:
    """A new step file, a replaced one and a grown JSONL are each sent by the uploader's
    threads while the run goes on; the manifest waits for the end."""
    bundle(tmp_path)
    sink = MemorySink()
    up = BundleUploader(tmp_path, sink, poll_interval_s=0.05)
    up.start()
    atomic_write(tmp_path / "steps/0000.json", b'{"v": 1}\n')
    append_line(tmp_path / "events/0000.jsonl", b'{"e": 1}\n')
    wait_for(lambda: "steps/0000.json" in sink.objects and "events/0000.jsonl" in sink.objects)
    assert "live.json" in sink.objects and "manifest.json" not in sink.objects
    atomic_write(tmp_path / "steps/0000.json", b'{"v": 2}\n')  # replaced: a new inode
    wait_for(lambda: sink.objects["steps/0000.json"] == b'{"v": 2}\n')
    with open(tmp_path / "events/0000.jsonl", "ab") as fh:
        fh.write(b'{"e": 2}\n{"e": 3')  # a whole line and one being written
    wait_for(lambda: sink.objects["events/0000.jsonl"].count(b"\n") == 2, timeout=15)
    assert sink.objects["events/0000.jsonl"] == b'{"e": 1}\n{"e": 2}\n'
    assert {name for _, name in sink.puts} == {"augur-upload"}
    (tmp_path / "live.json").unlink()
    atomic_write(tmp_path / "manifest.json", b'{"final": true}\n')
    with open(tmp_path / "events/0000.jsonl", "ab") as fh:
        fh.write(b'}\n')
    up.finish_async(5.0)
    report = up.wait()
    assert report is not None and report["complete"], report
    assert sink.objects["manifest.json"] == b'{"final": true}\n'
    assert [rel for rel, _ in sink.puts if rel != "upload.json"][-1] == "manifest.json"
    assert "live.json" not in sink.objects and "live.json" in sink.deleted
    assert sink.objects["events/0000.jsonl"].endswith(b'{"e": 3}\n')
    assert json.loads(sink.objects["upload.json"])["complete"] is True


def test_close_mode_sends_nothing_before_close(tmp_path: Path) -> None:
    """live=False: no request while the run goes on, everything at close."""
    bundle(tmp_path)
    sink = MemorySink()
    up = BundleUploader(tmp_path, sink, live=False, poll_interval_s=0.05)
    up.start()
    atomic_write(tmp_path / "steps/0000.json", b"{}\n")
    time.sleep(0.3)
    assert sink.puts == []
    (tmp_path / "live.json").unlink()
    up.finish_async(5.0)
    report = up.wait()
    assert report is not None and report["complete"]
    assert set(sink.objects) == {"steps/0000.json", "manifest.json", "upload.json"}


def test_a_file_that_cannot_arrive_holds_back_the_manifest(tmp_path: Path) -> None:
    """When one file is refused, the manifest is not sent (a remote manifest means a
    complete remote bundle) and the report names what is missing."""
    bundle(tmp_path)
    atomic_write(tmp_path / "steps/0000.json", b"{}\n")
    atomic_write(tmp_path / "steps/0001.json", b"{}\n")
    sink = MemorySink()
    sink.refuse = {"steps/0001.json"}
    up = BundleUploader(tmp_path, sink, live=False)
    up.start()
    (tmp_path / "live.json").unlink()
    up.finish_async(5.0)
    report = up.wait()
    assert report is not None and not report["complete"]
    assert report["missing"] == ["manifest.json", "steps/0001.json"]
    assert report["errors"] == {"AccessDenied": 1}
    assert "manifest.json" not in sink.objects and "steps/0000.json" in sink.objects
    local = json.loads((tmp_path / "upload.json").read_text())
    assert local["missing_count"] == 2 and local["destination"] == "mem://bucket/run"


def test_store_down_at_close_reports_once_within_the_budget(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """With the store down, finishing takes no longer than the budget, raises nothing, and
    says what is missing in upload.json and in one WARNING."""
    bundle(tmp_path)
    atomic_write(tmp_path / "steps/0000.json", b"{}\n")
    sink = MemorySink()
    up = BundleUploader(tmp_path, sink, poll_interval_s=0.05)
    up.start()
    wait_for(lambda: "steps/0000.json" in sink.objects)
    sink.down = True
    atomic_write(tmp_path / "steps/0001.json", b"{}\n")
    (tmp_path / "live.json").unlink()
    caplog.set_level(logging.DEBUG, logger="augur_sdk")
    t = time.monotonic()
    up.finish_async(1.0)
    report = up.wait()
    assert time.monotonic() - t < 2.0
    assert report is not None and not report["complete"]
    assert set(report["missing"]) == {"manifest.json", "steps/0001.json"}
    assert report["errors"]["EndpointConnectionError"] >= 1
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "augur upload" in warnings[0].getMessage()
    assert json.loads((tmp_path / "upload.json").read_text())["missing_count"] == 2


def test_stale_files_of_an_older_run_at_the_prefix_are_removed(tmp_path: Path) -> None:
    """Bundle files at the prefix that this run does not have are deleted when the upload
    starts (other objects stay)."""
    bundle(tmp_path)
    sink = MemorySink()
    sink.objects = {"steps/0007.json": b"old", "manifest.json": b"old", "notes.txt": b"mine"}
    up = BundleUploader(tmp_path, sink, poll_interval_s=0.05)
    up.start()
    wait_for(lambda: "steps/0007.json" not in sink.objects and "live.json" in sink.objects)
    assert "manifest.json" not in sink.objects and sink.objects["notes.txt"] == b"mine"
    up.finish_async(2.0)
    assert up.wait() is not None


def test_a_file_that_failed_goes_up_when_the_store_is_back(tmp_path: Path) -> None:
    """A file whose upload failed while the store was down arrives once it is back, with no
    further change in its directory (and long before the 30 s full sweep)."""
    bundle(tmp_path)
    sink = MemorySink()
    sink.down = True
    up = BundleUploader(tmp_path, sink, poll_interval_s=0.05)
    up.start()
    atomic_write(tmp_path / "steps/0000.json", b"{}\n")
    time.sleep(0.5)  # a few failed rounds
    assert "steps/0000.json" not in sink.objects
    sink.down = False
    t = time.monotonic()
    wait_for(lambda: "steps/0000.json" in sink.objects)
    assert time.monotonic() - t < 10
    up.finish_async(2.0)
    assert up.wait() is not None
