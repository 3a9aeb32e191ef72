"""Fixtures for the store tests: a moto server on loopback (tests/s3_support.py) with the
standard AWS environment pointing at it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from s3_support import MotoServer, aws_env, require_moto


def _point_aws_env_at(server: MotoServer, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for key, value in aws_env(server.endpoint, home).items():
        monkeypatch.setenv(key, value)


@pytest.fixture(scope="session")
def _shared_moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    require_moto()
    server = MotoServer(tmp_path_factory.mktemp("moto"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def moto_server(_shared_moto: MotoServer, tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    """The session's moto server (bucket ``augur-runs``; each test uses its own prefixes),
    with the AWS environment pointing at it."""
    if _shared_moto.proc is None or _shared_moto.proc.poll() is not None:
        _shared_moto.start()
    _point_aws_env_at(_shared_moto, tmp_path, monkeypatch)
    return _shared_moto


@pytest.fixture
def own_moto_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """A moto server of this test's own, for tests that kill it."""
    require_moto()
    server = MotoServer(tmp_path)
    _point_aws_env_at(server, tmp_path, monkeypatch)
    server.start()
    try:
        yield server
    finally:
        server.stop()
