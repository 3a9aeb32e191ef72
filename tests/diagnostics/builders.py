"""Bundles for the rule tests, recorded with the real SDK (screenshots drawn with Pillow by
``drawn_runs.draw_page``), and edits a producer without checks could have made."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from augur_sdk import CaptureMode, DebugSession
from augur_sdk.bundle import layout
from drawn_runs import Page, draw_page

RUN = "run_diag"
LOGIN, SEARCH, PRODUCT = Page("login"), Page("search"), Page("product")
CHECKOUT, DIALOG = Page("checkout"), Page("checkout", dialog=True)


def step(i: int, **fields: Any) -> dict[str, Any]:
    """A succeeded click step at (100, 100) with a matching screenshot-grounded target;
    ``fields`` replace or add top-level fields (``None`` removes one)."""
    record: dict[str, Any] = {
        "step_id": f"{RUN}/step/{i:04d}", "step_index": i, "step_type": "click",
        "intent": f"step {i}", "status": "succeeded",
        "started_at": f"2026-03-01T09:00:{i:02d}Z", "ended_at": f"2026-03-01T09:00:{i:02d}.5Z",
        "action": {"type": "click", "params": {"x": 100, "y": 100},
                   "coordinate_space": "viewport_css_px"},
        "grounding": {"provider": "test", "provenance": "screenshot", "confidence": 0.9,
                      "coordinates": {"x": 100, "y": 100}, "target_label": f"target {i}"},
        "verdict": {"status": "passed", "reason": "checked"},
    }
    for key, value in fields.items():
        if value is None:
            record.pop(key, None)
        else:
            record[key] = value
    return record


def click(x: float, y: float) -> dict[str, Any]:
    return {"type": "click", "params": {"x": x, "y": y}, "coordinate_space": "viewport_css_px"}


def record(out: Path, steps: list[dict[str, Any]], *, mode: str = "screenshots",
           pages: dict[int, Page | tuple[Page, Page]] | None = None,
           events: list[dict[str, Any]] | None = None,
           iterations: list[tuple[int, dict[str, Any]]] | None = None,
           tags: dict[str, str] | None = None, scale: int = 1) -> Path:
    """Record ``steps`` into ``out`` (the bundle); ``pages[i]``: the pre page of step i, or
    (pre, post). Steps without a page get the login page; ``scale``: screenshots drawn at
    that device scale (the steps' coordinates stay in CSS px)."""
    pages = pages or {}
    with DebugSession(run_id=RUN, client_name="diag-test", client_version="1",
                      capture_mode=CaptureMode(mode), out_dir=str(out),
                      tags=tags) as session:
        for s in steps:
            i = s["step_index"]
            page = pages.get(i, LOGIN)
            pre, post = page if isinstance(page, tuple) else (page, None)
            rec = dict(s)
            rec["observation_pre"] = session.attach_observation(
                step_index=i, kind="pre", png_bytes=_png(pre, scale))
            if post is not None:
                rec["observation_post"] = session.attach_observation(
                    step_index=i, kind="post", png_bytes=_png(post, scale))
            session.record_step(rec)
            for e in events or []:
                if e.get("step_index") == i:
                    session.record_event(e)
        for index, iteration in iterations or []:
            session.record_step_iteration(index, iteration)
    return out


def _png(page: Page, scale: int) -> bytes:
    if scale == 1:
        return draw_page(page)
    with Image.open(io.BytesIO(draw_page(page))) as im:
        out = io.BytesIO()
        im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST).save(
            out, format="PNG")
        return out.getvalue()


def edit_steps(bundle: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Apply ``change`` to every step record (step files and trace.json) and re-sign the
    changed files, as a producer without input checks would have written them."""
    manifest = json.loads((bundle / layout.MANIFEST).read_text())
    rels = [p.relative_to(bundle).as_posix() for p in sorted((bundle / "steps").rglob("*.json"))]
    for rel in rels:
        record = json.loads((bundle / rel).read_text())
        change(record)
        _write(bundle, rel, record, manifest)
    trace = json.loads((bundle / layout.TRACE).read_text())
    for record in trace["steps"]:
        change(record)
    _write(bundle, layout.TRACE, trace, manifest)
    (bundle / layout.MANIFEST).write_text(layout.dumps(manifest))


def _write(bundle: Path, rel: str, obj: Any, manifest: dict[str, Any]) -> None:
    data = layout.dumps(obj).encode()
    (bundle / rel).write_bytes(data)
    if rel in manifest.get("signatures", {}):
        manifest["signatures"][rel] = hashlib.sha256(data).hexdigest()
