"""Our SDK streaming (``dsn=`` / ``AUGUR_DSN``) to ``augur serve`` on loopback."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from serverkit import ACME, event_files, read_json, screenshot_files, step_files

from augur_sdk.stream.client import quote
from augur_sdk.validation import validate_bundle

from support import run_seed_session


@pytest.mark.parametrize("base", ["", "/api/v1"])
def test_sdk_seed_run_streamed_equals_the_local_bundle(server: Any, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       base: str) -> None:
    """Our SDK's streamed seed-page run validates and is byte-identical to the local bundle."""
    run = f"sdk_stream{base.replace('/', '_')}"
    monkeypatch.setenv("AUGUR_DSN", f"{server.url}{base}?token={ACME}&tenant=acme")
    run_seed_session(tmp_path / "local", steps=5, run_id=run)
    info = server.wait_status(run, "finished")
    root, local = server.run_dir(run), tmp_path / "local"
    assert validate_bundle(root) == []
    assert step_files(root) == step_files(local)
    assert event_files(root) == event_files(local)
    assert screenshot_files(root) == screenshot_files(local)
    assert (root / "trace.json").read_bytes() == (local / "trace.json").read_bytes()
    for name in sorted((local / "events").glob("*.jsonl")):
        assert (root / "events" / name.name).read_bytes() == name.read_bytes()
    local_manifest = read_json(local / "manifest.json")
    manifest = read_json(root / "manifest.json")
    for key in ("run_id", "debug_session_id", "client", "capture_mode", "step_count",
                "redaction"):
        assert manifest[key] == local_manifest[key], key
    assert info["placeholder_session"] is False and info["tags"] == {"env": "test"}


@pytest.mark.parametrize("run", ["team/run-1", "..", "50% done", "é" * 64])
def test_every_run_id_the_sdk_accepts_is_stored_by_the_server(
        server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run: str) -> None:
    """A run id with '/', a leading dot, '%' or 128 bytes of UTF-8 streams whole, stored under
    a safe, reversible directory name and listed under its own id."""
    from augur_sdk.limits import run_dir_name

    monkeypatch.setenv("AUGUR_DSN", f"{server.url}?token={ACME}&tenant=acme")
    run_seed_session(tmp_path / "local", steps=2, run_id=run)
    info = server.wait_status(quote(run), "finished")
    assert info["run_id"] == run
    root = server.data / "acme" / run_dir_name(run)
    assert root.is_dir() and root.parent == server.data / "acme"
    assert validate_bundle(root) == []
    assert step_files(root) == step_files(tmp_path / "local")


def test_a_refused_stream_logs_the_servers_reason_once_per_kind(
        server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """acme's token with tenant=globex: every request gets 403, and one WARNING quotes the
    server's reason; the bundle is complete and stream.json counts the refusals."""
    caplog.set_level(logging.WARNING, logger="augur_sdk")
    monkeypatch.setenv("AUGUR_DSN", f"{server.url}/api/v1?token={ACME}&tenant=globex")
    run_seed_session(tmp_path / "local", steps=3, run_id="sdk_wrong_tenant")
    refused = [r.getMessage() for r in caplog.records if "server rejected" in r.getMessage()]
    assert len(refused) == 1, refused
    assert "with HTTP 403: this token does not belong to the tenant the request names" \
        in refused[0], refused[0]
    assert validate_bundle(tmp_path / "local") == []
    stream = json.loads((tmp_path / "local" / "stream.json").read_text())
    assert stream["sent"] == 0 and stream["dropped"]["rejected_403"] > 3, stream


def test_model_calls_and_their_images_reach_the_server(server: Any, tmp_path: Path) -> None:
    """A model call streamed at model_io lands under the same name on the server, its image
    as modelio/images/<sha256>.png (the server checks the digest); the bundle validates and
    holds the same files as the local one. A forged image digest is refused."""
    import base64
    import hashlib

    from augur_sdk import DebugSession

    from support import step_record
    run = "sdk_modelio"
    png = (Path(__file__).resolve().parents[1] / "fixtures" / "bundle-061" / "screenshots"
           / "0000_pre.png").read_bytes()
    local = tmp_path / "local"
    with DebugSession(run_id=run, client_name="a", out_dir=local, capture_mode="model_io",
                      dsn=f"{server.url}?token={ACME}&tenant=acme") as s:
        path = s.record_modelio({"layer": "planner", "request": {
            "model": "gpt-4.1", "messages": [{"role": "user", "content": [
                {"type": "input_image",
                 "image_url": "data:image/png;base64," + base64.b64encode(png).decode()}]}]},
            "response": {"text": "ok"}}, step_index=0)
        s.record_step(step_record(run, 0))
    server.wait_status(run, "finished")
    root = server.run_dir(run)
    image = f"modelio/images/{hashlib.sha256(png).hexdigest()}.png"
    assert (root / image).read_bytes() == png
    assert read_json(root / path) == read_json(local / path)
    assert validate_bundle(root) == []
    assert read_json(root / "producer.json")["model_calls"] == {"count": 1}
    forged = server.request("PUT", f"/runs/{run}/modelio-images/{'0' * 64}.png", raw=png)
    assert forged.status == 400 and b"sha256" in forged.data
    assert not (root / f"modelio/images/{'0' * 64}.png").exists()
