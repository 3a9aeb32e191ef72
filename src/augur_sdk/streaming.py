"""augur-sdk 0.6.1's module names for the stream, so that code importing them keeps
importing: ``DSN`` (a parsed DSN, with 0.6.1's ``DSN.parse``) and ``StreamingSink`` (our
stream client: one bounded worker pool per server, not 0.6.1's thread per request; its
methods are ours, see :mod:`augur_sdk.stream.client` and ``docs/streaming.md``)."""

from __future__ import annotations

from dataclasses import dataclass

from augur_sdk.stream.client import StreamClient
from augur_sdk.stream.dsn import Dsn, parse_dsn


@dataclass(frozen=True, repr=False)
class DSN(Dsn):
    """A parsed ``scheme://host[:port]/base?token=...&tenant=...`` DSN."""

    @classmethod
    def parse(cls, raw: str) -> DSN:
        parsed = parse_dsn(raw)
        return cls(base_url=parsed.base_url, token=parsed.token, tenant=parsed.tenant)


StreamingSink = StreamClient

__all__ = ["DSN", "StreamingSink"]
