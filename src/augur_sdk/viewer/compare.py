"""The side-by-side comparison of two runs in the viewer (``augur diff``'s page).

* ``augur view A --compare B`` serves it with :class:`CompareServer`: the comparison page at
  ``/`` and each run's step debugger, with its JSON API, at ``/runs/a/`` and ``/runs/b/``;
* ``augur view DIR`` serves it for two runs picked in the run list at
  ``/compare/?a=<run key>&b=<run key>`` (:func:`compare_route`), each run's API being the
  run list's ``/runs/<key>/``;
* :func:`export_compare_html` writes it as one self-contained HTML file.

The page gets the comparison (:class:`~augur_sdk.diff.compare.RunDiff`, made small) inlined,
and fetches a step's record and screenshots from its run's API when it is shown. Everything
from a bundle is untrusted: the page sets text only with ``textContent``, the inlined JSON
escapes ``<``, ``>`` and ``&``, and the same headers and Content-Security-Policy as the step
debugger apply.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from augur_sdk.bundle import layout
from augur_sdk.bundle.files import atomic_write
from augur_sdk.diff.compare import DiffOptions, RunDiff, compare_runs
from augur_sdk.diff.screens import ScreenHasher
from augur_sdk.viewer.export import _csp_hash
from augur_sdk.viewer.reader import BundleReader, script_json
from augur_sdk.viewer.runs import RunDirectory
from augur_sdk.viewer.server import ICON_TAG, Asset, _Handler, _LocalServer, load_assets

KINDS = {"same": 0, "changed": 1, "only_a": 2, "only_b": 3}
CACHE_SIZE = 8
PAGE = "compare.html"
STYLE_TAGS = ('<link rel="stylesheet" href="static/app.css">',
              '<link rel="stylesheet" href="static/compare.css">')
SCRIPT_TAGS = ('<script src="static/dom.js" defer></script>',
               '<script src="static/compare.js" defer></script>')
_SIDES = ("a", "b")


def _token(root: Path) -> tuple[Any, ...]:
    """Changes whenever the bundle's steps or session may have changed."""
    out: list[Any] = []
    for name in (layout.TRACE, layout.LIVE, layout.MANIFEST, "steps", "screenshots"):
        try:
            st = (root / name).stat()
            out.append((st.st_ino, st.st_mtime_ns, st.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


class DiffCache:
    """The last few comparisons, each recomputed only when one of its bundles changed; the
    screenshots' hashes are kept across comparisons by one :class:`ScreenHasher`."""

    def __init__(self, options: DiffOptions | None = None) -> None:
        self.options = options or DiffOptions()
        self.hasher = ScreenHasher(perceptual=self.options.perceptual)
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[str, str], tuple[Any, RunDiff]] = OrderedDict()

    def get(self, a: Path, b: Path) -> RunDiff:
        key = (str(a), str(b))
        token = (_token(a), _token(b))
        with self._lock:
            found = self._items.get(key)
            if found is not None and found[0] == token:
                self._items.move_to_end(key)
                return found[1]
        result = compare_runs(a, b, self.options, hasher=self.hasher)
        with self._lock:
            self._items[key] = (token, result)
            self._items.move_to_end(key)
            while len(self._items) > CACHE_SIZE:
                self._items.popitem(last=False)
        return result


_SHARED_CACHE = DiffCache()


def _side_meta(diff: RunDiff, side: str, base: str | None, tags: Any) -> dict[str, Any]:
    run = diff.a if side == "a" else diff.b
    meta = run.to_json()
    meta["label"] = side.upper()
    meta["base"] = base
    meta["tags"] = tags if isinstance(tags, dict) else {}
    return meta


def _tags(root: str) -> Any:
    head = layout.trace_session_head(Path(root))
    return head.get("tags") if isinstance(head, dict) else None


def compare_payload(diff: RunDiff, *, bases: tuple[str | None, str | None] = (None, None),
                    runs_href: str | None = None) -> dict[str, Any]:
    """What the page needs, small: rows as ``[a, b, kind, fields]``, the differences of the
    changed rows, one summary per step of each run."""
    rows = [[row.a, row.b, KINDS[row.kind], [d.field for d in row.differences]]
            for row in diff.rows]
    diffs = {str(k): [d.to_json() for d in row.differences]
             for k, row in enumerate(diff.rows) if row.differences}
    return {
        "a": _side_meta(diff, "a", bases[0], _tags(diff.a.path)),
        "b": _side_meta(diff, "b", bases[1], _tags(diff.b.path)),
        "rows": rows,
        "diffs": diffs,
        "first": diff.first_divergence,
        "counts": diff.counts(),
        "same": diff.same,
        "same_outcome": diff.same_outcome,
        "screens": diff.screens,
        "steps_a": [s.to_json() for s in diff.steps_a],
        "steps_b": [s.to_json() for s in diff.steps_b],
        "method": {"name": diff.alignment.method, "band": diff.alignment.band},
        "runs": runs_href,
    }


def render_page(assets: dict[str, Asset], payload: dict[str, Any]) -> bytes:
    """compare.html with the comparison inlined (served with the server's own headers)."""
    html = assets[PAGE].body.decode("utf-8")
    data = f'<script type="application/json" id="augur-compare">{script_json(payload)}</script>'
    return html.replace("</body>", f"{data}\n</body>", 1).encode("utf-8")


# ── augur view DIR: /compare/?a=KEY&b=KEY ───────────────────────────────────────────────────

def compare_route(handler: _Handler, runs: RunDirectory, path: str, query: str) -> None:
    """The run list's ``/compare/`` page for two of its runs, and its static files."""
    if path == "/compare":
        handler._send(HTTPStatus.FOUND, b"", "text/plain; charset=utf-8",
                      extra={"Location": "/compare/" + (f"?{query}" if query else "")})
        return
    rest = path[len("/compare"):]
    if rest.startswith("/static/"):
        handler._asset(rest[len("/static/"):])
        return
    if rest not in ("/", "/index.html"):
        handler._error(HTTPStatus.NOT_FOUND, "not found")
        return
    params = parse_qs(query)
    keys = [params.get(side, [""])[0] for side in _SIDES]
    refs = [runs.find(key) if key else None for key in keys]
    if refs[0] is None or refs[1] is None:
        handler._error(HTTPStatus.NOT_FOUND, "pick two runs of this folder to compare "
                                             "(/compare/?a=<run>&b=<run>)")
        return
    try:
        diff = _SHARED_CACHE.get(refs[0].path, refs[1].path)
    except Exception as exc:  # a bundle that cannot be compared: say why, keep serving
        handler._error(HTTPStatus.UNPROCESSABLE_ENTITY, f"cannot compare these runs: {exc}")
        return
    payload = compare_payload(diff, bases=(refs[0].href, refs[1].href),
                              runs_href="/#run=" + quote(refs[0].key, safe="/"))
    handler._send(200, render_page(handler.server.assets, payload), "text/html; charset=utf-8")


# ── augur view A --compare B ────────────────────────────────────────────────────────────────

class CompareServer(_LocalServer):
    """Serves the comparison of bundles ``a`` and ``b`` on 127.0.0.1 (``port=0``: any)."""

    def __init__(self, a: str | os.PathLike[str], b: str | os.PathLike[str], *,
                 host: str = "127.0.0.1", port: int = 0, jaeger: str | None = None,
                 quiet: bool = True, options: DiffOptions | None = None) -> None:
        self.paths = (Path(a).resolve(), Path(b).resolve())
        self.readers = {side: BundleReader(path, jaeger=jaeger)
                        for side, path in zip(_SIDES, self.paths, strict=True)}
        self.cache = DiffCache(options)
        self.diff = self.cache.get(*self.paths)  # BundleError here: not a bundle
        self._bind(host, port, quiet, handler=_CompareHandler)

    def payload(self) -> dict[str, Any]:
        diff = self.cache.get(*self.paths)
        return compare_payload(diff, bases=("/runs/a/", "/runs/b/"))


class _CompareHandler(_Handler):
    server: CompareServer

    def do_GET(self) -> None:
        if not self.server.allowed_host(self.headers.get("Host")):
            self._error(HTTPStatus.FORBIDDEN, "unexpected Host header")
            return
        url = urlsplit(self.path)
        path = url.path
        try:
            if path in ("/", "/index.html"):
                try:
                    body = render_page(self.server.assets, self.server.payload())
                except Exception as exc:  # the bundles changed into something unreadable
                    self._error(HTTPStatus.UNPROCESSABLE_ENTITY, f"cannot compare: {exc}")
                    return
                self._send(200, body, "text/html; charset=utf-8")
            elif path.startswith("/static/"):
                self._asset(path[len("/static/"):])
            elif path == "/favicon.ico":
                self._asset("favicon.svg")
            elif path in ("/runs/a", "/runs/b"):
                self._send(HTTPStatus.FOUND, b"", "text/plain; charset=utf-8",
                           extra={"Location": path + "/"})
            elif path.startswith(("/runs/a/", "/runs/b/")):
                reader = self.server.readers[path[6]]
                self._bundle_route(reader, path[7:], url.query)
            else:
                self._error(HTTPStatus.NOT_FOUND, "not found")
        except (BrokenPipeError, ConnectionResetError):
            pass


# ── one file ────────────────────────────────────────────────────────────────────────────────

def render_export(payload: dict[str, Any], details: dict[str, dict[str, Any]]) -> str:
    """The comparison page as one HTML file: CSS and JS inlined and allowed by hash, the
    data (screenshots as data: URIs) in a JSON block."""
    assets = load_assets()
    html = assets[PAGE].body.decode("utf-8")
    css = "\n".join(assets[name].body.decode("utf-8") for name in ("app.css", "compare.css"))
    js = assets["dom.js"].body.decode("utf-8") + "\n" + assets["compare.js"].body.decode("utf-8")
    if "</style" in css.lower() or "</script" in js.lower():
        raise RuntimeError("viewer assets cannot be inlined")
    for tag in (*STYLE_TAGS, *SCRIPT_TAGS, ICON_TAG):
        if tag not in html:
            raise RuntimeError(f"{PAGE} lost {tag!r}")
    csp = (f"default-src 'none'; script-src {_csp_hash(js)}; style-src {_csp_hash(css)}; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    html = html.replace("<head>", '<head>\n<meta http-equiv="Content-Security-Policy" '
                                  f'content="{csp}">', 1)
    html = html.replace(STYLE_TAGS[0], f"<style>{css}</style>").replace(STYLE_TAGS[1], "")
    for tag in (*SCRIPT_TAGS, ICON_TAG):
        html = html.replace(tag + "\n", "").replace(tag, "")
    data = {"payload": payload, "details": details, "exported": True}
    block = f'<script type="application/json" id="augur-data">{script_json(data)}</script>'
    return html.replace("</body>", f"{block}\n<script>{js}</script>\n</body>", 1)


def export_compare_html(a: str | os.PathLike[str], b: str | os.PathLike[str],
                        dest: str | os.PathLike[str], *, jaeger: str | None = None,
                        options: DiffOptions | None = None) -> Path:
    """Write the comparison of bundles ``a`` and ``b`` as one self-contained HTML file."""
    diff = compare_runs(a, b, options)
    details: dict[str, dict[str, Any]] = {}
    for side, path, steps in (("a", a, diff.steps_a), ("b", b, diff.steps_b)):
        reader = BundleReader(path, jaeger=jaeger)
        reader.scan(force=True)
        found = {}
        for step in steps:
            detail = reader.step_detail(step.index, inline_images=True)
            if detail is not None:
                detail.pop("events", None)  # the comparison shows no decision events
                found[str(step.index)] = detail
        details[side] = found
    html = render_export(compare_payload(diff), details)
    out = Path(dest)
    atomic_write(out, html.encode("utf-8"))
    return out


__all__ = ["CompareServer", "DiffCache", "compare_payload", "compare_route",
           "export_compare_html"]
