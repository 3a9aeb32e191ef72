"""A flood of hostile and valid requests from a bounded client loop: the server stays up,
answers with 4xx (never 5xx), writes nothing outside its data dir, and other runs are fine."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import urllib3
from serverkit import ACME, TENANTS

from augur_sdk.validation import validate_bundle

OTHER_TENANT = next(t for t in TENANTS if t != "acme")
OTHER_TOKEN = TENANTS[OTHER_TENANT][0]

BAD_REQUESTS = [
    ("PUT", "/api/v1/runs/flood/steps/0", b"{not json", ACME),
    ("PUT", "/api/v1/runs/flood/steps/0", b"{}", "wrong-token"),
    ("PUT", "/api/v1/runs/..%2F..%2Fetc/steps/0", b"{}", ACME),
    ("PUT", "/api/v1/runs/flood/steps/-1", b"{}", ACME),
    ("POST", "/api/v1/runs/flood/events", b'{"events": [' + b"1," * 20000 + b"1]}", ACME),
    ("PUT", "/api/v1/runs/flood/steps/0", b"x" * (3 * 2**20), ACME),
]


def test_flood_leaves_the_server_up_and_other_runs_intact(make_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """600 bad requests from 8 client threads within 60 s: only 4xx answers, nothing written
    outside the data dir, and a run by another tenant during the flood arrives valid."""
    srv = make_server("--max-body-mb", "2")
    before = sorted(p.name for p in tmp_path.iterdir())
    http = urllib3.PoolManager(maxsize=8, retries=False, timeout=10.0)
    statuses: list[int] = []
    deadline = time.monotonic() + 60

    def hit(n: int) -> int:
        if time.monotonic() > deadline:
            return 0
        method, path, body, token = BAD_REQUESTS[n % len(BAD_REQUESTS)]
        try:
            return http.request(method, srv.url + path, body=body,
                                headers={"Authorization": f"Bearer {token}",
                                         "Content-Type": "application/json"}).status
        except urllib3.exceptions.HTTPError:
            return -1  # the server may close a connection on an oversized body

    with ThreadPoolExecutor(8) as pool:
        flood = pool.map(hit, range(600))
        # meanwhile, another tenant streams a valid run by hand
        run = "good_run"
        session = {"schema_version": "0.1", "debug_session_id": "dbg_good", "run_id": run,
                   "client": {"name": "a"}, "capture_mode": "trace",
                   "started_at": "2026-05-19T00:00:00Z", "status": "running"}
        step = {"step_id": f"{run}/step/0000", "step_index": 0, "step_type": "click",
                "status": "succeeded", "started_at": "2026-05-19T00:00:00Z"}
        good = {"Authorization": f"Bearer {OTHER_TOKEN}", "Content-Type": "application/json"}
        for method, path, body in (
                ("PUT", f"/api/v1/runs/{run}/session", session),
                ("PUT", f"/api/v1/runs/{run}/steps/0", step),
                ("PUT", f"/api/v1/runs/{run}/trace",
                 {"session": {**session, "status": "succeeded",
                              "ended_at": "2026-05-19T00:00:01Z"}, "steps": [step]})):
            for _ in range(50):  # a 429 under load is retried, as our client would
                resp = http.request(method, srv.url + path, body=json.dumps(body).encode(),
                                    headers=good)
                if resp.status != 429:
                    break
                time.sleep(0.1)
            assert resp.status < 300, (path, resp.status, resp.data[:200])
        statuses = list(flood)

    assert len([s for s in statuses if s]) >= 100  # the loop really flooded
    assert all(s == -1 or 400 <= s < 500 for s in statuses if s), sorted(set(statuses))
    assert srv.proc.poll() is None
    assert http.request("GET", srv.url + "/healthz").status == 200
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing new beside data/
    srv.wait_status(run, tenant=OTHER_TENANT, token=OTHER_TOKEN)
    assert validate_bundle(srv.run_dir(run, OTHER_TENANT)) == []
    http.clear()
