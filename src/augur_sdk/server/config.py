"""``augur serve`` settings and the per-tenant token table (no I/O beyond reading the
token file).

Tokens come from a JSON file (``{"tenants": {"acme": ["token1", ...]}}``) and/or the
``AUGUR_SERVER_TOKENS`` variable (``"acme:tok1,other:tok2"``). A token belongs to exactly one
tenant; the token, never the request, decides which tenant a write goes to. A token has a
role: ``ingest`` (the default: send runs, poll for commands, read the API) or ``control``
(also issue intervention commands), declared only in the file as
``{"token": "...", "role": "control", "name": "alice"}``. With no token
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
from typing import Any

from augur_sdk.server.paths import BadName, check_tenant

TOKENS_ENV = "AUGUR_SERVER_TOKENS"
DEFAULT_TENANT = "default"
DEFAULT_PORT = 8765
DEFAULT_MAX_BODY_BYTES = 32 * 2**20
DEFAULT_BODY_MEMORY_BYTES = 256 * 2**20
DEFAULT_MAX_CONNECTIONS = 1000
DEFAULT_FINISH_IDLE_AFTER_S = 1800.0
INGEST, CONTROL = "ingest", "control"
ROLES = (INGEST, CONTROL)


class ConfigError(ValueError):
    """The server configuration is unusable (the message says why; no token is echoed)."""


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True)
class TokenInfo:
    """What a token grants: its tenant, its role, and the name commands are issued under."""

    tenant: str
    role: str = INGEST
    name: str | None = None


class TokenTable:
    """Maps tokens to tenants and roles. Only sha256 digests are kept; lookups compare
    digests in constant time."""

    def __init__(self, tenants: Mapping[str, list[str]] | None = None) -> None:
        self._entries: list[tuple[bytes, TokenInfo]] = []
        for tenant, tokens in (tenants or {}).items():
            for token in tokens:
                self.add(tenant, token)

    def add(self, tenant: str, token: str, role: str = INGEST, name: str | None = None) -> None:
        try:
            check_tenant(tenant)
        except BadName as exc:
            raise ConfigError(f"tenant {tenant[:64]!r}: {exc}") from None
        if not isinstance(token, str) or not token.strip():
            raise ConfigError(f"tenant {tenant!r}: tokens must be non-empty strings")
        if role not in ROLES:
            raise ConfigError(f"tenant {tenant!r}: role must be 'ingest' or 'control', got "
                              f"{str(role)[:32]!r}")
        digest = _digest(token)
        for known, owner in self._entries:
            if hmac.compare_digest(known, digest) and owner.tenant != tenant:
                raise ConfigError(f"a token is listed for two tenants ({owner.tenant!r} and "
                                  f"{tenant!r}); a token must decide one tenant")
        self._entries.append((digest, TokenInfo(tenant, role, name)))

    def lookup(self, token: str) -> TokenInfo | None:
        """The token's grant; listed twice for one tenant, the wider role wins."""
        digest = _digest(token)
        found: TokenInfo | None = None
        for known, info in self._entries:  # no early exit: the time does not depend on it
            if hmac.compare_digest(known, digest) and (found is None or info.role == CONTROL):
                found = info
        return found

    def tenant_for(self, token: str) -> str | None:
        info = self.lookup(token)
        return None if info is None else info.tenant

    @property
    def open(self) -> bool:
        """True when no token is configured: the server accepts every request."""
        return not self._entries

    def tenants(self) -> list[str]:
        return sorted({info.tenant for _, info in self._entries})

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


@dataclass(frozen=True)
class TokenEntry:
    token: str
    role: str = INGEST
    name: str | None = None


def _token_entry(path: Path, tenant: str, n: int, item: Any) -> TokenEntry:
    """One token of the file: a string (an ingest token) or
    ``{"token": ..., "role": "ingest"|"control", "name": ...}``."""
    if isinstance(item, str):
        return TokenEntry(item)
    where = f"tokens file {path}: tenant {tenant!r}, token {n}"
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: expected a string or an object with 'token'")
    unknown = sorted(set(item) - {"token", "role", "name"})
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (token, role, name)")
    token, role, name = item.get("token"), item.get("role", INGEST), item.get("name")
    if not isinstance(token, str):
        raise ConfigError(f"{where}: 'token' must be a string")
    if role not in ROLES:
        raise ConfigError(f"{where}: 'role' must be 'ingest' or 'control'")
    if name is not None and (not isinstance(name, str) or not 0 < len(name) <= 64):
        raise ConfigError(f"{where}: 'name' must be a string of 1-64 characters")
    return TokenEntry(token, role, name)


def load_tokens_file(path: Path) -> dict[str, list[TokenEntry]]:
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
    out: dict[str, list[TokenEntry]] = {}
    for tenant, tokens in tenants.items():
        if isinstance(tokens, str | dict):
            tokens = [tokens]
        if not isinstance(tokens, list):
            raise ConfigError(f"tokens file {path}: tenant {tenant!r} must map to a list of "
                              f"tokens")
        out[tenant] = [_token_entry(path, tenant, n, t) for n, t in enumerate(tokens, 1)]
    return out


def load_tokens(path: Path | None = None, env: Mapping[str, str] | None = None) -> TokenTable:
    """The token table from ``path`` (if given) plus ``$AUGUR_SERVER_TOKENS``."""
    env = os.environ if env is None else env
    table = TokenTable()
    sources: list[dict[str, list[TokenEntry]]] = []
    if path is not None:
        sources.append(load_tokens_file(path))
    if env.get(TOKENS_ENV, "").strip():  # ingest tokens only: roles are declared in a file
        sources.append({tenant: [TokenEntry(t) for t in tokens]
                        for tenant, tokens in parse_tokens_env(env[TOKENS_ENV]).items()})
    for source in sources:
        for tenant, entries in source.items():
            for entry in entries:
                table.add(tenant, entry.token, entry.role, entry.name)
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
    command_ttl_s: float = 600.0  # an undelivered command expires after this (default)
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
