"""`Store`, `LocalFSStore` and `DebugSession(store=...)` without object storage."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from augur_sdk import DebugSession, LocalFSStore, Store, validate_bundle

from support import run_seed_session


def test_local_store_writes_reads_and_guards_its_root(tmp_path: Path) -> None:
    """LocalFSStore has 0.6.1's methods: atomic writes, reads, exists, file:// URLs, and
    relative paths that cannot leave the root."""
    store = LocalFSStore(tmp_path / "root")
    assert (tmp_path / "root").is_dir()  # made at construction, as 0.6.1 does
    with store.open_write_text("a/b.json") as fh:
        fh.write('{"x": "é"}\n')
        assert not (tmp_path / "root/a/b.json").exists()  # lands whole, at the end
    with store.open_write_binary("c.bin") as fh:
        fh.write(b"\x00\x01")
    assert store.read_text("a/b.json") == '{"x": "é"}\n'
    assert store.read_bytes("c.bin") == b"\x00\x01"
    assert store.exists("a/b.json") and not store.exists("nope")
    assert store.root_uri == (tmp_path / "root").resolve().as_uri()
    assert store.signed_url("c.bin") == (tmp_path / "root/c.bin").resolve().as_uri()
    for bad in ("../x", "/etc/passwd", "a/../../x", ""):
        with pytest.raises(ValueError):
            store.exists(bad)
    assert [p.name for p in (tmp_path / "root").rglob("*.tmp")] == []
    assert isinstance(store, Store)


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    """An exception inside open_write_binary leaves neither the file nor a temp file."""
    store = LocalFSStore(tmp_path)
    with pytest.raises(RuntimeError), store.open_write_binary("x.json") as fh:
        fh.write(b"half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_session_with_local_store_writes_the_bundle_to_its_root(tmp_path: Path) -> None:
    """DebugSession(store=LocalFSStore(X)) writes the bundle to X, as 0.6.1 does, and
    nothing to out_dir."""
    store = LocalFSStore(tmp_path / "x")
    with DebugSession(run_id="r1", client_name="t", capture_mode="trace",
                      out_dir=tmp_path / "unused", store=store) as session:
        session.record_step({"step_id": "r1/step/0000", "step_index": 0, "step_type": "click",
                             "status": "succeeded", "started_at": "2026-05-19T00:00:00Z"})
        assert session.store is store
        assert session.out_dir == store.root
    assert validate_bundle(tmp_path / "x") == []
    assert (tmp_path / "x/steps/0000.json").is_file()
    assert not (tmp_path / "unused").exists()


def test_default_store_is_the_out_dir(tmp_path: Path) -> None:
    """Without store=, session.store is a LocalFSStore of out_dir."""
    run_seed_session(tmp_path / "b", steps=1)
    session = DebugSession(run_id="r", client_name="t", out_dir=tmp_path / "b")
    assert isinstance(session.store, LocalFSStore)
    assert session.store.root == (tmp_path / "b").resolve()


def test_a_store_that_is_not_one_is_a_type_error_at_the_call(tmp_path: Path) -> None:
    """store=<not a store> raises TypeError naming the field, before anything is written."""
    with pytest.raises(TypeError, match="store: expected"):
        DebugSession(run_id="r", client_name="t", out_dir=tmp_path / "b", store="s3://x")
    assert not (tmp_path / "b").exists()


class DictStore:
    """A user's own store implementing augur-sdk 0.6.1's Store protocol, in memory."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    @property
    def root_uri(self) -> str:
        return "mem://test"

    def signed_url(self, relpath: str, *, ttl_seconds: int = 3600) -> str:
        return f"mem://test/{relpath}"

    @contextlib.contextmanager
    def open_write_binary(self, relpath: str) -> Iterator[IO[bytes]]:
        buf = io.BytesIO()
        yield buf
        self.files[relpath] = buf.getvalue()

    @contextlib.contextmanager
    def open_write_text(self, relpath: str) -> Iterator[IO[str]]:
        buf = io.StringIO()
        yield buf
        self.files[relpath] = buf.getvalue().encode()

    def exists(self, relpath: str) -> bool:
        return relpath in self.files

    def read_text(self, relpath: str) -> str:
        return self.files[relpath].decode()

    def read_bytes(self, relpath: str) -> bytes:
        return self.files[relpath]


def test_a_store_of_your_own_receives_the_whole_bundle(tmp_path: Path) -> None:
    """An object with the Store protocol gets every file of the local bundle, byte for byte,
    through its open_write_binary; the local bundle is written as usual."""
    store = DictStore()
    run_seed_session(tmp_path / "b", steps=3, store=store)
    local = {p.relative_to(tmp_path / "b").as_posix(): p.read_bytes()
             for p in (tmp_path / "b").rglob("*") if p.is_file()}
    assert validate_bundle(tmp_path / "b") == []
    assert store.files == local
    assert b'"complete": true' in store.files["upload.json"]
    assert "live.json" not in store.files  # it is gone locally; this store cannot delete
