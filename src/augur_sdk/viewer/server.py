"""The viewer's HTTP server: static assets shipped in the package plus a small JSON API.

Standard library only (``http.server``). Bound to 127.0.0.1 by default. Every response carries
a strict Content-Security-Policy, ``nosniff`` and ``no-referrer``; requests whose ``Host``
header is not the address the server was started on are refused (DNS rebinding).

API (all GET, JSON unless noted):

``/api/index?since=G``       step summaries changed after generation G, run meta, live state
``/api/step/N``              one step: record, decision events, span ids, screenshot info
``/api/shot/N/pre|post``     the screenshot itself (image/png, jpeg or webp)
``/api/run-events``          run-level decision events (``events/run.jsonl``)

:class:`RunListServer` (``augur view DIR``, DIR a folder of bundles) serves the run list at
``/`` with ``/api/runs`` (every run, newest first), and each run's step viewer, with the API
above, under ``/runs/<run>/`` or ``/runs/<tenant>/<run>/``: only runs found inside DIR.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import shutil
import socket
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from augur_sdk import limits
from augur_sdk.viewer.intervene import MAX_BODY_BYTES, Controller, Refused
from augur_sdk.viewer.reader import BundleReader, dumps, script_json
from augur_sdk.viewer.runs import RunDirectory

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
_STEP_RE = re.compile(rf"^/api/step/(\d{{1,{limits.STEP_INDEX_DIGITS}}})$")
_SHOT_RE = re.compile(r"^/api/shot/(\d{1,9})/(pre|post)$")
_MODELIO_IMAGE_RE = re.compile(r"^/api/modelio-image/([0-9a-f]{64}\.(?:png|jpg|gif|webp))$")
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")
STYLE_TAG = '<link rel="stylesheet" href="static/app.css">'
SCRIPT_TAG = '<script src="static/app.js" defer></script>'
DOM_SCRIPT_TAG = '<script src="static/dom.js" defer></script>'  # before app.js / runs.js
BRANCH_SCRIPT_TAG = '<script src="static/branch.js" defer></script>'  # before app.js
ICON_TAG = '<link rel="icon" href="static/favicon.svg">'


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def load_assets() -> dict[str, Asset]:
    """Every file of ``augur_sdk/viewer/static`` (read once; works from a wheel or a zip)."""
    assets: dict[str, Asset] = {}
    for item in resources.files("augur_sdk.viewer").joinpath("static").iterdir():
        suffix = Path(item.name).suffix
        if not item.is_file() or suffix not in STATIC_TYPES:
            continue
        body = item.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        assets[item.name] = Asset(body, STATIC_TYPES[suffix], etag)
    return assets


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _LocalServer(ThreadingHTTPServer):
    """What both servers share: the bind address, the Host check, background serving."""

    daemon_threads = True
    allow_reuse_address = True
    control: Controller | None = None  # --control-dsn: the run page's intervention buttons

    def _bind(self, host: str, port: int, quiet: bool,
              handler: type[BaseHTTPRequestHandler] | None = None) -> None:
        self.assets = load_assets()
        self.quiet = quiet
        self.bind_host = host
        if ":" in host.strip("[]"):
            self.address_family = socket.AF_INET6
        super().__init__((host.strip("[]"), port), handler or _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        host = self.bind_host.strip("[]")
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    def allowed_host(self, header: str | None) -> bool:
        """Accept only Host headers naming this server on a loopback name (or any, when the
        user chose to bind a wildcard address)."""
        if self.bind_host.strip("[]") in ("0.0.0.0", "::"):
            return True
        if not header:
            return False
        host, sep, port = header.rpartition(":")
        if not sep or "]" in port:
            host, port = header, ""
        if port and port != str(self.port):
            return False
        return is_loopback(host) or host.strip("[]") == self.bind_host.strip("[]")

    def start_background(self) -> threading.Thread:
        """Serve from a daemon thread (tests, benchmarks); stop with :meth:`stop`."""
        thread = threading.Thread(target=self.serve_forever, name="augur-view", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class ViewerServer(_LocalServer):
    """Serves one bundle. ``port=0`` picks a free port; :attr:`url` says which."""

    def __init__(self, bundle: str | Path, *, host: str = "127.0.0.1", port: int = 0,
                 jaeger: str | None = None, quiet: bool = True) -> None:
        self.reader = BundleReader(bundle, jaeger=jaeger)
        self._bind(host, port, quiet)
        self.reader.scan(force=True)  # warm the index before the first request
        self.reader.index_json(0)


class RunListServer(_LocalServer):
    """Serves the run list of a folder of bundles (``augur view DIR``) and each of its runs."""

    def __init__(self, root: str | Path, *, host: str = "127.0.0.1", port: int = 0,
                 jaeger: str | None = None, quiet: bool = True) -> None:
        self.runs = RunDirectory(root, jaeger=jaeger)
        self._bind(host, port, quiet)
        self.runs.listing()  # warm the list before the first request


class _Handler(BaseHTTPRequestHandler):
    server: _LocalServer
    protocol_version = "HTTP/1.1"
    server_version = "augur-view"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)

    def _headers(self, status: int, content_type: str, length: int,
                 cache: str = "no-store", extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        self.send_header("Cache-Control", cache)
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()

    def _send(self, status: int, body: bytes, content_type: str, **kw: Any) -> None:
        self._headers(status, content_type, len(body), **kw)
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj: Any, status: int = 200) -> None:
        self._send(status, dumps(obj), "application/json; charset=utf-8")

    def _error(self, status: HTTPStatus, message: str) -> None:
        self._send(status, dumps({"error": message}), "application/json; charset=utf-8")

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        if not self.server.allowed_host(self.headers.get("Host")):
            self._error(HTTPStatus.FORBIDDEN, "unexpected Host header")
            return
        url = urlsplit(self.path)
        try:
            if isinstance(self.server, RunListServer):
                self._run_list_route(self.server.runs, url.path, url.query)
            elif isinstance(self.server, ViewerServer):
                self._bundle_route(self.server.reader, url.path, url.query)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_POST(self) -> None:
        """Only ``api/intervene`` of a run page, with --control-dsn (see viewer/intervene.py)."""
        control = self.server.control
        host = self.headers.get("Host")
        body_read = False
        try:
            if not self.server.allowed_host(host):
                raise Refused(403, "unexpected Host header")
            if control is None:
                raise Refused(404, "not found")
            length = self.headers.get("Content-Length", "")
            if not length.isdigit() or int(length) > MAX_BODY_BYTES:
                raise Refused(413, f"send a JSON body of at most {MAX_BODY_BYTES} bytes")
            # Read (bounded) before any refusal: closing a socket with unread bytes in it
            # resets the connection, and the client would never see the 403.
            body = self.rfile.read(int(length))
            body_read = True
            control.check(self.headers, {f"http://{host}"})
            run_id, tenant = self._command_target(urlsplit(self.path).path)
            status, answer = control.forward(run_id, body, tenant)
        except Refused as exc:
            # A body we did not read may follow: say the connection closes, so that a client
            # does not send its next request on it (and lose it).
            extra = None if body_read else {"Connection": "close"}
            self._send(exc.status, dumps({"error": exc.message}),
                       "application/json; charset=utf-8", extra=extra)
            return
        except (BrokenPipeError, ConnectionResetError):
            return
        self._json(answer, status)

    def _command_target(self, path: str) -> tuple[str, str | None]:
        """(run id, tenant or None) of an ``.../api/intervene`` path."""
        if isinstance(self.server, ViewerServer) and path == "/api/intervene":
            run_id = (self.server.reader.meta().get("manifest") or {}).get("run_id") or \
                ((self.server.reader.meta().get("session") or {}).get("run_id"))
            if isinstance(run_id, str) and run_id:
                return run_id, None
        elif isinstance(self.server, RunListServer):
            found = self.server.runs.route(path)
            if found is not None and found[1] == "/api/intervene":
                run_id = limits.run_id_from_dir(found[0].name)
                if run_id is not None:
                    return run_id, found[0].tenant
        raise Refused(404, "not found")

    def _bundle_route(self, reader: BundleReader, path: str, query: str,
                      runs_href: str | None = None) -> None:
        """The step viewer of one bundle; ``path`` is relative to where it is served."""
        if path in ("/", "/index.html"):
            self._page(reader, runs_href)
        elif path.startswith("/static/"):
            self._asset(path[len("/static/"):])
        elif path == "/favicon.ico":
            self._asset("favicon.svg")
        elif path == "/api/index":
            since = parse_qs(query).get("since", ["0"])[0]
            body = reader.index_json(int(since) if since.isdigit() else 0)
            self._send(200, body.encode("utf-8"), "application/json; charset=utf-8")
        elif path == "/api/run-events":
            self._json(reader.run_events())
        elif m := _STEP_RE.match(path):
            detail = reader.step_detail(int(m.group(1)))
            if detail is None:
                self._error(HTTPStatus.NOT_FOUND, "no such step")
            else:
                self._json(detail)
        elif m := _SHOT_RE.match(path):
            self._shot(reader, int(m.group(1)), m.group(2), bool(query))
        elif m := _MODELIO_IMAGE_RE.match(path):
            self._file(reader.modelio_image(m.group(1)), versioned=True)
        else:
            self._error(HTTPStatus.NOT_FOUND, "not found")

    def _run_list_route(self, runs: RunDirectory, path: str, query: str) -> None:
        """The run list at ``/``; each run's step viewer under ``/runs/<key>/``."""
        if path in ("/", "/index.html"):
            self._runs_page(runs)
        elif path.startswith("/static/"):
            self._asset(path[len("/static/"):])
        elif path == "/favicon.ico":
            self._asset("favicon.svg")
        elif path == "/api/runs":
            self._json(runs.listing())
        elif path.startswith("/runs/"):
            found = runs.route(path)
            if found is None:
                self._error(HTTPStatus.NOT_FOUND, "no such run in this folder")
                return
            ref, rest = found
            if not rest:  # /runs/<key> without its slash: relative URLs need it
                self._send(HTTPStatus.FOUND, b"", "text/plain; charset=utf-8",
                           extra={"Location": ref.href})
                return
            back = "/#run=" + quote(ref.key, safe="/")
            self._bundle_route(runs.reader(ref), rest, query, runs_href=back)
        elif path == "/compare" or path.startswith("/compare/"):  # two runs side by side
            from augur_sdk.viewer.compare import compare_route

            compare_route(self, runs, path, query)
        else:
            self._error(HTTPStatus.NOT_FOUND, "not found")

    def _runs_page(self, runs: RunDirectory) -> None:
        """runs.html with the run list inlined."""
        html = self.server.assets["runs.html"].body.decode("utf-8")
        html = html.replace("</body>", '<script type="application/json" id="augur-runs">'
                            f"{script_json(runs.listing())}</script>\n</body>", 1)
        self._send(200, html.encode("utf-8"), "text/html; charset=utf-8")

    def _page(self, reader: BundleReader, runs_href: str | None = None) -> None:
        """index.html with the step index and the default step's details inlined: the first
        paint needs no further round trip."""
        html = self.server.assets["index.html"].body.decode("utf-8")
        index = reader.index_json(0)
        first = reader.default_step()
        detail = reader.step_detail(first) if first is not None else None
        initial = '{"index":' + index + ',"detail":' + dumps(detail).decode("utf-8")
        if runs_href is not None:
            initial += ',"runs":' + dumps(runs_href).decode("utf-8")
        initial += "}"
        # app.js is deferred from <head> (fetched while this block is parsed), so the data
        # can sit at the end of <body>.
        html = html.replace("</body>", '<script type="application/json" id="augur-initial">'
                            f"{script_json(initial)}</script>\n</body>", 1)
        if self.server.control is not None:  # a page token, never the server's token
            html = html.replace("</body>", '<script type="application/json" id="augur-control">'
                                f"{script_json(self.server.control.page_data())}</script>\n"
                                '<script src="static/intervene.js" defer></script>\n</body>', 1)
        self._send(200, html.encode("utf-8"), "text/html; charset=utf-8")

    def _asset(self, name: str) -> None:
        asset = self.server.assets.get(name)
        if asset is None:
            self._error(HTTPStatus.NOT_FOUND, "not found")
            return
        if self.headers.get("If-None-Match") == asset.etag:
            self._headers(HTTPStatus.NOT_MODIFIED, asset.content_type, 0, cache="no-cache",
                          extra={"ETag": asset.etag})
            return
        self._send(200, asset.body, asset.content_type, cache="no-cache",
                   extra={"ETag": asset.etag})

    def _shot(self, reader: BundleReader, index: int, kind: str, versioned: bool) -> None:
        self._file(reader.screenshot(index, kind), versioned=versioned)

    def _file(self, found: tuple[Path, str] | None, *, versioned: bool) -> None:
        """An image of the bundle (a screenshot, a model call's image), streamed."""
        if found is None:
            self._error(HTTPStatus.NOT_FOUND, "image not in the bundle")
            return
        path, media = found
        try:
            fh = open(path, "rb")  # noqa: SIM115 (closed below; streamed)
        except OSError:
            self._error(HTTPStatus.NOT_FOUND, "image not readable")
            return
        with fh:
            size = Path(path).stat().st_size
            # Versioned URLs (?v=mtime-size) never change content: let the browser keep them.
            cache = "private, max-age=31536000, immutable" if versioned else "no-cache"
            self._headers(200, media, size, cache=cache)
            if self.command != "HEAD":
                shutil.copyfileobj(fh, self.wfile)
