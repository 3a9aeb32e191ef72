"""Redaction policies (pure): ``default-pii-v1`` and how to extend it.

A policy walks a JSON value and returns a redacted copy: keys in ``drop_keys`` disappear,
keys in ``mask_keys`` keep their place with ``***REDACTED:mask***``, every string runs
through the built-in patterns and then through your ``redactors``, and every (key, value)
pair is offered to your ``droppers``.

Two ways to extend, both supported::

    policy = DefaultRedactionPolicy()
    policy.add_redactor(lambda s: s.replace("ACME-INTERNAL", "[internal]"))

    class TeamPolicy(RedactionPolicy):          # class attributes are honoured
        id = "team-v2"
        drop_keys = RedactionPolicy.drop_keys | {"session_blob"}
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

DEFAULT_POLICY_ID = "default-pii-v1"
MASK = "***REDACTED:mask***"

DEFAULT_DROP_KEYS = frozenset(
    {"password", "passwd", "pwd", "secret", "authorization", "cookie", "set-cookie", "x-api-key"}
)
DEFAULT_MASK_KEYS = frozenset(
    {"token", "api_key", "apikey", "ssn", "credit_card", "card_number", "cvv"}
)

# Order matters: specific credential shapes first, generic ones (email) last.
DEFAULT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("bearer", re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/\-]+=*")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+")),
    ("api_key", re.compile(r"(?i)\b(?:x-)?api[_-]?key\s*[:=]\s*[^\s,;&\"']+")),
    ("aws_key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("cookie_header", re.compile(r"(?i)\b(?:set-)?cookie\s*:\s*[^\r\n]+")),
    ("password_kv", re.compile(r"(?i)\b(?:password|passwd|pwd)\s*[:=]\s*[^\s,;&\"']+")),
    ("email", re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")),
)

Redactor = Callable[[str], str]
Dropper = Callable[[str, Any], bool]


class RedactionPolicy:
    """A redaction policy; subclass it and override the class attributes, or add hooks."""

    id: str = DEFAULT_POLICY_ID
    drop_keys: frozenset[str] = DEFAULT_DROP_KEYS
    mask_keys: frozenset[str] = DEFAULT_MASK_KEYS
    patterns: ClassVar[tuple[tuple[str, re.Pattern[str]], ...]] = DEFAULT_PATTERNS

    def __init__(
        self,
        id: str | None = None,
        drop_keys: Iterable[str] | None = None,
        mask_keys: Iterable[str] | None = None,
        redactors: Iterable[Redactor] | None = None,
        droppers: Iterable[Dropper] | None = None,
    ) -> None:
        # Only set instance attributes for what the caller passed, so a subclass's class
        # attributes stay in force (augur-sdk 0.6.1's dataclass silently overwrote them).
        if id is not None:
            self.id = id
        if drop_keys is not None:
            self.drop_keys = frozenset(k.lower() for k in drop_keys)
        if mask_keys is not None:
            self.mask_keys = frozenset(k.lower() for k in mask_keys)
        self.redactors: list[Redactor] = list(redactors or ())
        self.droppers: list[Dropper] = list(droppers or ())

    def add_redactor(self, fn: Redactor) -> None:
        """Add a string redactor; it runs after the built-in patterns."""
        self.redactors.append(fn)

    def add_dropper(self, fn: Dropper) -> None:
        """Add a ``(key, value) -> bool`` hook; return True to drop that field."""
        self.droppers.append(fn)

    def redact_string(self, text: str) -> str:
        for kind, pattern in self.patterns:
            text = pattern.sub(f"***REDACTED:{kind}***", text)
        for fn in self.redactors:
            text = fn(text)
        return text

    def apply(self, value: Any, *, key: str | None = None) -> Any:
        """Return a redacted copy of a JSON value."""
        if isinstance(value, dict):
            drop = {k.lower() for k in self.drop_keys}
            mask = {k.lower() for k in self.mask_keys}
            # A ``token`` next to a numeric ``logprob`` is decoded model output, not a secret.
            logprob_entry = isinstance(value.get("logprob"), int | float)
            out: dict[str, Any] = {}
            for k, v in value.items():
                low = k.lower()
                if low in drop or any(d(k, v) for d in self.droppers):
                    continue
                new_key = self.redact_string(k)
                if low in mask and not (logprob_entry and low in ("token", "token_id")):
                    out[new_key] = MASK
                    continue
                out[new_key] = self.apply(v, key=low)
            return out
        if isinstance(value, list):
            return [self.apply(v, key=key) for v in value]
        if isinstance(value, str):
            return self.redact_string(value)
        return value


class DefaultRedactionPolicy(RedactionPolicy):
    """``default-pii-v1``: the built-in drop/mask keys and credential/email patterns."""

    id = DEFAULT_POLICY_ID


class NoRedactionPolicy(RedactionPolicy):
    """Records values as given (for local debugging of synthetic data only)."""

    id = "none"
    drop_keys = frozenset()
    mask_keys = frozenset()
    patterns = ()
