"""The demo web shop the agent works on, served on 127.0.0.1 by the standard library.

Pages: ``/login`` (a form), ``/search?q=`` (a search with results), ``/product/<slug>``,
``/checkout`` and ``/order/<n>``. The checkout has the deliberate failure: on the first visit
a "Shipping terms updated" dialog and its dimmed backdrop cover the page, so a click on
"Place order" lands on the backdrop and nothing happens until the dialog is dismissed.
``DemoShop(notice=False)`` is the same shop without that dialog.

    with DemoShop() as shop:      # a free port, a daemon thread; stopped on exit
        print(shop.url)           # http://127.0.0.1:<port>/
"""

from __future__ import annotations

import html
import itertools
import secrets
import threading
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

USERNAME = "alice"
PASSWORD = "correct-horse-42"  # a demo credential; the SDK's redaction keeps it off disk

PRODUCTS = {
    "blue-mug": ("Blue mug", "12.00"),
    "blue-mug-lid": ("Blue mug lid", "4.50"),
    "red-mug": ("Red mug", "12.00"),
    "blue-teapot": ("Blue teapot", "29.00"),
    "mug-rack": ("Mug rack", "18.00"),
}

STYLE = """
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.4 system-ui, sans-serif; background: #f4f5f7; color: #1d2330; }
header { background: #1d2330; color: #fff; padding: 14px 32px; display: flex;
         justify-content: space-between; }
header b { letter-spacing: .04em; }
main { max-width: 640px; margin: 28px auto; background: #fff; padding: 28px 32px;
       border-radius: 10px; box-shadow: 0 1px 4px rgba(0,0,0,.12); }
h1 { margin: 0 0 18px; font-size: 24px; }
label { display: block; margin: 12px 0 4px; font-weight: 600; }
input { width: 100%; padding: 9px 12px; font-size: 16px; border: 2px solid #c5cad3;
        border-radius: 6px; }
input:focus { outline: none; border-color: #2f6bff; background: #eef3ff; }
button { margin-top: 18px; padding: 10px 22px; font-size: 16px; border: 0; border-radius: 6px;
         background: #2f6bff; color: #fff; cursor: pointer; }
.row { display: flex; gap: 10px; align-items: flex-end; }
.row button { margin-top: 0; }
.error { color: #b3261e; font-weight: 600; }
ul.results { list-style: none; padding: 0; margin: 16px 0 0; }
ul.results li { padding: 10px 0; border-top: 1px solid #e3e6eb; display: flex;
                justify-content: space-between; }
ul.results a { color: #2f6bff; font-weight: 600; text-decoration: none; }
table { width: 100%; border-collapse: collapse; }
td { padding: 8px 0; border-top: 1px solid #e3e6eb; }
td.price { text-align: right; }
.place { display: block; margin: 36px auto 0; padding: 12px 40px; background: #1e8e3e; }
#backdrop { position: fixed; inset: 0; background: rgba(20, 24, 34, .55); z-index: 10; }
#notice { position: fixed; bottom: 60px; left: 50%; transform: translateX(-50%); width: 420px;
          background: #fff; border-radius: 10px; padding: 20px 24px; z-index: 11;
          box-shadow: 0 6px 24px rgba(0,0,0,.3); }
#notice h2 { margin: 0 0 8px; font-size: 18px; }
#notice button { margin-top: 12px; }
.done { color: #1e8e3e; }
"""

DISMISS_SCRIPT = """
document.getElementById('notice-ok').addEventListener('click', function () {
  document.getElementById('backdrop').remove();
  document.getElementById('notice').remove();
  fetch('/notice/dismiss', {method: 'POST'});
});
"""


def _page(title: str, body: str, user: str | None = None, cart: int = 0) -> bytes:
    who = f"{html.escape(user)} · cart {cart}" if user else "not signed in"
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)} · Demo Shop</title><style>{STYLE}</style></head>"
        f"<body><header><b>DEMO SHOP</b><span id=who>{who}</span></header>"
        f"<main>{body}</main></body></html>"
    ).encode()


class _State:
    """Per-server state: signed-in sessions, carts, whether the notice was dismissed."""

    def __init__(self, notice: bool = True) -> None:
        self.notice = notice  # show the "Shipping terms updated" dialog at the first checkout
        self.lock = threading.Lock()
        self.sessions: dict[str, dict[str, Any]] = {}
        self.order_numbers = itertools.count(1001)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # ── helpers ──
    def _session(self) -> dict[str, Any] | None:
        cookie = SimpleCookie(self.headers.get("Cookie", ""))
        sid = cookie["sid"].value if "sid" in cookie else None
        return self.server.state.sessions.get(sid) if sid else None

    def _send(self, body: bytes, status: HTTPStatus = HTTPStatus.OK,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str, headers: dict[str, str] | None = None) -> None:
        self._send(b"", HTTPStatus.SEE_OTHER, {"Location": location, **(headers or {})})

    def _form(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace")
        return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}

    # ── routes ──
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        path, query = url.path, parse_qs(url.query)
        if path == "/":
            return self._redirect("/login")
        if path == "/login":
            return self._send(self._login_page())
        session = self._session()
        if session is None:
            return self._redirect("/login")
        if path == "/search":
            return self._send(self._search_page(session, query.get("q", [""])[0]))
        if path.startswith("/product/") and path[9:] in PRODUCTS:
            return self._send(self._product_page(session, path[9:]))
        if path == "/checkout":
            return self._send(self._checkout_page(session))
        if path.startswith("/order/"):
            number = html.escape(path[7:])
            body = (f"<h1 class=done>Order #{number} confirmed</h1>"
                    "<p>Thank you! A confirmation was sent to your inbox.</p>")
            return self._send(_page("Order confirmed", body, session["user"], 0))
        self._send(_page("Not found", "<h1>Not found</h1>"), HTTPStatus.NOT_FOUND)

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        form = self._form()
        if path == "/login":
            if form.get("username") == USERNAME and form.get("password") == PASSWORD:
                sid = secrets.token_hex(8)
                with self.server.state.lock:
                    self.server.state.sessions[sid] = {
                        "user": USERNAME, "cart": [],
                        "notice_dismissed": not self.server.state.notice}
                return self._redirect("/search", {
                    "Set-Cookie": f"sid={sid}; Path=/; HttpOnly; SameSite=Lax"})
            return self._send(self._login_page("Wrong username or password."),
                              HTTPStatus.UNAUTHORIZED)
        session = self._session()
        if session is None:
            return self._redirect("/login")
        if path == "/cart/add" and form.get("slug") in PRODUCTS:
            session["cart"].append(form["slug"])
            return self._redirect("/checkout")
        if path == "/notice/dismiss":
            session["notice_dismissed"] = True
            return self._send(b"", HTTPStatus.NO_CONTENT)
        if path == "/order" and session["cart"]:
            number = next(self.server.state.order_numbers)
            session["cart"] = []
            return self._redirect(f"/order/{number}")
        self._send(_page("Bad request", "<h1>Bad request</h1>"), HTTPStatus.BAD_REQUEST)

    # ── pages ──
    def _login_page(self, error: str = "") -> bytes:
        err = f"<p class=error>{html.escape(error)}</p>" if error else ""
        body = (
            "<h1>Sign in</h1>" + err +
            "<form method=post action=/login>"
            "<label for=username>Username</label>"
            "<input id=username name=username autocomplete=off>"
            "<label for=password>Password</label>"
            "<input id=password name=password type=password>"
            "<button type=submit>Sign in</button></form>"
        )
        return _page("Sign in", body)

    def _search_page(self, session: dict[str, Any], q: str) -> bytes:
        words = q.lower().split()
        hits = [(slug, name, price) for slug, (name, price) in PRODUCTS.items()
                if words and all(w in name.lower() for w in words)]
        results = ""
        if q:
            items = "".join(f"<li><a href=/product/{slug}>{html.escape(name)}</a>"
                            f"<span>${price}</span></li>" for slug, name, price in hits)
            results = (f"<p id=count>{len(hits)} results for “{html.escape(q)}”</p>"
                       f"<ul class=results id=results>{items}</ul>")
        body = (
            "<h1>Search</h1><form method=get action=/search class=row>"
            "<div style='flex:1'><label for=q>Search products</label>"
            f"<input id=q name=q value='{html.escape(q, quote=True)}' autocomplete=off></div>"
            "<button type=submit>Search</button></form>" + results
        )
        return _page("Search", body, session["user"], len(session["cart"]))

    def _product_page(self, session: dict[str, Any], slug: str) -> bytes:
        name, price = PRODUCTS[slug]
        body = (
            f"<h1>{html.escape(name)}</h1><p>${price} · ships in 2 days</p>"
            "<form method=post action=/cart/add>"
            f"<input type=hidden name=slug value={slug}>"
            "<button type=submit>Add to cart</button></form>"
        )
        return _page(name, body, session["user"], len(session["cart"]))

    def _checkout_page(self, session: dict[str, Any]) -> bytes:
        rows = "".join(
            f"<tr><td>{html.escape(PRODUCTS[s][0])}</td><td class=price>${PRODUCTS[s][1]}</td>"
            "</tr>" for s in session["cart"])
        body = (
            f"<h1>Checkout</h1><table>{rows}</table>"
            "<form method=post action=/order>"
            "<button type=submit class=place>Place order</button></form>"
        )
        if not session["notice_dismissed"]:
            body += (
                "<div id=backdrop></div>"
                "<div id=notice role=dialog aria-labelledby=notice-title>"
                "<h2 id=notice-title>Shipping terms updated</h2>"
                "<p>Orders now ship from our new warehouse.</p>"
                "<button id=notice-ok type=button>Got it</button></div>"
                f"<script>{DISMISS_SCRIPT}</script>"
            )
        return _page("Checkout", body, session["user"], len(session["cart"]))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State


class DemoShop:
    """The demo shop on a free port of 127.0.0.1, served from a daemon thread;
    ``notice=False``: no "Shipping terms updated" dialog at the checkout."""

    def __init__(self, notice: bool = True) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = _State(notice)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="demo-shop", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/"

    def __enter__(self) -> DemoShop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
