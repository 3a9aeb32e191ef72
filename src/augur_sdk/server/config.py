"""``augur serve`` settings and the per-tenant token table (no I/O beyond reading the
token file).

Tokens come from a JSON file (``{"tenants": {"acme": ["token1", ...]}}``) and/or the
``AUGUR_SERVER_TOKENS`` variable (``"acme:tok1,other:tok2"``). A token belongs to exactly one
tenant; the token, never the request, decides which tenant a write goes to. With no token
configured at all the server runs *open*: every request is accepted and lands in the tenant
named by the request (``?tenant=`` or ``X-Augur-Tenant``), else ``default``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from augur_sdk.server.paths import BadName, check_tenant

TOKENS_ENV = "AUGUR_SERVER_TOKENS"
DEFAULT_TENANT = "default"
DEFAULT_PORT = 8765
DEFAULT_MAX_BODY_BYTES = 32 * 2**20
DEFAULT_BODY_MEMORY_BYTES = 256 * 2**20
DEFAULT_MAX_CONNECTIONS = 1000
DEFAULT_FINISH_IDLE_AFTER_S = 1800.0


class ConfigError(ValueError):
    """The server configuration is unusable (the message says why; no token is echoed)."""


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class TokenTable:
    """Maps tokens to tenants. Only sha256 digests are kept; lookups compare digests in
    constant time."""

    def __init__(self, tenants: Mapping[str, list[str]] | None = None) -> None:
        self._entries: list[tuple[bytes, str]] = []
        for tenant, tokens in (tenants or {}).items():
            for token in tokens:
                self.add(tenant, token)

    def add(self, tenant: str, token: str) -> None:
        try:
            check_tenant(tenant)
        except BadName as exc:
            raise ConfigError(f"tenant {tenant[:64]!r}: {exc}") from None
        if not isinstance(token, str) or not token.strip():
            raise ConfigError(f"tenant {tenant!r}: tokens must be non-empty strings")
        digest = _digest(token)
        for known, owner in self._entries:
            if hmac.compare_digest(known, digest) and owner != tenant:
                raise ConfigError(f"a token is listed for two tenants ({owner!r} and "
                                  f"{tenant!r}); a token must decide one tenant")
        self._entries.append((digest, tenant))

    def tenant_for(self, token: str) -> str | None:
        digest = _digest(token)
        found: str | None = None
        for known, tenant in self._entries:  # no early exit: the time does not depend on it
            if hmac.compare_digest(known, digest):
                found = tenant
        return found

    @property
    def open(self) -> bool:
        """True when no token is configured: the server accepts every request."""
        return not self._entries

    def tenants(self) -> list[str]:
        return sorted({tenant for _, tenant in self._entries})

    def __len__(self) -> int:
        return len(self._entries)


def parse_tokens_env(raw: str) -> dict[str, list[str]]:
    """``"acme:tok1,acme:tok2,other:tok3"`` -> ``{"acme": ["tok1", "tok2"], ...}``."""
    tenants: dict[str, list[str]] = {}
    for n, item in enumerate(raw.split(","), start=1):
        item = item.strip()
        if not item:
            continue
        tenant, sep, token = item.partition(":")
        if not sep or not tenant.strip() or not token.strip():
            raise ConfigError(f"{TOKENS_ENV}: entry {n} is not 'tenant:token'")
        tenants.setdefault(tenant.strip(), []).append(token.strip())
    return tenants


def load_tokens_file(path: Path) -> dict[str, list[str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"tokens file {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"tokens file {path}: not JSON ({exc})") from None
    tenants = data.get("tenants") if isinstance(data, dict) else None
    if not isinstance(tenants, dict):
        raise ConfigError(f'tokens file {path}: expected {{"tenants": {{"<tenant>": '
                          f'["<token>", ...]}}}}')
    out: dict[str, list[str]] = {}
    for tenant, tokens in tenants.items():
        if isinstance(tokens, str):
            tokens = [tokens]
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            raise ConfigError(f"tokens file {path}: tenant {tenant!r} must map to a list of "
                              f"token strings")
        out[tenant] = list(tokens)
    return out


def load_tokens(path: Path | None = None, env: Mapping[str, str] | None = None) -> TokenTable:
    """The token table from ``path`` (if given) plus ``$AUGUR_SERVER_TOKENS``."""
    env = os.environ if env is None else env
    table = TokenTable()
    sources: list[dict[str, list[str]]] = []
    if path is not None:
        sources.append(load_tokens_file(path))
    if env.get(TOKENS_ENV, "").strip():
        sources.append(parse_tokens_env(env[TOKENS_ENV]))
    for source in sources:
        for tenant, tokens in source.items():
            for token in tokens:
                table.add(tenant, token)
    return table


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class ServerConfig:
    """Settings of one ``augur serve``; see ``docs/server.md``."""

    data_dir: Path
    tokens: TokenTable = field(default_factory=TokenTable)
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES  # any request body, after decompression
    max_inflight: int = 64  # concurrent writing requests before 429
    rate_limit: float | None = None  # requests per second per tenant (None: unlimited)
    rate_burst: int = 0  # bucket size; 0 means max(1, 2 * rate_limit)
    retry_after_s: int = 1  # Retry-After on 429 when the server is busy
    commands_hold_s: float = 10.0  # how long GET /runs/{run}/commands is held open
    reopen_window_s: float = 300.0  # late data within this after finish is merged
    stale_after_s: float = 120.0  # a running run without contact this long is "stale"
    max_log_bytes: int = 2**20  # per logs/<name>.log file
    max_cached_runs: int = 1024  # runs whose writer state is kept in memory
    fsync: bool = False
    # Memory for request bodies being received and decoded, all requests together: a body
    # is admitted (before it is read) only when its share fits; see server/admission.py.
    # 0: the default, 256 MiB or twice max_body_bytes if that is more.
    max_body_memory_bytes: int = 0
    admission_wait_s: float = 10.0  # how long a body may wait for memory before 429
    header_timeout_s: float = 10.0  # a request's head must arrive within this (else closed)
    body_timeout_s: float = 30.0  # a body making no progress this long ends in 408
    min_body_rate: int = 64 * 1024  # bytes/s a body must average after body_timeout_s
    max_connections: int = DEFAULT_MAX_CONNECTIONS  # open connections (lowered to the fd limit)
    finish_idle_after_s: float = DEFAULT_FINISH_IDLE_AFTER_S  # 0: never finish idle runs
    max_idempotency_bytes: int = 16 * 2**20  # all remembered Idempotency-Keys together
    # --store: finished runs are uploaded to s3://bucket/prefix/<tenant>/<run dir>/
    # (server/offload.py); --data stays the staging area.
    store_url: str | None = None
    store_endpoint_url: str | None = None
    store_delay_s: float = 2.0  # after a finish, before the upload (late data joins it)
    evict: bool = False  # remove uploaded bundles once their reopen window passed

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if self.max_body_bytes < 1024:
            raise ConfigError("max_body_bytes: must be at least 1024")
        if not self.max_body_memory_bytes:
            self.max_body_memory_bytes = max(DEFAULT_BODY_MEMORY_BYTES, 2 * self.max_body_bytes)
        if self.max_body_memory_bytes < 2 * self.max_body_bytes:
            raise ConfigError("max_body_memory_bytes: must be at least twice max_body_bytes "
                              "(a body and its decoded text)")
        for name in ("admission_wait_s", "header_timeout_s", "body_timeout_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name}: must be positive")
        if self.max_connections < 2:
            raise ConfigError("max_connections: must be at least 2")
        if self.finish_idle_after_s < 0:
            raise ConfigError("finish_idle_after_s: must be 0 (off) or positive")
        if self.max_inflight < 1:
            raise ConfigError("max_inflight: must be at least 1")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ConfigError("rate_limit: must be positive")
        if self.store_url is not None:
            from augur_sdk.stores.s3 import parse_s3_url

            try:
                parse_s3_url(self.store_url)
            except ValueError as exc:
                raise ConfigError(f"store: {exc}") from None
        if self.evict and self.store_url is None:
            raise ConfigError("evict: needs --store (a run is only removed once uploaded)")
        if self.store_delay_s < 0:
            raise ConfigError("store_delay_s: must be 0 or positive")

    @property
    def burst(self) -> int:
        if self.rate_burst > 0:
            return self.rate_burst
        return max(1, int(2 * (self.rate_limit or 0)))
