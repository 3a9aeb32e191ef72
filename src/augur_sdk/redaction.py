"""Redaction policies (pure): ``default-pii-v1`` and how to extend it.

A policy walks a JSON value and returns a redacted copy: keys in ``drop_keys`` disappear,
keys in ``mask_keys`` keep their place with ``***REDACTED:mask***``, every string runs
through the built-in patterns and then through your ``redactors``, and every (key, value)
pair is offered to your ``droppers``.

Fields a team knows are sensitive can be marked "never record" by path, relative to each
record (``*`` matches exactly one key or list index, ``**`` any number of them, zero
included; keys match case-sensitively)::

    policy = DefaultRedactionPolicy(never_record=["action.params.text", "**.otp"])

Screenshots: ``screenshot_regions(step_index, kind, width, height)`` may return rectangles
to mask with an opaque fill before the PNG is written (see ``augur_sdk.images``).

Two ways to extend, both supported::

    policy = DefaultRedactionPolicy()
    policy.add_redactor(lambda s: s.replace("ACME-INTERNAL", "[internal]"))

    class TeamPolicy(RedactionPolicy):          # class attributes are honoured
        id = "team-v2"
        drop_keys = RedactionPolicy.drop_keys | {"session_blob"}
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

DEFAULT_POLICY_ID = "default-pii-v1"
MASK = "***REDACTED:mask***"
NEVER_RECORD = "***REDACTED:never_record***"

Region = tuple[int, int, int, int] | dict[str, Any]

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
    # The lookbehind starts a match only where a local part starts, and the bounds keep the
    # scan linear: without them a long token with no "@" took seconds (quadratic).
    ("email", re.compile(r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]{1,64}@"
                         r"[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63}){0,8}\.[A-Za-z]{2,24}")),
)

def _any_of(patterns: tuple[tuple[str, re.Pattern[str]], ...]) -> re.Pattern[str]:
    parts = []
    for _, pattern in patterns:
        body = pattern.pattern.removeprefix("(?i)")
        flag = "i" if pattern.flags & re.IGNORECASE else ""
        parts.append(f"(?{flag}:{body})" if flag else f"(?:{body})")
    return re.compile("|".join(parts))


_DEFAULT_ANY = _any_of(DEFAULT_PATTERNS)


def _default_match(text: str) -> bool:
    """Whether any default pattern matches ``text``. An ASCII string holding none of the
    literals the patterns need ("@", "eyJ", "AKIA"/"ASIA", and any case of "bearer", "api",
    "cookie", "passw", "pwd") cannot match: substring tests decide that ~10x faster than the
    combined regex. Other strings go to the regex (``(?i)`` folds some non-ASCII letters,
    e.g. the Kelvin sign, onto ASCII ones)."""
    if text.isascii() and not ("@" in text or "eyJ" in text or "AKIA" in text
                               or "ASIA" in text):
        low = text.lower()
        if not ("api" in low or "pwd" in low or "passw" in low or "bearer" in low
                or "cookie" in low):
            return False
    return _DEFAULT_ANY.search(text) is not None


_CLEAN_KEYS: set[str] = set()  # keys no default pattern matches (never a matching one)
_CLEAN_KEYS_MAX = 4096


def _clean_key(key: str) -> bool:
    """No default pattern matches ``key`` (remembered: keys are few and repeat)."""
    if key in _CLEAN_KEYS:
        return True
    if _default_match(key):
        return False
    if len(_CLEAN_KEYS) < _CLEAN_KEYS_MAX:
        _CLEAN_KEYS.add(key)
    return True

Redactor = Callable[[str], str]
Dropper = Callable[[str, Any], bool]


class RedactionPolicy:
    """A redaction policy; subclass it and override the class attributes, or add hooks."""

    id: str = DEFAULT_POLICY_ID
    drop_keys: frozenset[str] = DEFAULT_DROP_KEYS
    mask_keys: frozenset[str] = DEFAULT_MASK_KEYS
    patterns: ClassVar[tuple[tuple[str, re.Pattern[str]], ...]] = DEFAULT_PATTERNS
    never_record: frozenset[str] = frozenset()

    def __init__(
        self,
        id: str | None = None,
        drop_keys: Iterable[str] | None = None,
        mask_keys: Iterable[str] | None = None,
        redactors: Iterable[Redactor] | None = None,
        droppers: Iterable[Dropper] | None = None,
        never_record: Iterable[str] | None = None,
    ) -> None:
        # Only set instance attributes for what the caller passed, so a subclass's class
        # attributes stay in force (augur-sdk 0.6.1's dataclass silently overwrote them).
        if id is not None:
            self.id = id
        if drop_keys is not None:
            self.drop_keys = frozenset(k.lower() for k in drop_keys)
        if mask_keys is not None:
            self.mask_keys = frozenset(k.lower() for k in mask_keys)
        if never_record is not None:
            self.never_record = frozenset(_check_paths(never_record))
        self.redactors: list[Redactor] = list(redactors or ())
        self.droppers: list[Dropper] = list(droppers or ())

    def add_redactor(self, fn: Redactor) -> None:
        """Add a string redactor; it runs after the built-in patterns."""
        self.redactors.append(fn)

    def add_dropper(self, fn: Dropper) -> None:
        """Add a ``(key, value) -> bool`` hook; return True to drop that field."""
        self.droppers.append(fn)

    def _key_sets(self) -> tuple[frozenset[str], frozenset[str]]:
        source = (self.drop_keys, self.mask_keys)
        cached = self.__dict__.get("_key_cache")
        if cached is None or cached[0] is not source[0] or cached[1] is not source[1]:
            cached = (*source, frozenset(k.lower() for k in source[0]),
                      frozenset(k.lower() for k in source[1]))
            self.__dict__["_key_cache"] = cached
        return cached[2], cached[3]

    def with_never_record(self, paths: Iterable[str]) -> RedactionPolicy:
        """A copy of this policy that also never records ``paths``."""
        clone = copy.copy(self)
        clone.redactors = list(self.redactors)
        clone.droppers = list(self.droppers)
        clone.never_record = frozenset(self.never_record) | frozenset(_check_paths(paths))
        return clone

    def _never_patterns(self) -> list[list[str]]:
        # ``never_record`` may be a subclass's class attribute: split lazily, cache by identity.
        source = self.never_record
        cached = self.__dict__.get("_never_cache")
        if cached is None or cached[0] is not source:
            cached = (source, [p.split(".") for p in sorted(_check_paths(source))])
            self.__dict__["_never_cache"] = cached
        return cached[1]

    def screenshot_regions(self, step_index: int, kind: str, width: int,
                           height: int) -> list[Region]:
        """Rectangles (x1, y1, x2, y2 in image pixels) to mask in this screenshot.

        Override to mask per step (e.g. a password field's box); default: none.
        """
        return []

    def redact_string(self, text: str) -> str:
        patterns = self.patterns
        # One scan for the common, clean case of the default patterns.
        if patterns is DEFAULT_PATTERNS and not _default_match(text):
            patterns = ()
        if patterns:
            for kind, pattern in patterns:
                text = pattern.sub(f"***REDACTED:{kind}***", text)
        for fn in self.redactors:
            text = fn(text)
        return text

    def apply(self, value: Any, *, key: str | None = None) -> Any:
        """Return a redacted copy of a JSON value."""
        if self.never_record:
            value = _blank_paths(value, self._never_patterns(), [])
        return self._apply(value, key)

    def _apply(self, value: Any, key: str | None) -> Any:
        drop, mask = self._key_sets()
        # Keys repeat on every record: with only the default patterns, a key already seen
        # clean needs no scan (the cache holds keys, never values).
        known_keys = (self.patterns is DEFAULT_PATTERNS and not self.redactors
                      and type(self).redact_string is RedactionPolicy.redact_string)
        walk = _Walk(drop, mask, list(self.droppers), known_keys, self.redact_string)
        return walk.value(value)


class _Walk:
    """One redaction pass over a JSON value, with the policy's settings looked up once
    (not once per dict): a redacted copy, strings through ``redact``, keys dropped or
    masked."""

    __slots__ = ("drop", "droppers", "known_keys", "mask", "redact", "scan_strings")

    def __init__(self, drop: frozenset[str], mask: frozenset[str], droppers: list[Dropper],
                 known_keys: bool, redact: Redactor) -> None:
        self.drop, self.mask, self.droppers = drop, mask, droppers
        self.known_keys, self.redact = known_keys, redact
        # The default policy's clean strings need one combined scan and nothing else.
        self.scan_strings = known_keys

    def value(self, value: Any) -> Any:
        kind = type(value)
        if kind is str:
            if self.scan_strings and not _default_match(value):
                return value
            return self.redact(value)
        if kind is dict:
            return self.mapping(value)
        if kind is list:
            return [self.value(v) for v in value]
        if isinstance(value, dict):
            return self.mapping(value)
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, str):
            return self.redact(value)
        return value

    def mapping(self, value: dict[str, Any]) -> dict[str, Any]:
        drop, mask, droppers = self.drop, self.mask, self.droppers
        known_keys = self.known_keys
        # A ``token`` next to a numeric ``logprob`` is decoded model output, not a secret.
        logprob = value.get("logprob")
        logprob_entry = isinstance(logprob, int | float)
        out: dict[str, Any] = {}
        for k, v in value.items():
            low = k.lower()
            if low in drop or (droppers and any(d(k, v) for d in droppers)):
                continue
            new_key = k if known_keys and _clean_key(k) else self.redact(k)
            if low in mask and not (logprob_entry and low in ("token", "token_id")):
                out[new_key] = MASK
                continue
            out[new_key] = self.value(v)
        return out


def _check_paths(paths: Iterable[str]) -> list[str]:
    """The never-record paths, checked (a bare string would be split into characters)."""
    if isinstance(paths, str | bytes):
        raise TypeError("never_record: expected a list of paths, got a string")
    out = []
    for path in paths:
        if not isinstance(path, str):
            raise TypeError(f"never_record: path {path!r} is not a string")
        if not path or "" in path.split("."):
            raise ValueError(f"never_record: path {path!r} has an empty segment")
        out.append(path)
    return out


def _matches(pattern: list[str], path: list[str]) -> bool:
    """Whether a split never-record pattern matches a key path (list indices as strings).

    ``*`` matches exactly one segment, ``**`` any number of segments (zero included), and
    any other segment itself only.
    """
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_matches(rest, path[i:]) for i in range(len(path) + 1))
    return bool(path) and head in ("*", path[0]) and _matches(rest, path[1:])


def path_matches(pattern: str, path: str) -> bool:
    """Whether the dotted never-record ``pattern`` matches the dotted key ``path``."""
    return _matches(pattern.split("."), path.split("."))


_OMIT = object()


def _blank_paths(value: Any, patterns: list[list[str]], path: list[str]) -> Any:
    """A copy of ``value`` where every matched string becomes the never-record marker and
    every other matched value (number, object, list...) is left out: a marker in place of a
    typed field would make the record invalid against its schema (in a list, its slot
    becomes null)."""
    if path and any(_matches(p, path) for p in patterns):
        return NEVER_RECORD if isinstance(value, str) else _OMIT
    if isinstance(value, dict):
        out = {k: _blank_paths(v, patterns, [*path, k]) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not _OMIT}
    if isinstance(value, list):
        # A list keeps its slots (None for a left-out value), so later indices still mean
        # what they meant.
        items = [_blank_paths(v, patterns, [*path, str(i)]) for i, v in enumerate(value)]
        return [None if v is _OMIT else v for v in items]
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
