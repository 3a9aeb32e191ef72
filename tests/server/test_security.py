"""Auth, tenant isolation, path safety, size limits and malformed input."""

from __future__ import annotations

import gzip
import http.client
import json
from pathlib import Path
from typing import Any

import pytest
from serverkit import ACME, GLOBEX, files_under, session_record

from augur_sdk.server.config import (
    ConfigError,
    ServerConfig,
    TokenTable,
    load_tokens,
    parse_tokens_env,
)
from augur_sdk.server.runner import security_warnings

from support import event_record, step_record


def raw_request(server: Any, method: str, path: str, body: bytes = b"{}",
                token: str | None = ACME, headers: dict[str, str] | None = None,
                ) -> tuple[int, bytes]:
    """Send ``path`` byte for byte (no client-side normalisation of ``..`` or ``%2F``)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    if token is not None:
        hdrs["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# ── authentication and tenants ──────────────────────────────────────────────


@pytest.mark.parametrize("token", [None, "", "not-a-token", "tok-acme-1x"])
def test_missing_or_wrong_token_is_401_and_writes_nothing(server: Any, token: str | None) -> None:
    """Without a valid token every write is refused with 401 and nothing reaches the disk."""
    run = f"auth_{len(token or '')}"
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    for method, path, body in (
        ("POST", "/heartbeat", {"client_id": "x", "run_id": run}),
        ("PUT", f"/runs/{run}/steps/0", step_record(run, 0)),
        ("POST", f"/runs/{run}/events", {"events": [event_record(0)]}),
        ("PUT", f"/runs/{run}/trace", {"session": session_record(run), "steps": []}),
        ("POST", "/runs", {"run_id": run}),
        ("GET", "/api/runs", None),
    ):
        resp = server.request(method, path, body, token=None, headers=headers)
        assert resp.status == 401, (path, resp.status)
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert not server.run_dir(run).exists()
    assert not (server.data / "acme" / ".augur-server" / f"{run}.json").exists()


def test_x_augur_token_header_is_accepted(server: Any) -> None:
    """The x-augur-token header authenticates like a Bearer token."""
    server.json("PUT", "/runs/auth_header/steps/0", step_record("auth_header", 0), token=None,
                headers={"x-augur-token": GLOBEX})
    assert server.run_dir("auth_header", "globex").is_dir()


def test_a_token_writes_only_into_its_own_tenant(server: Any) -> None:
    """A token writes only into its own tenant; naming another tenant is 403 with nothing written."""
    run = "shared_name"
    server.json("PUT", f"/runs/{run}/steps/0", step_record(run, 0, intent="acme"), token=ACME)
    server.json("PUT", f"/runs/{run}/steps/0", step_record(run, 0, intent="globex"),
                token=GLOBEX)
    acme = json.loads((server.run_dir(run, "acme") / "steps/0000.json").read_text())
    globex = json.loads((server.run_dir(run, "globex") / "steps/0000.json").read_text())
    assert (acme["intent"], globex["intent"]) == ("acme", "globex")

    other = "cross_tenant"
    resp = server.request("PUT", f"/runs/{other}/steps/0?tenant=globex",
                          step_record(other, 0), token=ACME)
    assert resp.status == 403
    resp = server.request("PUT", f"/runs/{other}/steps/0", step_record(other, 0), token=ACME,
                          headers={"X-Augur-Tenant": "globex"})
    assert resp.status == 403
    assert not server.run_dir(other, "globex").exists()
    assert not server.run_dir(other, "acme").exists()
    server.json("PUT", f"/runs/{other}/steps/0?tenant=acme", step_record(other, 0), token=ACME)


def test_the_json_api_shows_only_the_callers_tenant(server: Any) -> None:
    """A token lists only its tenant's runs and gets 403 for another tenant's run."""
    server.json("PUT", "/runs/api_only_globex/steps/0", step_record("api_only_globex", 0),
                token=GLOBEX)
    listed = server.json("GET", "/api/runs", token=ACME)["runs"]
    assert listed and {r["tenant"] for r in listed} == {"acme"}
    assert "api_only_globex" not in {r["run_id"] for r in listed}
    assert server.request("GET", "/api/runs/globex/api_only_globex", token=ACME).status == 403
    assert server.request("GET", "/api/runs/globex/api_only_globex", token=GLOBEX).status == 200
    assert server.request("GET", "/api/runs/acme/no_such_run").status == 404


# ── paths ───────────────────────────────────────────────────────────────────

TRAVERSALS = [
    ("PUT", "/runs/nul%00byte/steps/0"),
    ("PUT", "/runs/" + "x" * 129 + "/steps/0"),
    ("PUT", "/runs/" + "%C3%A9" * 65 + "/steps/0"),  # 65 x "é": 130 bytes of UTF-8
    ("PUT", "/runs/abc%E2%80%AEdef/steps/0"),  # a bidi override
    ("PUT", "/runs//steps/0"),
    ("PUT", "/runs/ok_run/steps/abc"),
    ("PUT", "/runs/ok_run/steps/-1"),
    ("PUT", "/runs/ok_run/steps/1.5"),
    ("PUT", "/runs/ok_run/steps/..%2F..%2F0"),
    ("PUT", "/runs/ok_run/steps/99999999"),
    ("POST", "/runs/ok_run/screenshots/0/..%2F..%2Fpre"),
    ("POST", "/runs/ok_run/screenshots/x/pre"),
    ("POST", "/runs/ok_run/modelio/..%2F..%2Fescaped.json"),
    ("POST", "/runs/ok_run/modelio/.hidden.json"),
    ("GET", "/api/runs/..%2Facme/run"),
]

# Run ids the SDK accepts (one rule for both): they name no path. Each is stored under its
# escaped directory name inside the tenant's folder, and nothing is written anywhere else.
ODD_RUN_IDS = [
    ("PUT", "/runs/%2E%2E/steps/0", ".."),
    ("PUT", "/runs/..%2F..%2Fescaped/steps/0", "../../escaped"),
    ("PUT", "/runs/%2Fetc%2Fescaped/steps/0", "/etc/escaped"),
    ("PUT", "/runs/a%5C..%5Cescaped/steps/0", "a\\..\\escaped"),
    ("PUT", "/runs/.hidden/steps/0", ".hidden"),
]


@pytest.mark.parametrize(("method", "path"), TRAVERSALS)
def test_path_escapes_are_400_and_write_nothing(server: Any, method: str, path: str) -> None:
    """Path segments that could escape the data directory are 400 and write nothing anywhere."""
    base = server.data.parent.parent  # the test session's whole temporary tree
    before = files_under(base)
    status, body = raw_request(server, method, path,
                               json.dumps(step_record("ok_run", 0)).encode())
    assert status == 400, (path, status, body)
    assert "error" in json.loads(body)
    assert files_under(base) == before


@pytest.mark.parametrize(("method", "path", "run_id"), ODD_RUN_IDS)
def test_odd_run_ids_are_stored_inside_their_tenant(server: Any, method: str, path: str,
                                                   run_id: str) -> None:
    """'..', '/etc/x', '.hidden' are valid run ids (as in the SDK): stored under an escaped
    directory name inside data/<tenant>/, listed under their own id, nothing else written."""
    from augur_sdk.limits import run_dir_name

    base = server.data.parent.parent
    before = files_under(base)
    status, body = raw_request(server, method, path,
                               json.dumps(step_record(run_id, 0)).encode())
    assert status == 200, (path, status, body)
    root = server.data / "acme" / run_dir_name(run_id)
    assert root.parent == server.data / "acme" and (root / "steps" / "0000.json").is_file()
    tenant = (server.data / "acme").relative_to(base).as_posix()
    new = files_under(base) - before
    assert new and all(p.startswith(tenant + "/") for p in new), new
    assert run_id in {r["run_id"] for r in server.json("GET", "/api/runs")["runs"]}


@pytest.mark.parametrize(("path", "body"), [
    ("/runs", {"run_id": "a\x00b"}),
    ("/runs", {"run_id": "\u202eabc"}),
    ("/heartbeat", {"client_id": "c", "run_id": "x" * 200}),
    ("/runs/body_checks/events", {"events": [{**event_record(0), "step_index": "../x"}]}),
    ("/runs/body_checks/events", {"events": [event_record(0)], "step_index": -3}),
    ("/runs/body_checks/side-effects", {"side_effect_id": "../../x", "step_index": 0}),
    ("/runs/body_checks/logs", {"text": "x", "name": "../escaped"}),
])
def test_names_inside_bodies_are_checked_too(server: Any, path: str, body: Any) -> None:
    """Run ids and names taken from JSON bodies get the same checks (400, nothing written)."""
    before = files_under(server.data.parent)
    resp = server.request("POST", path, body)
    assert resp.status == 400, (path, resp.status, resp.data)
    new = files_under(server.data.parent) - before
    assert not any("escaped" in p or p.startswith(("abs", "x")) for p in new), new
    assert not (server.data.parent / "escaped").exists()


def test_step_body_must_match_the_url_and_stay_inside(server: Any) -> None:
    """A step whose index disagrees with the URL or whose screenshot path escapes is 400."""
    run = "body_step"
    assert server.request("PUT", f"/runs/{run}/steps/1", step_record(run, 0)).status == 400
    bad = step_record(run, 0, pre="../../../etc/passwd")
    assert server.request("PUT", f"/runs/{run}/steps/0", bad).status == 400
    assert not (server.run_dir(run) / "steps").exists()


# ── sizes and malformed bodies ──────────────────────────────────────────────


def test_oversized_bodies_are_413(make_server: Any) -> None:
    """Oversized bodies (Content-Length, chunked, gzip bomb, multipart) are 413 and write nothing."""
    srv = make_server("--max-body-mb", "0.01")  # 10,485 bytes
    big = step_record("big", 0, intent="x" * 20_000)
    assert srv.request("PUT", "/runs/big/steps/0", big).status == 413

    def chunks() -> Any:
        for _ in range(30):
            yield b" " * 1000
        yield json.dumps(step_record("big", 0)).encode()

    resp = srv.http.request("PUT", srv.url + "/runs/big/steps/0", body=chunks(),
                            headers={"Authorization": f"Bearer {ACME}",
                                     "Content-Type": "application/json"}, chunked=True)
    assert resp.status == 413
    bomb = gzip.compress(b'{"resourceSpans": []' + b" " * 200_000 + b"}")
    assert len(bomb) < 10_000
    resp = srv.request("POST", "/v1/traces", raw=bomb,
                       headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert resp.status == 413
    shot = srv.request("POST", "/runs/big/screenshots/0/pre",
                       fields={"image": ("s.png", b"\x89PNG" + b"0" * 20_000, "image/png")})
    assert shot.status == 413
    assert not srv.run_dir("big").exists()
    small = step_record("big", 0)
    assert srv.request("PUT", "/runs/big/steps/0", small).status == 200


@pytest.mark.parametrize(("path", "raw"), [
    ("/runs/bad_json/steps/0", b"{"),
    ("/runs/bad_json/steps/0", b'{"step_index": NaN}'),
    ("/runs/bad_json/steps/0", b"[1, 2]"),
    ("/runs/bad_json/steps/0", b"\xff\xfe{"),
    ("/runs/bad_json/trace", b'{"session": {}, "steps": "no"}'),
    ("/runs/bad_json/events", b'{"events": "not a list"}'),
    ("/runs/bad_json/events", b'{"events": [1]}'),
    ("/runs/bad_json/costs", b'{"total_usd": -1}'),
    ("/heartbeat", b"not json"),
    ("/runs", b"[]"),
])
def test_malformed_json_is_400(server: Any, path: str, raw: bytes) -> None:
    """Malformed or wrongly shaped JSON is refused with 400 and a message."""
    method = "PUT" if path.endswith(("steps/0", "trace", "costs")) else "POST"
    resp = server.request(method, path, raw=raw, headers={"Content-Type": "application/json"})
    assert resp.status == 400, (path, resp.status, resp.data)
    assert resp.json()["error"]
    assert not (server.run_dir("bad_json") / "steps").exists()


def test_screenshot_must_be_a_png_in_field_image(server: Any) -> None:
    """A screenshot upload without the multipart field 'image', or not a PNG, is 400."""
    resp = server.request("POST", "/runs/shots/screenshots/0/pre",
                          fields={"file": ("s.png", b"\x89PNG....", "image/png")})
    assert resp.status == 400
    resp = server.request("POST", "/runs/shots/screenshots/0/pre",
                          fields={"image": ("s.png", b"GIF89a-not-png", "image/png")})
    assert resp.status == 400
    assert not (server.run_dir("shots") / "screenshots").exists()


def test_unknown_paths_and_methods(server: Any) -> None:
    """Unknown routes are 404 and a known route with the wrong method is 405, both JSON."""
    assert server.request("PUT", "/runs/r1/nope", {}).status == 404
    resp = server.request("GET", "/runs/r1/steps/0")
    assert resp.status == 405 and resp.headers["Allow"] == "PUT"
    assert server.request("GET", "/heartbeat").status == 405


# ── binding and configuration ───────────────────────────────────────────────


def test_binds_to_loopback_by_default(make_server: Any) -> None:
    """Without --host the server listens on 127.0.0.1 (and says so)."""
    srv = make_server()
    assert f"listening on http://127.0.0.1:{srv.port}" in srv.log_text()


def test_warns_when_open_and_not_on_loopback(tmp_path: Path) -> None:
    """Only an open (tokenless) server bound off loopback gets the security WARNING."""
    open_public = ServerConfig(tmp_path, host="0.0.0.0")
    assert "no token configured" in security_warnings(open_public)[0]
    assert security_warnings(ServerConfig(tmp_path, host="::1")) == []
    assert security_warnings(ServerConfig(tmp_path, host="localhost")) == []
    tokens = TokenTable({"acme": ["t"]})
    assert security_warnings(ServerConfig(tmp_path, host="0.0.0.0", tokens=tokens)) == []


def test_open_server_accepts_requests_and_uses_the_named_tenant(make_server: Any) -> None:
    """A tokenless server accepts every request and writes into the named tenant, else 'default'."""
    srv = make_server(tokens={})
    srv.json("PUT", "/runs/open_run/steps/0", step_record("open_run", 0), token=None)
    srv.json("PUT", "/runs/open_run/steps/0?tenant=team1", step_record("open_run", 0),
             token=None)
    assert srv.run_dir("open_run", "default").is_dir()
    assert srv.run_dir("open_run", "team1").is_dir()
    tenants = {r["tenant"] for r in srv.json("GET", "/api/runs", token=None)["runs"]}
    assert tenants == {"default", "team1"}
    assert "no token configured" in srv.log_text()


def test_token_configuration(tmp_path: Path) -> None:
    """Tokens load from file and env; duplicate, badly named or malformed entries are config errors."""
    file = tmp_path / "tokens.json"
    file.write_text(json.dumps({"tenants": {"acme": ["a1", "a2"], "globex": "g1"}}))
    table = load_tokens(file, env={"AUGUR_SERVER_TOKENS": "initech:i1, acme:a3"})
    assert [table.tenant_for(t) for t in ("a1", "a2", "a3", "g1", "i1", "zz")] == \
        ["acme", "acme", "acme", "globex", "initech", None]
    assert not table.open and load_tokens(None, env={}).open
    assert parse_tokens_env("a:x,,b:y") == {"a": ["x"], "b": ["y"]}
    for bad in ("acme", "acme:", ":tok"):
        with pytest.raises(ConfigError):
            parse_tokens_env(bad)
    with pytest.raises(ConfigError, match="two tenants"):
        TokenTable({"acme": ["same"], "globex": ["same"]})
    with pytest.raises(ConfigError):
        TokenTable({"../x": ["t"]})
    file.write_text('{"tenants": ["no"]}')
    with pytest.raises(ConfigError):
        load_tokens(file, env={})
