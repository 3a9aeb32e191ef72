"""The streaming sink against real loopback servers: what it sends, and how it fails."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import pytest

from augur_sdk import _internal
from augur_sdk.stream.client import Request, StreamClient, configure_stream, rejection_reason
from augur_sdk.stream.dsn import parse_dsn, resolve_dsn

from support import run_seed_session


def _paths(requests: list[dict]) -> list[str]:  # type: ignore[type-arg]
    return [f"{r['method']} {r['path']}" for r in requests]


def test_streams_every_record_in_order_with_the_token(tmp_path: Path, fault_server) -> None:  # type: ignore[no-untyped-def]
    """A seed run sends session, steps (in index order), events, screenshots, manifest, trace."""
    server = fault_server("ok")
    out = tmp_path / "b"
    run_seed_session(out, steps=3, dsn=server.dsn())
    reqs = server.requests()
    paths = _paths(reqs)
    assert paths[0] == "POST /api/v1/heartbeat"
    assert "PUT /api/v1/runs/run_test/session" in paths
    steps = [p for p in paths if "/steps/" in p]
    assert steps == [f"PUT /api/v1/runs/run_test/steps/{i}" for i in range(3)]
    assert paths.count("POST /api/v1/runs/run_test/events") == 3 * 2 + 1
    assert "POST /api/v1/runs/run_test/screenshots/1/post" in paths
    assert paths[-2:] == ["POST /api/v1/runs", "PUT /api/v1/runs/run_test/trace"]
    assert all(r["headers"]["Authorization"] == "Bearer tok-secret" for r in reqs)
    for r in reqs:
        if "/steps/" in r["path"]:
            index = int(r["path"].rsplit("/", 1)[1])
            assert json.loads(r["body"]) == json.loads((out / f"steps/{index:04d}.json").read_text())
    trace = next(r for r in reqs if r["path"].endswith("/trace"))
    assert trace["body"].encode("latin-1") == (out / "trace.json").read_bytes()
    shot = next(r for r in reqs if r["path"].endswith("/screenshots/0/pre"))
    assert shot["headers"]["Content-Type"].startswith("multipart/form-data")
    assert (out / "screenshots/0000_pre.png").read_bytes() in shot["body"].encode("latin-1")
    report = json.loads((out / "stream.json").read_text())
    assert report["complete"] is True and report["sent"] == len(reqs)


def _timed_run(out: Path, dsn: str, budget: float) -> float:
    start = time.monotonic()
    run_seed_session(out, steps=5, dsn=dsn, close_timeout_s=budget)
    return time.monotonic() - start


@pytest.mark.parametrize("mode", ["closed", "hang", "error500"])
def test_dead_or_failing_server_never_raises_and_close_keeps_its_budget(
    tmp_path: Path, fault_server, closed_port: int, mode: str,  # type: ignore[no-untyped-def]
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With a closed port, a hanging server or a 500 server: no exception, close() within its
    budget, the local bundle valid, one WARNING with the drop count, stream.json says so."""
    from augur_sdk.validation import validate_bundle

    configure_stream(request_deadline_s=0.5, read_timeout_s=0.5, connect_timeout_s=0.5)
    if mode == "closed":
        dsn = f"http://127.0.0.1:{closed_port}/api?token=t"
    else:
        dsn = fault_server(mode).dsn()
    threads_before = threading.active_count()
    caplog.set_level(logging.WARNING, logger="augur_sdk")
    elapsed = _timed_run(tmp_path / "b", dsn, budget=1.0)
    assert elapsed < 1.0 + 2.0  # the budget plus slack for the run itself on a loaded machine
    assert validate_bundle(tmp_path / "b") == []
    report = json.loads((tmp_path / "b/stream.json").read_text())
    assert report["complete"] is False and sum(report["dropped"].values()) > 0
    warnings = [r.getMessage() for r in caplog.records if "lost" in r.getMessage()]
    assert len(warnings) == 1 and "stream.json" in warnings[0]
    # a second run reuses the same bounded pool: no new threads per request or per run
    _timed_run(tmp_path / "c", dsn, budget=0.5)
    assert threading.active_count() <= threads_before + 3  # 2 workers + 1 heartbeat


def test_429_is_retried_after_retry_after(tmp_path: Path, fault_server) -> None:  # type: ignore[no-untyped-def]
    """A 429 with Retry-After: 1 is retried, and every request finally arrives."""
    server = fault_server("throttle429")
    out = tmp_path / "b"
    run_seed_session(out, steps=2, dsn=server.dsn(), close_timeout_s=20)
    report = json.loads((out / "stream.json").read_text())
    assert report["complete"] is True
    paths = _paths(server.requests())
    assert paths.count("PUT /api/v1/runs/run_test/steps/0") == 2  # 429, then 200


def test_full_queue_drops_and_counts(tmp_path: Path, fault_server) -> None:  # type: ignore[no-untyped-def]
    """When the bounded queue is full, requests are dropped and counted as queue_full."""
    configure_stream(max_queue=4, request_deadline_s=0.3, read_timeout_s=0.3)
    server = fault_server("hang")
    out = tmp_path / "b"
    run_seed_session(out, steps=5, dsn=server.dsn(), close_timeout_s=0.5)
    report = json.loads((out / "stream.json").read_text())
    assert report["dropped"].get("queue_full", 0) > 0


def test_malformed_dsn_is_reported_once_and_disables_streaming(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A malformed AUGUR_DSN logs one WARNING (without the token) and the run is recorded locally."""
    from augur_sdk.validation import validate_bundle

    monkeypatch.setenv("AUGUR_DSN", "ftp://host/x?token=SECRET123")
    caplog.set_level(logging.WARNING, logger="augur_sdk")
    _internal.reset_log_once()
    run_seed_session(tmp_path / "a", steps=1)
    run_seed_session(tmp_path / "b", steps=1)
    messages = [r.getMessage() for r in caplog.records if "streaming disabled" in r.getMessage()]
    assert len(messages) == 1 and "SECRET123" not in messages[0]
    assert validate_bundle(tmp_path / "a") == [] and not (tmp_path / "a/stream.json").exists()


def test_dsn_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    """DSN parts are parsed; an empty dsn= disables streaming even when AUGUR_DSN is set."""
    dsn = parse_dsn("https://augur.example:8443/api/v1/?token=abc&tenant=acme")
    assert (dsn.base_url, dsn.token, dsn.tenant) == ("https://augur.example:8443/api/v1", "abc",
                                                     "acme")
    assert "abc" not in repr(dsn)
    with pytest.raises(ValueError, match="token"):
        parse_dsn("http://h/api")
    monkeypatch.setenv("AUGUR_DSN", "http://h/api?token=t")
    assert resolve_dsn("") is None
    assert resolve_dsn(None) == parse_dsn("http://h/api?token=t")


@pytest.mark.parametrize(("body", "reason"), [
    (b'{"error": "this token does not belong to that tenant"}',
     "this token does not belong to that tenant"),
    (b'{"detail": "Not Found"}', "Not Found"),
    (b'{"error": {"message": "quota exceeded"}}', "quota exceeded"),
    (b"Forbidden\nmore lines", "Forbidden"),
    (b"bad\x1b[31mcolour\tand tab", "bad [31mcolour and tab"),
    (b"", ""),
    (None, ""),
    (b"x" * 5000, "x" * 197 + "..."),
])
def test_rejection_reason_is_the_servers_own_words(body: bytes | None, reason: str) -> None:
    """The reason of a refusal: a JSON body's error/detail/message, else its first line; printable, bounded."""
    assert rejection_reason(body) == reason


def test_rejections_are_logged_once_per_kind_and_bounded(
    caplog: pytest.LogCaptureFixture, closed_port: int
) -> None:
    """The same refusal twice is one WARNING; past 8 kinds, one last line says the rest are silent."""
    caplog.set_level(logging.WARNING, logger="augur_sdk")
    client = StreamClient(parse_dsn(f"http://127.0.0.1:{closed_port}/api?token=t"))
    try:
        request = Request(method="PUT", path="/runs/r/steps/0", run_id="r")
        for n in [0, 0, *range(12)]:
            client._log_rejection(request, 400, f"step {n} is malformed")
        client._log_rejection(request, 403, "step 0 is malformed")
    finally:
        client.shutdown()
    lines = [r.getMessage() for r in caplog.records]
    assert sum("server rejected PUT" in line for line in lines) == 8, lines
    assert lines[0].endswith("with HTTP 400: step 0 is malformed; such requests are dropped")
    assert sum("more kinds" in line for line in lines) == 1, lines
