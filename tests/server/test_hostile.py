"""What an attack run broke in ``augur serve`` (issue #25), one test (or a few) per finding,
each against a real server process on loopback."""

from __future__ import annotations

import json
import math
import resource
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import pytest
from hostilekit import (
    RssSampler,
    attr,
    closed_by_peer,
    connect,
    head,
    mib,
    otlp_body,
    read_status,
    run_span,
    send_big,
    step_span,
    wait_until,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from serverkit import (
    event_files,
    files_under,
    manifest_body,
    read_json,
    read_jsonl,
    session_record,
    step_files,
)

from augur_sdk.limits import run_dir_name
from augur_sdk.server.idempotency import Binding, KeyTable
from augur_sdk.testing import make_png
from augur_sdk.validation import validate_bundle

from support import event_record, step_record

JSON = {"Content-Type": "application/json"}
FRESH = {"Connection": "close"}  # a new connection for each request, not a pooled one


def _status(server: Any, method: str, path: str, raw: bytes, **headers: str) -> int:
    return int(server.request(method, path, raw=raw, headers={**JSON, **headers}).status)


def _apis_answer(server: Any) -> None:
    for path in ("/api/runs", "/api/clients", "/api/runs?status=running"):
        assert server.request("GET", path).status == 200, path


# ── 1. numbers that overflow to infinity, NaN ───────────────────────────────

OVERFLOWS = [
    ("PUT", "/runs/{run}/costs", b'{"total_usd": 1e400}'),
    ("PUT", "/runs/{run}/costs", b'{"total_usd": -1E+999}'),
    ("PUT", "/runs/{run}/steps/0",
     json.dumps(step_record("RUN", 0)).replace('"duration_ms": 500',
                                               '"duration_ms": 1e400').encode()),
    ("POST", "/runs/{run}/events",
     b'{"events": [{"ts": "2026-05-19T00:00:00Z", "layer": "planner", "kind": "k", '
     b'"summary": "s", "detail": {"x": 12e9999}}]}'),
    ("POST", "/heartbeat", b'{"client_id": "c", "run_id": "{run}", "last_event": 1e400}'),
    ("PUT", "/runs/{run}/steps/0", b'{"step_index": 0, "step_id": "a", "x": Infinity}'),
    ("PUT", "/runs/{run}/steps/0", b'{"step_index": 0, "step_id": "a", "x": -NaN}'),
]


@pytest.mark.parametrize(("method", "path", "raw"), OVERFLOWS)
def test_numbers_that_are_not_finite_are_400_and_write_nothing(server: Any, method: str,
                                                               path: str, raw: bytes) -> None:
    """1e400 (which parses as infinity), Infinity and NaN are 400; no run appears and the
    tenant's run list keeps answering."""
    run = f"inf_{abs(hash((path, raw))) % 10**8}"
    before = files_under(server.data)
    raw = raw.replace(b"{run}", run.encode()).replace(b"RUN", run.encode())
    assert _status(server, method, path.format(run=run), raw) == 400
    assert files_under(server.data) == before
    _apis_answer(server)


def test_otlp_values_that_are_not_finite_are_400_and_write_nothing(server: Any) -> None:
    """OTLP attributes "NaN"/"Infinity" (JSON), a NaN double (protobuf) and a *_json
    attribute holding 1e400 or NaN are 400 for the whole request, and nothing is written."""
    before = files_under(server.data)
    bad_attrs = [
        attr("augur.step.duration_ms", {"doubleValue": "NaN"}),
        attr("augur.step.duration_ms", {"doubleValue": "-Infinity"}),
        attr("augur.step_json.action", '{"type": "click", "x": 1e400}'),
        attr("augur.step_json.action", '{"type": "click", "x": NaN}'),
    ]
    for n, bad in enumerate(bad_attrs):
        run = f"otlp_nan_{n}"
        body = otlp_body([step_span(run, 0, seq=1, extra=[bad]), run_span(run, seq=2)])
        assert _status(server, "POST", "/v1/traces", body) == 400, bad
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = b"\x01" * 16, b"\x02" * 8, "execute_tool click"
    for key, value in (("augur.record", "step"), ("augur.run_id", "otlp_nan_pb"),
                       ("augur.step.step_id", "otlp_nan_pb/step/0000")):
        kv = span.attributes.add()
        kv.key, kv.value.string_value = key, value
    kv = span.attributes.add()
    kv.key, kv.value.int_value = "augur.step.step_index", 0
    kv = span.attributes.add()
    kv.key, kv.value.double_value = "augur.step.duration_ms", math.nan
    resp = server.request("POST", "/v1/traces", raw=request.SerializeToString(),
                          headers={"Content-Type": "application/x-protobuf"})
    assert resp.status == 400
    assert files_under(server.data) == before
    _apis_answer(server)


# ── 2. lone UTF-16 surrogates ───────────────────────────────────────────────

SURROGATES = [
    ("POST", "/heartbeat", b'{"client_id": "\\ud800", "client_name": "x"}'),
    ("POST", "/heartbeat", b'{"client_id": "c", "run_id": "{run}", "client_name": "\\udfff"}'),
    ("PUT", "/runs/{run}/steps/0",
     json.dumps(step_record("RUN", 0, intent="@@")).replace("@@", "\\ud83d").encode()),
    ("POST", "/runs/{run}/events",
     b'{"events": [{"ts": "t", "layer": "l", "kind": "k", "summary": "s\\uDBFF"}]}'),
    ("POST", "/runs/{run}/events",
     b'{"events": [{"ts": "t", "layer": "l", "kind": "k", "summary": "s", '
     b'"detail": {"\\udc00key": 1}}]}'),
    ("PUT", "/runs/{run}/session",
     json.dumps(session_record("RUN", name="@@")).replace("@@", "\\ude00").encode()),
    # a surrogate encoded as UTF-8 bytes, not as an escape
    ("PUT", "/runs/{run}/steps/0", b'{"step_index": 0, "step_id": "\xed\xa0\x80"}'),
]


@pytest.mark.parametrize(("method", "path", "raw"), SURROGATES)
def test_lone_surrogates_are_400_and_write_nothing(server: Any, method: str, path: str,
                                                   raw: bytes) -> None:
    """A lone surrogate in a heartbeat, step, event (value or key) or session is 400: no
    run directory is left and /api/clients and /api/runs keep answering."""
    run = f"surr_{abs(hash((path, raw))) % 10**8}"
    before = files_under(server.data)
    raw = raw.replace(b"{run}", run.encode()).replace(b"RUN", run.encode())
    assert _status(server, method, path.format(run=run), raw) == 400
    assert files_under(server.data) == before
    _apis_answer(server)


def test_surrogate_pairs_are_text_and_accepted(server: Any) -> None:
    """An escaped surrogate pair is one character (an emoji): accepted and stored as such."""
    run = "surr_pair"
    raw = json.dumps(step_record(run, 0, intent="@@")).replace("@@", "\\ud83d\\ude00").encode()
    assert _status(server, "PUT", f"/runs/{run}/steps/0", raw) == 200
    assert read_json(server.run_dir(run) / "steps/0000.json")["intent"] == "\U0001F600"


# ── 3. run ids are limited in bytes ─────────────────────────────────────────


@pytest.mark.parametrize("run_id", ["é" * 128, "\U0001F600" * 60, "é" * 65,
                                    "/" * 67 + "x" * 3])
def test_run_ids_over_the_byte_rule_are_400_and_leave_nothing(server: Any, run_id: str) -> None:
    """128 x 'é' (256 bytes), 60 emoji (240 bytes), or an id whose escaped directory name is
    too long are 400 (not 500 or 507) on every route, and leave no directory behind."""
    from urllib.parse import quote

    before = files_under(server.data.parent)
    segment = quote(run_id, safe="")
    for method, path, body in (
        ("PUT", f"/runs/{segment}/steps/0", json.dumps(step_record(run_id, 0)).encode()),
        ("POST", f"/runs/{segment}/events", json.dumps({"events": [event_record(0)]}).encode()),
        ("POST", "/heartbeat", json.dumps({"client_id": "c", "run_id": run_id}).encode()),
        ("POST", "/runs", json.dumps({"run_id": run_id}).encode()),
    ):
        assert _status(server, method, path, body) == 400, (method, path)
    assert files_under(server.data.parent) == before


def test_the_longest_run_ids_are_stored(server: Any) -> None:
    """Run ids right at the limits (128 bytes; a directory name of 200 bytes) are stored and
    finish into valid bundles (the index file and temporary names still fit)."""
    from urllib.parse import quote

    for run_id in ("é" * 64, "/" * 36 + "x" * 92, "%" * 66 + "y" * 2):
        assert len(run_id.encode()) <= 128 and len(run_dir_name(run_id).encode()) <= 200
        segment = quote(run_id, safe="")
        server.json("PUT", f"/runs/{segment}/steps/0", step_record(run_id, 0))
        server.json("PUT", f"/runs/{segment}/trace", {"session": session_record(run_id),
                                                     "steps": [step_record(run_id, 0)]})
        root = server.data / "acme" / run_dir_name(run_id)
        assert validate_bundle(root) == []
        assert (server.data / "acme" / ".augur-server" / f"{root.name}.json").is_file()


def test_a_refused_first_request_leaves_no_directory(make_server: Any) -> None:
    """Every 4xx answer to the first request of a run leaves the data directory as it was:
    no run, tenant or index directory is created; a run begun by a request that then fails
    is removed again."""
    srv = make_server()
    srv.json("GET", "/api/runs")
    before = files_under(srv.data.parent)
    refused = [
        ("PUT", "/runs/r1/steps/0", {"step_index": 0}),
        ("PUT", "/runs/r2/steps/1", step_record("r2", 0)),
        ("POST", "/runs/r3/events", {"events": []}),
        ("PUT", "/runs/r4/trace", {"session": session_record("other"), "steps": []}),
        ("PUT", "/runs/r5/session", {"run_id": "r5"}),
        ("PUT", "/runs/r6/costs", {"total_usd": -1}),
        ("POST", "/runs/r7/side-effects", {"side_effect_id": "../x"}),
        ("POST", "/runs/r8/logs", {"text": 3}),
        ("POST", "/runs/r9/modelio/.bad.json", {}),
        ("POST", "/runs/r10/screenshots/0/pre", None),
    ]
    for method, path, body in refused:
        resp = srv.request(method, path, body, headers=JSON)
        assert 400 <= resp.status < 500, (path, resp.status)
    assert files_under(srv.data.parent) == before
    # refused after the bundle was begun: a span whose event names a bad step index
    bad_event = step_span("r11", 0, seq=1, events=[(2, 0)])
    bad_event["events"][0]["attributes"][-1] = attr("augur.event.step_index", -1)
    resp = srv.request("POST", "/v1/traces", raw=otlp_body([bad_event]), headers=JSON)
    assert resp.status == 200 and resp.json()["partialSuccess"]["rejectedSpans"] == "1"
    assert not srv.run_dir("r11").exists()
    assert not (srv.data / "acme" / ".augur-server" / "r11.json").exists()


# ── 4. the memory of concurrent bodies ──────────────────────────────────────


def test_thirty_large_bodies_at_once_keep_memory_bounded(make_server: Any) -> None:
    """30 connections each sending a 31 MiB body at once: admitted one at a time (each
    needs 93 of the 128 MiB of body memory), the server's RSS grows by about the budget,
    not by 30 bodies; every answer is a 4xx or a closed connection; the server keeps
    serving and writes nothing."""
    budget = 128 * 2**20
    srv = make_server("--max-body-memory-mb", "128")
    sampler = RssSampler(srv.proc.pid)
    srv.json("PUT", "/runs/mem_warm/steps/0", step_record("mem_warm", 0))
    base = sampler.rss()
    size = 31 * 2**20
    with sampler, ThreadPoolExecutor(30) as pool:
        statuses = list(pool.map(lambda n: send_big(srv.port, f"/runs/mem_{n}/steps/0", size),
                                 range(30)))
    grown = sampler.peak - base
    print(f"\n30 x 31 MiB bodies: RSS {mib(base)} -> peak {mib(sampler.peak)} "
          f"(+{mib(grown)}); answers {sorted(statuses)}")
    assert all(s == -1 or 400 <= s < 500 for s in statuses), statuses
    assert statuses.count(400) >= 1  # bodies were really read and decoded, one at a time
    assert grown < 1.5 * budget, mib(grown)
    assert srv.request("GET", "/healthz").status == 200
    assert not any(srv.run_dir(f"mem_{n}").exists() for n in range(30))


def test_freed_memory_goes_back_to_the_system() -> None:
    """On glibc, malloc is tuned so that freed large blocks are unmapped (the server calls
    this at start); elsewhere it says it did nothing."""
    import platform

    from augur_sdk.server.runner import tune_malloc

    assert tune_malloc() is (platform.libc_ver()[0] == "glibc")


def test_body_memory_settings_are_checked(tmp_path: Path) -> None:
    """The body memory budget defaults to 256 MiB (or twice the largest body) and may not be
    smaller than twice the largest body; timeouts must be positive."""
    from augur_sdk.server.config import ConfigError, ServerConfig

    assert ServerConfig(tmp_path).max_body_memory_bytes == 256 * 2**20
    assert ServerConfig(tmp_path, max_body_bytes=200 * 2**20).max_body_memory_bytes == \
        400 * 2**20
    with pytest.raises(ConfigError, match="twice"):
        ServerConfig(tmp_path, max_body_memory_bytes=32 * 2**20)
    with pytest.raises(ConfigError, match="header_timeout_s"):
        ServerConfig(tmp_path, header_timeout_s=0)


def test_a_body_is_not_read_before_it_is_admitted(make_server: Any) -> None:
    """With every in-flight slot taken (by a slow upload), a request gets 429 at once, with
    Retry-After, before its body is read; the slot's own body times out with 408."""
    srv = make_server("--max-inflight", "1", "--body-timeout", "2")
    with connect(srv.port) as slow:
        slow.sendall(head("PUT", "/runs/adm/steps/0", length=1000) + b'{"step_index"')
        time.sleep(0.3)
        started = time.monotonic()
        status = send_big(srv.port, "/runs/adm2/steps/0", 20 * 2**20)
        assert status in (429, -1)
        assert time.monotonic() - started < 5.0
        resp = srv.request("PUT", "/runs/adm3/steps/0", step_record("adm3", 0))
        assert resp.status == 429 and int(resp.headers["Retry-After"]) >= 1
        assert read_status(slow, 10.0) == 408
    assert srv.request("PUT", "/runs/adm3/steps/0", step_record("adm3", 0)).status == 200


# ── 5. idempotency keys ─────────────────────────────────────────────────────


def test_idempotency_keys_are_bounded_in_length(server: Any) -> None:
    """A key over 200 bytes (the attack used 15 KB) or with control characters is 400."""
    run = "idem_len"
    body = {"events": [event_record(0)]}
    for key in ("k" * 201, "k" * 15_000, "a b"):
        resp = server.request("POST", f"/runs/{run}/events", body,
                              headers={"Idempotency-Key": key})
        assert resp.status == 400, key[:20]
    server.json("POST", f"/runs/{run}/events", body, headers={"Idempotency-Key": "k" * 200})


def test_a_key_reused_for_another_request_is_422_not_a_replay(server: Any) -> None:
    """A key replays only the request it was first used for (method, path, body); reused on
    another route or with another body it is 422 and nothing is silently dropped."""
    run = "idem_bind"
    first = {"events": [event_record(0, 1)]}
    server.json("POST", f"/runs/{run}/events", first, headers={"Idempotency-Key": "key-1"})
    again = server.json("POST", f"/runs/{run}/events", first,
                        headers={"Idempotency-Key": "key-1"})
    assert again["replayed"] is True
    other = server.request("POST", f"/runs/{run}/events", {"events": [event_record(0, 2)]},
                           headers={"Idempotency-Key": "key-1"})
    assert other.status == 422 and "key" in other.json()["error"].lower()
    route = server.request("POST", f"/runs/{run}/reasoning", {"text": "x"},
                           headers={"Idempotency-Key": "key-1"})
    assert route.status == 422
    assert read_jsonl(server.run_dir(run) / "events/0000.jsonl") == [event_record(0, 1)]


def test_the_key_table_is_bounded_in_memory() -> None:
    """The key table keeps at most per_run keys a run and max_bytes in all (oldest first)."""
    table = KeyTable(max_bytes=200_000, per_run=100)
    binding = Binding("POST", "/runs/r/events", "d" * 64)
    for run in range(50):
        for n in range(300):
            table.remember(("acme", f"r{run}"), f"key-{n:04d}-" + "x" * 180, binding,
                           {"ok": True, "events": 1})
    assert table.size <= 200_000
    assert len(table) < 50 * 100
    assert table.lookup(("acme", "r49"), "key-0299-" + "x" * 180, binding) is not None
    assert table.lookup(("acme", "r49"), "key-0000-" + "x" * 180, binding) is None


def test_many_keys_do_not_grow_the_server_for_good(make_server: Any) -> None:
    """4,096 keyed requests with 200-byte keys over 32 runs grow the server's RSS by a few
    MiB at most (the table is capped; 15 KB keys are refused outright)."""
    srv = make_server("--max-body-mb", "1")
    rss = psutil.Process(srv.proc.pid)
    srv.json("POST", "/runs/idem_mem_warm/events", {"events": [event_record(0)]},
             headers={"Idempotency-Key": "w" * 200})
    base = rss.memory_info().rss

    def send(n: int) -> int:
        body = {"events": [event_record(0, n)]}
        return int(srv.request("POST", f"/runs/idem_mem_{n % 32}/events", body,
                               headers={"Idempotency-Key": f"{n:06d}" + "k" * 194}).status)

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(send, range(4096))) == {200}
    grown = rss.memory_info().rss - base
    print(f"\n4,096 keys of 200 bytes: RSS +{mib(grown)}")
    assert grown < 40 * 2**20


def test_keys_of_a_finished_run_survive_a_restart(make_server: Any, tmp_path: Path) -> None:
    """A keyed POST to a run that finished is replayed (not applied again) after the server
    restarts; the same key with another body is still 422."""
    run = "idem_restart"
    first = make_server(base=tmp_path / "srv")
    body = {"events": [event_record(0, 7)]}
    first.json("POST", f"/runs/{run}/events", body, headers={"Idempotency-Key": "last-one"})
    first.json("PUT", f"/runs/{run}/trace", {"session": session_record(run), "steps": []})
    first.stop()
    second = make_server(base=tmp_path / "srv")
    again = second.json("POST", f"/runs/{run}/events", body,
                        headers={"Idempotency-Key": "last-one"})
    assert again["replayed"] is True
    other = second.request("POST", f"/runs/{run}/events", {"events": [event_record(0, 8)]},
                           headers={"Idempotency-Key": "last-one"})
    assert other.status == 422
    assert read_jsonl(second.run_dir(run) / "events/0000.jsonl") == [event_record(0, 7)]
    assert validate_bundle(second.run_dir(run)) == []


# ── 6. slow connections ─────────────────────────────────────────────────────


def _fd_limit_1024() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


def _own_fd_room(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.skip(f"this test needs {needed} open files (hard limit {hard})")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


@pytest.mark.slow
def test_slow_connections_cannot_lock_out_other_clients(make_server: Any) -> None:
    """1,100 connections that never finish their request head, against a server limited to
    1,024 open files: /healthz on a new connection keeps answering (within 3 s on a loaded
    CI machine; it timed out before) throughout, the server holds fewer connections than its fd limit, and after
    --header-timeout it closes them all."""
    _own_fd_room(2400)
    srv = make_server("--header-timeout", "4", preexec_fn=_fd_limit_1024)
    server_proc = psutil.Process(srv.proc.pid)
    slow: list[socket.socket] = []
    try:
        for n in range(1100):
            sock = connect(srv.port)
            sock.sendall(b"POST /heartbeat HTTP/1.1\r\nHost: x\r\n")  # and never the rest
            slow.append(sock)
            if n % 200 == 199:
                started = time.monotonic()
                assert srv.request("GET", "/healthz", headers=FRESH).status == 200
                assert time.monotonic() - started < 3.0
        for _ in range(5):
            started = time.monotonic()
            assert srv.request("GET", "/healthz", headers=FRESH).status == 200
            assert time.monotonic() - started < 3.0
        assert server_proc.num_fds() < 1024
        assert wait_until(lambda: all(closed_by_peer(s) for s in slow), 15.0)
        assert len(server_proc.net_connections(kind="tcp")) < 50
    finally:
        for sock in slow:
            sock.close()
    assert srv.request("GET", "/healthz").status == 200


def test_past_the_connection_cap_the_longest_idle_connection_goes(make_server: Any) -> None:
    """With --max-connections 20, 60 idle connections leave at most 20 open, the oldest
    closed first, and a client that sends its request is still served."""
    srv = make_server("--max-connections", "20")
    idle = []
    for _ in range(60):
        sock = connect(srv.port)
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        idle.append(sock)
        time.sleep(0.005)
    try:
        assert wait_until(lambda: sum(not closed_by_peer(s) for s in idle) <= 20, 5.0)
        assert closed_by_peer(idle[0]) and not closed_by_peer(idle[-1])
        assert srv.request("GET", "/healthz").status == 200
        established = [c for c in psutil.Process(srv.proc.pid).net_connections(kind="tcp")
                       if c.status == psutil.CONN_ESTABLISHED]
        assert len(established) <= 21
    finally:
        for sock in idle:
            sock.close()


def test_connection_cap_fits_the_open_file_limit() -> None:
    """The connection cap is lowered to what the open-file limit leaves (after trying to
    raise the soft limit), never above what was asked."""
    from augur_sdk.server.connections import FD_RESERVE, connection_cap

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        assert connection_cap(10) == 10
        resource.setrlimit(resource.RLIMIT_NOFILE, (FD_RESERVE + 50, hard))
        cap = connection_cap(10**6)
        now = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        assert cap <= now - FD_RESERVE and cap >= 50
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_trickled_head_is_cut_at_the_header_timeout(make_server: Any) -> None:
    """A client sending its request head one byte a second is closed after --header-timeout,
    on a fresh and on a kept-alive connection."""
    srv = make_server("--header-timeout", "2")
    with connect(srv.port) as sock:
        sock.sendall(head("GET", "/healthz", token=None))
        assert read_status(sock) == 200
        started = time.monotonic()
        closed = False
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\n":
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            if closed_by_peer(sock):
                closed = True
                break
            time.sleep(0.5)
        assert closed and time.monotonic() - started < 6.0
    with connect(srv.port) as sock:
        sock.sendall(b"GE")
        assert wait_until(lambda: closed_by_peer(sock), 6.0)


def test_a_stalled_body_ends_in_408(make_server: Any) -> None:
    """A body that stops arriving is answered 408 after --body-timeout and the connection is
    closed; nothing is written."""
    srv = make_server("--body-timeout", "1.5")
    with connect(srv.port) as sock:
        sock.sendall(head("PUT", "/runs/stall/steps/0", length=500) + b'{"step_index": 0')
        started = time.monotonic()
        assert read_status(sock, 10.0) == 408
        assert 1.0 < time.monotonic() - started < 6.0
    assert not srv.run_dir("stall").exists()


def test_an_unread_body_must_still_arrive_in_time(make_server: Any) -> None:
    """A request answered before its body was read (401 here) whose body then trickles is
    closed after --body-timeout instead of being drained for ever."""
    srv = make_server("--body-timeout", "1.5")
    with connect(srv.port) as sock:
        sock.sendall(head("PUT", "/runs/x/steps/0", length=10_000_000, token="wrong") + b"{")
        assert read_status(sock) == 401
        assert wait_until(lambda: closed_by_peer(sock), 6.0)


# ── 7. OTLP events out of order ─────────────────────────────────────────────


def test_otlp_events_out_of_order_end_in_recording_order(server: Any) -> None:
    """3,000 events whose spans arrive in reverse recording order, in one request and across
    requests (with a re-sent batch), end in augur.seq order, each once, at the finish."""
    run = "otlp_ooo"
    n = 1500
    # one request: spans in span-seq order, their events' seqs descending
    first = [step_span(run, 0, seq=k, span=k + 1, events=[(2 * n - k, 2 * n - k)])
             for k in range(n)]
    assert _status(server, "POST", "/v1/traces", otlp_body(first)) == 200
    # a second request with the older half, and the same request again (a re-send)
    older = [step_span(run, 0, seq=n + k, span=n + k + 1, events=[(n - k, n - k)])
             for k in range(n)]
    for _ in range(2):
        assert _status(server, "POST", "/v1/traces", otlp_body(older)) == 200
    assert _status(server, "POST", "/v1/traces", otlp_body([run_span(run, seq=4 * n)])) == 200
    server.wait_status(run, "finished")
    root = server.run_dir(run)
    summaries = [e["summary"] for e in read_jsonl(root / "events/0000.jsonl")]
    assert summaries == [f"event {k}" for k in range(1, 2 * n + 1)]
    assert validate_bundle(root) == []


# ── 8. late data never destroys a finished run ──────────────────────────────


def test_late_data_leaves_a_finished_run_intact_and_is_counted(make_server: Any) -> None:
    """After --reopen-window, every kind of late request is answered {"ok": true, "ignored":
    "finished"}; the bundle's files are byte-identical and the count is shown."""
    srv = make_server("--reopen-window", "0.2")
    run = "late"
    steps = [step_record(run, i) for i in range(3)]
    for i in range(3):
        srv.json("PUT", f"/runs/{run}/steps/{i}", steps[i])
    srv.json("POST", f"/runs/{run}/events", {"events": [event_record(0)]})
    srv.json("PUT", f"/runs/{run}/trace", {"session": session_record(run), "steps": steps})
    root = srv.run_dir(run)
    snapshot = {p: (root / p).read_bytes() for p in files_under(root) if (root / p).is_file()}
    time.sleep(0.5)
    late = [
        ("PUT", f"/runs/{run}/steps/0", step_record(run, 0, intent="late")),
        ("PUT", f"/runs/{run}/steps/7", step_record(run, 7)),
        ("POST", f"/runs/{run}/events", {"events": [event_record(1)]}),
        ("PUT", f"/runs/{run}/costs", {"total_usd": 1.5}),
        ("POST", "/runs", manifest_body(run)),
        ("PUT", f"/runs/{run}/trace", {"session": session_record(run), "steps": []}),
        ("PUT", f"/runs/{run}/session", session_record(run, status="running")),
        ("POST", f"/runs/{run}/logs", {"text": "late"}),
    ]
    for method, path, body in late:
        assert srv.json(method, path, body) == {"ok": True, "ignored": "finished"}, path
    shot = srv.json("POST", f"/runs/{run}/screenshots/0/pre",
                    fields={"image": ("s.png", make_png(8, 8), "image/png")})
    assert shot == {"ok": True, "ignored": "finished"}
    assert {p: (root / p).read_bytes() for p in files_under(root)
            if (root / p).is_file()} == snapshot
    info = srv.json("GET", f"/api/runs/acme/{run}")
    assert info["status"] == "finished" and info["late_ignored"] == len(late) + 1
    assert validate_bundle(root) == []


def test_a_new_session_moves_the_finished_bundle_aside(make_server: Any) -> None:
    """A session with another debug_session_id for a finished run id (DSN or OTLP) starts a
    new bundle; the old one is moved, whole and valid, under .augur-server/replaced/."""
    srv = make_server()
    run = "reborn"
    steps = [step_record(run, i) for i in range(2)]
    srv.json("PUT", f"/runs/{run}/trace", {"session": session_record(run), "steps": steps})
    old_files = {p: (srv.run_dir(run) / p).read_bytes() for p in files_under(srv.run_dir(run))
                 if (srv.run_dir(run) / p).is_file()}
    srv.json("PUT", f"/runs/{run}/session", session_record(run, dsid="dbg_second",
                                                         status="running"))
    moved = list((srv.data / "acme" / ".augur-server" / "replaced").glob(f"*/{run}"))
    assert len(moved) == 1
    assert {p: (moved[0] / p).read_bytes() for p in files_under(moved[0])
            if (moved[0] / p).is_file()} == old_files
    assert validate_bundle(moved[0]) == []
    assert step_files(srv.run_dir(run)) == {}
    assert srv.json("GET", f"/api/runs/acme/{run}")["debug_session_id"] == "dbg_second"
    assert run in {r["run_id"] for r in srv.json("GET", "/api/runs")["runs"]}

    otlp_run = "reborn_otlp"
    body = otlp_body([step_span(otlp_run, 0, seq=1, trace="a1" * 16),
                      run_span(otlp_run, seq=2, trace="a1" * 16)])
    assert _status(srv, "POST", "/v1/traces", body) == 200
    srv.wait_status(otlp_run)
    fresh = otlp_body([step_span(otlp_run, 5, seq=1, trace="b2" * 16)])
    assert _status(srv, "POST", "/v1/traces", fresh) == 200
    moved = list((srv.data / "acme" / ".augur-server" / "replaced").glob(f"*/{otlp_run}"))
    assert len(moved) == 1 and validate_bundle(moved[0]) == []
    assert list(step_files(srv.run_dir(otlp_run))) == ["0005.json"]


# ── 9. runs whose client went away ──────────────────────────────────────────


def test_an_idle_run_is_finished_as_halted(make_server: Any) -> None:
    """A run with no request for --finish-idle-after seconds becomes a valid bundle with
    session status halted, the steps and screenshots that never arrived in
    manifest.missing; data of the same session later reopens it."""
    srv = make_server("--finish-idle-after", "1")
    run = "gone"
    srv.json("PUT", f"/runs/{run}/session", session_record(run, status="running"))
    for i in (0, 1, 3):
        srv.json("PUT", f"/runs/{run}/steps/{i}",
                 step_record(run, i, pre=f"screenshots/{i:04d}_pre.png"))
    srv.json("POST", f"/runs/{run}/screenshots/0/pre",
             fields={"image": ("s.png", make_png(8, 8), "image/png")})
    info = srv.wait_status(run, "failed", timeout_s=15)
    assert info["session_status"] == "halted" and info["halted_by_server"] is True
    root = srv.run_dir(run)
    manifest = read_json(root / "manifest.json")
    assert set(manifest["missing"]) == {"steps/0002.json", "screenshots/0001_pre.png",
                                        "screenshots/0003_pre.png"}
    assert validate_bundle(root) == []
    assert read_json(root / "producer.json")["halted_by_server"]["missing_steps"] == 1
    srv.json("PUT", f"/runs/{run}/steps/2", step_record(run, 2))
    assert srv.json("GET", f"/api/runs/acme/{run}")["status"] == "running"
    steps = [step_record(run, i) for i in range(4)]
    srv.json("PUT", f"/runs/{run}/trace", {"session": session_record(run), "steps": steps})
    assert srv.json("GET", f"/api/runs/acme/{run}")["status"] == "finished"
    assert validate_bundle(root) == []


def test_runs_left_running_by_an_earlier_server_are_finished(make_server: Any,
                                                             tmp_path: Path) -> None:
    """A run a stopped server left running is finished as halted by the next server on the
    same data directory once it has been idle long enough."""
    run = "orphan"
    first = make_server(base=tmp_path / "srv")
    first.json("PUT", f"/runs/{run}/steps/0", step_record(run, 0))
    first.stop()
    second = make_server("--finish-idle-after", "1", base=tmp_path / "srv")
    info = second.wait_status(run, "failed", timeout_s=15)
    assert info["session_status"] == "halted"
    assert validate_bundle(second.run_dir(run)) == []


# ── 10. absurd PNG dimensions ───────────────────────────────────────────────


def _png_header(width: int, height: int) -> bytes:
    png = make_png(4, 4)
    return png[:16] + width.to_bytes(4, "big") + height.to_bytes(4, "big") + png[24:]


@pytest.mark.parametrize(("width", "height"), [(100_000, 100_000), (0, 10), (70_000, 10),
                                               (20_000, 20_000)])
def test_pngs_declaring_absurd_dimensions_are_refused(server: Any, width: int,
                                                      height: int) -> None:
    """A PNG whose header declares 100000 x 100000 (or 0, or too many pixels) is 400, as a
    multipart upload and as an image/png body; nothing is written."""
    run = f"png_{width}_{height}"
    before = files_under(server.data)
    data = _png_header(width, height)
    resp = server.request("POST", f"/runs/{run}/screenshots/0/pre",
                          fields={"image": ("s.png", data, "image/png")})
    assert resp.status == 400 and "pixels" in resp.json()["error"]
    resp = server.request("POST", f"/runs/{run}/screenshots/0/post", raw=data,
                          headers={"Content-Type": "image/png"})
    assert resp.status == 400
    assert files_under(server.data) == before
    server.json("POST", f"/runs/{run}/screenshots/0/pre",
                fields={"image": ("s.png", _png_header(1280, 60_000), "image/png")})


def test_hostile_requests_do_not_stop_a_concurrent_good_run(server: Any) -> None:
    """While the findings above are replayed from threads, a run streamed by hand on the same
    server arrives complete and valid."""
    run = "good_meanwhile"
    stop = threading.Event()

    def attack() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            for method, path, raw in (OVERFLOWS[n % len(OVERFLOWS)],
                                      SURROGATES[n % len(SURROGATES)]):
                target = f"hm_{n}"
                raw = raw.replace(b"{run}", target.encode()).replace(b"RUN", target.encode())
                _status(server, method, path.format(run=target), raw)

    threads = [threading.Thread(target=attack, daemon=True) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        steps = [step_record(run, i) for i in range(10)]
        for i, step in enumerate(steps):
            server.json("PUT", f"/runs/{run}/steps/{i}", step, headers={"Idempotency-Key":
                                                                       f"s{i}"})
            server.json("POST", f"/runs/{run}/events", {"events": [event_record(i)]})
        server.json("PUT", f"/runs/{run}/trace", {"session": session_record(run),
                                                  "steps": steps})
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    root = server.run_dir(run)
    assert validate_bundle(root) == []
    assert len(event_files(root)) == 10 and len(step_files(root)) == 10
    assert not list(server.data.glob("acme/hm_*"))
