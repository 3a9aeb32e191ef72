"""The viewer's intervention buttons (``augur view ... --control-dsn DSN``).

The control token stays in the viewer's process: the page never sees it, and no URL carries
it. A button press is a same-origin ``POST api/intervene`` to the viewer, which checks it and
forwards it to ``augur serve`` with the token. The checks (CSRF): the ``Host`` names the
viewer (as for every request), ``Origin`` (which browsers send on every POST) is the
viewer's own origin, ``Sec-Fetch-Site`` (when sent) is ``same-origin``, the body is JSON
(a form cannot send that without a CORS preflight the viewer never answers), and the
``X-Augur-CSRF`` header holds a token made for the page that was served (an HMAC of a
per-page nonce under a secret drawn at start), so another site can neither read nor forge it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

from augur_sdk.intervention import issue_command
from augur_sdk.stream.dsn import Dsn, parse_dsn

CSRF_HEADER = "X-Augur-CSRF"
MAX_BODY_BYTES = 16 * 1024
COMMANDS = ("pause", "resume", "kill", "inject_hint")


class Refused(Exception):
    """A button request the viewer does not forward (status, message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Controller:
    """The control DSN of one ``augur view`` and its CSRF secret."""

    def __init__(self, dsn: str | Dsn) -> None:
        self.dsn = parse_dsn(dsn) if isinstance(dsn, str) else dsn
        self._secret = secrets.token_bytes(32)

    def page_token(self) -> str:
        """A fresh token for one served page."""
        nonce = secrets.token_hex(16)
        return f"{nonce}.{self._mac(nonce)}"

    def _mac(self, nonce: str) -> str:
        return hmac.new(self._secret, nonce.encode("ascii"), hashlib.sha256).hexdigest()

    def valid_token(self, token: str | None) -> bool:
        nonce, sep, mac = (token or "").partition(".")
        if not sep or len(nonce) != 32 or not all(c in "0123456789abcdef" for c in nonce):
            return False
        return hmac.compare_digest(mac, self._mac(nonce))

    def page_data(self) -> str:
        """The JSON the page gets (no token of the server in it)."""
        return json.dumps({"csrf": self.page_token(), "commands": list(COMMANDS),
                           "server": self.dsn.base_url}, sort_keys=True)

    def check(self, headers: Any, own_origins: set[str]) -> None:
        """Refuse a request that is not the page's own (403)."""
        origin = headers.get("Origin")
        if origin is None or origin not in own_origins:
            raise Refused(403, "cross-origin request refused")
        site = headers.get("Sec-Fetch-Site")
        if site is not None and site != "same-origin":
            raise Refused(403, "cross-site request refused")
        media = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if media != "application/json":
            raise Refused(415, "send application/json")
        if not self.valid_token(headers.get(CSRF_HEADER)):
            raise Refused(403, "missing or stale page token: reload the page")

    def forward(self, run_id: str, body: bytes, tenant: str | None = None) -> tuple[int, Any]:
        """Issue the command of ``body`` for ``run_id`` on the server; (status, answer)."""
        try:
            request = json.loads(body)
        except ValueError:
            raise Refused(400, "the body must be JSON") from None
        if not isinstance(request, dict) or request.get("type") not in COMMANDS:
            raise Refused(400, f"type: one of {', '.join(COMMANDS)}")
        command: dict[str, Any] = {"type": request["type"]}
        if request["type"] == "inject_hint":
            command["payload"] = {"text": str(request.get("text") or "")}
        status, answer = issue_command(self.dsn, run_id, command, tenant=tenant)
        if status == 0:
            raise Refused(502, str(answer["error"]))
        return status, answer
