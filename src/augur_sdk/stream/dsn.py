"""The Augur DSN: ``<scheme>://<host>[:port]<base>?token=<key>&tenant=<slug>`` (pure)."""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass

from augur_sdk import _internal

ENV_VAR = "AUGUR_DSN"


@dataclass(frozen=True)
class Dsn:
    base_url: str  # scheme://host:port/base, no trailing slash, no query
    token: str
    tenant: str

    def __repr__(self) -> str:  # never print the token
        return f"Dsn(base_url={self.base_url!r}, tenant={self.tenant!r}, token=***)"


def parse_dsn(raw: str) -> Dsn:
    """Parse a DSN or raise ``ValueError`` saying what is wrong (the token is never echoed)."""
    parsed = urllib.parse.urlsplit(raw.strip())
    if parsed.scheme not in ("http", "https"):
        raise ValueError("dsn: scheme must be http or https")
    if not parsed.hostname:
        raise ValueError("dsn: no host")
    try:
        parsed.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError("dsn: invalid port") from None
    query = urllib.parse.parse_qs(parsed.query)
    token = (query.get("token") or [""])[0]
    if not token:
        raise ValueError("dsn: missing token=... query parameter")
    tenant = (query.get("tenant") or [""])[0]
    base = urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, parsed.path.rstrip("/"), "", ""))
    return Dsn(base, token, tenant)


def resolve_dsn(explicit: str | None) -> Dsn | None:
    """``dsn=`` wins (``""`` disables); else ``$AUGUR_DSN``. A malformed DSN is reported once
    on the ``augur_sdk`` logger and disables streaming; it never raises."""
    raw = explicit if explicit is not None else os.environ.get(ENV_VAR, "")
    if not raw.strip():
        return None
    try:
        return parse_dsn(raw)
    except ValueError as exc:
        source = "dsn=" if explicit is not None else ENV_VAR
        _internal.log_once(f"bad-dsn:{exc}", 30,
                           "augur_sdk: streaming disabled, %s is malformed (%s); the local "
                           "bundle is still written", source, exc)
        return None
