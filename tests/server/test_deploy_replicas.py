"""The deployment of deploy/: nginx routing to two ``augur serve --store s3://...`` replicas.

Real parts on loopback: Debian's nginx, two ``augur serve`` processes, a moto S3 server, our
SDK streaming (``AUGUR_DSN``) and exporting (OTLP/HTTP) through nginx. Checks that every
request of a run reached one replica (both replicas' data directories, and nginx's access
log), that both replicas got runs, and that each finished run is a valid bundle in the bucket.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from deploykit import Nginx, running_nginx
from serverkit import ACME, session_record, step_files

import augur_sdk
from augur_sdk.limits import run_dir_name
from augur_sdk.otel import provider
from augur_sdk.stores.s3 import ClientOptions, S3Location
from augur_sdk.stores.sync import mirror
from augur_sdk.stream.client import quote
from augur_sdk.validation import validate_bundle

from s3_support import BUCKET, MotoServer, aws_env, require_moto
from support import run_seed_session, step_record

PREFIX = "deploy-test"
DSN_RUNS = [f"dsn-run-{n:02d}" for n in range(16)]
OTLP_RUNS = [f"otlp-run-{n:02d}" for n in range(6)]


@pytest.fixture
def deployment(tmp_path: Path, make_server: Any, monkeypatch: pytest.MonkeyPatch,
               ) -> Iterator[tuple[Nginx, list[Any], MotoServer]]:
    require_moto()
    moto = MotoServer(tmp_path)
    moto.start()
    try:
        env = aws_env(moto.endpoint, tmp_path)
        for key, value in env.items():
            monkeypatch.setenv(key, value)  # this process reads the bucket too
        store = ["--store", f"s3://{BUCKET}/{PREFIX}", "--store-delay", "0.2"]
        replicas = [make_server(*store, base=tmp_path / f"replica{n}", env=env)
                    for n in (1, 2)]
        prefix = tmp_path / "nginx"
        with running_nginx(prefix, [f"127.0.0.1:{r.port}" for r in replicas]) as nginx:
            yield nginx, replicas, moto
    finally:
        moto.stop()
    assert moto.proc is None


def holders(replicas: list[Any], run_id: str) -> list[int]:
    """The replicas (0, 1) with anything of the run: its bundle or its index file."""
    name = run_dir_name(run_id)
    return [n for n, r in enumerate(replicas)
            if (r.data / "acme" / name).exists()
            or (r.data / "acme" / ".augur-server" / f"{name}.json").exists()]


def wait_finished(http: urllib3.PoolManager, nginx: Nginx, run_id: str) -> None:
    deadline = time.monotonic() + 30
    info: Any = None
    while time.monotonic() < deadline:
        resp = http.request("GET", f"{nginx.url}/api/runs/acme/{quote(run_id)}",
                            headers={"Authorization": f"Bearer {ACME}"})
        info = resp.json() if resp.status == 200 else resp.status
        if isinstance(info, dict) and info["status"] == "finished":
            return
        time.sleep(0.05)
    raise AssertionError(f"{run_id} not finished: {info}")


def wait_uploaded(replicas: list[Any], timeout_s: float = 60.0) -> None:
    http = urllib3.PoolManager(retries=False, timeout=5.0)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stats = [http.request("GET", f"{r.url}/healthz").json()["store"] for r in replicas]
        if all(s["queued"] == 0 for s in stats) and sum(s["uploaded"] for s in stats) >= \
                len(DSN_RUNS) + len(OTLP_RUNS):
            return
        time.sleep(0.1)
    raise AssertionError(f"uploads not done: {stats}")


def test_each_run_lands_on_one_replica_and_in_the_bucket(
        deployment: tuple[Nginx, list[Any], MotoServer], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs streamed (AUGUR_DSN) and exported (OTLP/HTTP) through nginx: each run's requests
    all reach one replica, both replicas get runs, and each run is a valid bundle in the
    bucket with the same steps as the local bundle."""
    nginx, replicas, _moto = deployment
    monkeypatch.setenv("AUGUR_DSN", f"{nginx.url}?token={ACME}&tenant=acme")
    for run in DSN_RUNS:
        run_seed_session(tmp_path / "local" / run, steps=3, run_id=run)
    monkeypatch.delenv("AUGUR_DSN")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"x-augur-token={ACME}")
    provider.reset(timeout_s=5.0)  # the next session builds a pipeline with OTLP
    augur_sdk.configure(otlp_endpoint=f"{nginx.url}/v1/traces")
    for run in OTLP_RUNS:
        run_seed_session(tmp_path / "local" / run, steps=3, run_id=run)
    provider.reset(timeout_s=10.0)  # flushes the exporter: every span was sent
    # A client without the header (augur-sdk 0.6.1 style): routed by the path alone, also
    # under /api/v1.
    raw = "path-only-run"
    step = step_record(raw, 0)
    http = urllib3.PoolManager(retries=False, timeout=10.0)
    for path, body in [("/runs/{}/session", session_record(raw, status="running")),
                       ("/api/v1/runs/{}/steps/0", step),
                       ("/runs/{}/trace", {"session": session_record(raw), "steps": [step]})]:
        resp = http.request("PUT", nginx.url + path.format(quote(raw)), json=body,
                            headers={"Authorization": f"Bearer {ACME}"})
        assert resp.status == 200, (path, resp.status, resp.data[:300])

    everything = [*DSN_RUNS, *OTLP_RUNS]
    for run in [*everything, raw]:  # asked through nginx: the run's replica answers
        wait_finished(http, nginx, run)
    for run in everything:
        found = holders(replicas, run)
        assert len(found) == 1, f"{run} on replicas {found}"
    assert len(holders(replicas, raw)) == 1
    per_replica = defaultdict(list)
    for run in everything:
        per_replica[holders(replicas, run)[0]].append(run)
    assert len(per_replica) == 2, f"one replica got every run: {dict(per_replica)}"

    # nginx's own account: every request with a run key went to that run's one upstream.
    upstreams: dict[str, set[str]] = defaultdict(set)
    pattern = re.compile(r' run=(\S*) upstream=(\S+) ')
    for line in nginx.access_log():
        match = pattern.search(line)
        if match and match.group(1):
            upstreams[urllib.parse.unquote(match.group(1))].add(match.group(2))
    assert set(everything) | {raw} <= set(upstreams)
    assert {run: ups for run, ups in upstreams.items() if len(ups) != 1} == {}
    heartbeats = [line for line in nginx.access_log() if '"POST /heartbeat' in line]
    assert heartbeats and all(" run= " not in line for line in heartbeats)
    otlp_posts = [line for line in nginx.access_log() if '"POST /v1/traces' in line]
    assert otlp_posts and all(" run= " not in line for line in otlp_posts)

    wait_uploaded(replicas)
    location = S3Location(BUCKET, f"{PREFIX}/acme", ClientOptions())
    copy = tmp_path / "from-bucket"
    result = mirror(location, copy)
    assert result.failed == 0
    for run in everything:
        root = copy / run_dir_name(run)
        assert validate_bundle(root) == [], run
        assert step_files(root) == step_files(tmp_path / "local" / run), run
        assert (root / "upload.json").is_file()


def test_render_fills_every_placeholder_and_refuses_bad_addresses(tmp_path: Path) -> None:
    """deploy/render_nginx.py leaves no @PLACEHOLDER@ behind, lists each replica once, and
    refuses an address that is not host:port (nothing is written then)."""
    from render_nginx import render

    conf = render(tmp_path / "ok", "127.0.0.1:8765", ["127.0.0.1:8801", "[::1]:8802"])
    router = (tmp_path / "ok" / "augur-router.conf").read_text()
    for text in (conf.read_text(), router):
        assert not re.search(r"@[A-Z]+@", text)
    assert router.count("server 127.0.0.1:8801 ") == 1 and "server [::1]:8802 " in router
    assert "hash $augur_run_key consistent;" in router
    for listen, replicas in [("127.0.0.1:8765", []), ("127.0.0.1", ["127.0.0.1:1"]),
                             ("127.0.0.1:1", ["a b:1"]), ("127.0.0.1:1", ["x:1; evil"])]:
        with pytest.raises(ValueError):
            render(tmp_path / "bad", listen, replicas)
    assert not (tmp_path / "bad").exists()
