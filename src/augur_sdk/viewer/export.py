"""``augur view BUNDLE --export run.html``: one self-contained HTML file.

The same page as the served viewer, with its CSS and JS inlined, the bundle's data in a
``<script type="application/json">`` block and every screenshot embedded as a data URI. It
opens from ``file://`` with no network. Its Content-Security-Policy allows exactly the inline
script and style of this file (by sha256) and ``data:`` images, nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

from augur_sdk.bundle.files import atomic_write
from augur_sdk.viewer.reader import BundleReader, script_json
from augur_sdk.viewer.server import (
    BRANCH_SCRIPT_TAG,
    DOM_SCRIPT_TAG,
    ICON_TAG,
    SCRIPT_TAG,
    STYLE_TAG,
    load_assets,
)


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def build_payload(reader: BundleReader) -> dict[str, Any]:
    """Index, every step's details (screenshots inlined) and the run events."""
    reader.scan(force=True)
    index = reader.index(0)
    details = {}
    for i in reader.step_indexes():
        detail = reader.step_detail(i, inline_images=True)
        if detail is not None:
            details[str(i)] = detail
    index["meta"]["exported"] = True
    return {"index": index, "details": details, "run_events": reader.run_events()}


def render_html(payload: dict[str, Any]) -> str:
    assets = load_assets()
    html = assets["index.html"].body.decode("utf-8")
    css = assets["app.css"].body.decode("utf-8")
    # One inline script: the shared DOM helper, the branch note, then the page.
    js = "\n".join(assets[name].body.decode("utf-8") for name in ("dom.js", "branch.js", "app.js"))
    # Nothing in the assets may close their element early once inlined.
    if "</style" in css.lower() or "</script" in js.lower():
        raise RuntimeError("viewer assets cannot be inlined")
    for tag in (STYLE_TAG, DOM_SCRIPT_TAG, BRANCH_SCRIPT_TAG, SCRIPT_TAG, ICON_TAG):
        if tag not in html:
            raise RuntimeError(f"index.html lost {tag!r}")
    csp = (f"default-src 'none'; script-src {_csp_hash(js)}; style-src {_csp_hash(css)}; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    html = html.replace(
        "<head>",
        '<head>\n<meta http-equiv="Content-Security-Policy" content="' + csp + '">', 1)
    html = html.replace(STYLE_TAG, f"<style>{css}</style>")
    html = html.replace(ICON_TAG, "")
    data = f'<script type="application/json" id="augur-data">{script_json(payload)}</script>'
    for tag in (DOM_SCRIPT_TAG, BRANCH_SCRIPT_TAG):
        html = html.replace(tag + "\n", "").replace(tag, "")
    html = html.replace(SCRIPT_TAG, "")  # inline scripts cannot be deferred: it goes last
    return html.replace("</body>", f"{data}\n<script>{js}</script>\n</body>", 1)


def export_html(bundle: str | os.PathLike[str], dest: str | os.PathLike[str], *,
                jaeger: str | None = None) -> Path:
    """Write the single-file viewer of ``bundle`` to ``dest``; return its path."""
    reader = BundleReader(bundle, jaeger=jaeger)
    html = render_html(build_payload(reader))
    path = Path(dest)
    atomic_write(path, html.encode("utf-8"))
    return path
