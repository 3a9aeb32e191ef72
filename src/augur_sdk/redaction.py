"""Redaction policies (pure): ``default-pii-v1`` and how to extend it.

A policy walks a JSON value and returns a redacted copy: keys in ``drop_keys`` disappear,
keys in ``mask_keys`` keep their place with ``***REDACTED:mask***`` (and so do the string
values of other secret-named keys: ``access_token``, ``client_secret``, ``secretKey``), every
string runs through the built-in shapes (``redaction_rules``) and then through your
``redactors``, and every (key, value) pair is offered to your ``droppers``.

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

from augur_sdk.redaction_rules import (
    ANY_SHAPE,
    NAME_ID,
    NAME_SECRET,
    NAME_TOKEN,
    SHAPES,
    any_of,
    apply_shapes,
    classify_name,
    default_match,
)

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

# Every shape ``default-pii-v1`` finds inside strings, in the order they are applied; the
# list, the checks some shapes need and the pre-check live in ``redaction_rules``.
DEFAULT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = SHAPES
_any_of = any_of
_DEFAULT_ANY = ANY_SHAPE
_default_match = default_match


# What a key means for its value, one code per key, remembered per policy (keys are few and
# repeat on every record). Only keys no default pattern matches are remembered: the cache
# never holds a secret.
_PLAIN, _DROP, _MASK, _MASK_TOKEN, _SECRET, _SECRET_TOKEN, _ID = range(7)
_KIND = 7   # the bits holding one of the codes above
_CLEAN = 8  # flag: no default pattern matches the key itself
_KEYS_MAX = 4096
_NAME_KINDS = {NAME_SECRET: _SECRET, NAME_TOKEN: _SECRET_TOKEN, NAME_ID: _ID}


Redactor = Callable[[str], str]
Dropper = Callable[[str, Any], bool]


class RedactionPolicy:
    """A redaction policy; subclass it and override the class attributes, or add hooks."""

    id: str = DEFAULT_POLICY_ID
    drop_keys: frozenset[str] = DEFAULT_DROP_KEYS
    mask_keys: frozenset[str] = DEFAULT_MASK_KEYS
    patterns: ClassVar[tuple[tuple[str, re.Pattern[str]], ...]] = DEFAULT_PATTERNS
    never_record: frozenset[str] = frozenset()
    # Mask string values under secret-named keys beyond the exact lists (``access_token``,
    # ``client_secret``, ``secretKey``, ``db_password``; see ``redaction_rules``).
    mask_secret_names: bool = True

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
        self.reasoning_redactors: list[Redactor] = []

    def add_redactor(self, fn: Redactor) -> None:
        """Add a string redactor; it runs after the built-in patterns."""
        self.redactors.append(fn)

    def add_dropper(self, fn: Dropper) -> None:
        """Add a ``(key, value) -> bool`` hook; return True to drop that field."""
        self.droppers.append(fn)

    def add_reasoning_redactor(self, fn: Redactor) -> None:
        """Add a string redactor for reasoning text only (``record_reasoning``); it runs
        after the policy's own rules."""
        if "reasoning_redactors" not in self.__dict__:  # a subclass that skipped __init__
            self.reasoning_redactors = []
        self.reasoning_redactors.append(fn)

    def apply_reasoning(self, record: Any) -> Any:
        """A reasoning record redacted: the policy's rules, then the reasoning redactors on
        its ``text``."""
        redacted = self.apply(record)
        if isinstance(redacted, dict) and isinstance(redacted.get("text"), str):
            text = redacted["text"]
            for fn in getattr(self, "reasoning_redactors", ()):
                text = fn(text)
            redacted["text"] = str(text)
        return redacted

    def _key_table(self) -> dict[str, int]:
        """The per-key codes, rebuilt when ``drop_keys``, ``mask_keys`` or
        ``mask_secret_names`` change (class or instance attributes alike)."""
        drop, mask, names = self.drop_keys, self.mask_keys, bool(self.mask_secret_names)
        cached = self.__dict__.get("_key_cache")
        if cached is None or cached[0] is not drop or cached[1] is not mask or \
                cached[2] is not names:
            cached = (drop, mask, names, {}, frozenset(k.lower() for k in drop),
                      frozenset(k.lower() for k in mask))
            self.__dict__["_key_cache"] = cached
        table: dict[str, int] = cached[3]
        return table

    def _key_code(self, key: str, table: dict[str, int]) -> int:
        _, _, names, _, drop, mask = self.__dict__["_key_cache"]
        low = key.lower()
        if low in drop:
            code = _DROP
        elif low in mask:
            code = _MASK_TOKEN if low in ("token", "token_id") else _MASK
        elif names:
            code = _NAME_KINDS.get(classify_name(key), _PLAIN)
        else:
            code = _PLAIN
        if not default_match(key):
            code |= _CLEAN
            if len(table) < _KEYS_MAX:
                table[key] = code
        return code

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
        """``text`` with every shape of ``patterns`` replaced, then through ``redactors``."""
        if self.patterns:
            # The default shapes are first checked by substring tests: clean strings (most)
            # never reach a regex.
            text = apply_shapes(text, self.patterns)
        for fn in self.redactors:
            text = fn(text)
        return text

    def apply(self, value: Any, *, key: str | None = None) -> Any:
        """Return a redacted copy of a JSON value."""
        if self.never_record:
            value = _blank_paths(value, self._never_patterns(), [])
        return self._apply(value, key)

    def _apply(self, value: Any, key: str | None) -> Any:
        # Keys repeat on every record: with only the default patterns, a key already seen
        # clean needs no scan (the cache holds keys, never values).
        known_keys = (self.patterns is DEFAULT_PATTERNS and not self.redactors
                      and type(self).redact_string is RedactionPolicy.redact_string)
        walk = _Walk(self, list(self.droppers), known_keys)
        return walk.value(value)


class _Walk:
    """One redaction pass over a JSON value, with the policy's settings looked up once
    (not once per dict): a redacted copy, strings through ``redact``, keys dropped or
    masked."""

    __slots__ = ("code", "droppers", "known_keys", "redact", "scan_strings", "table")

    def __init__(self, policy: RedactionPolicy, droppers: list[Dropper],
                 known_keys: bool) -> None:
        self.table = policy._key_table()
        self.code = policy._key_code
        self.droppers, self.known_keys, self.redact = droppers, known_keys, policy.redact_string
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
        table, droppers, known_keys = self.table, self.droppers, self.known_keys
        out: dict[str, Any] = {}
        for k, v in value.items():
            code = table.get(k)
            if code is None:
                code = self.code(k, table)
            kind = code & _KIND
            if kind == _DROP or (droppers and any(d(k, v) for d in droppers)):
                continue
            new_key = k if known_keys and code & _CLEAN else self.redact(k)
            if kind:
                if kind == _MASK or (kind == _MASK_TOKEN and not _logprob_entry(value)):
                    out[new_key] = MASK
                    continue
                # Other secret-named keys mask string values only: a number under
                # ``max_token`` or an object under ``credentials`` is walked as usual.
                if type(v) is str or isinstance(v, str):
                    if kind == _SECRET or (kind == _SECRET_TOKEN
                                           and not _logprob_entry(value)):
                        out[new_key] = MASK
                        continue
                    if kind == _ID and v.isdigit():
                        out[new_key] = v  # an identifier's digits are not a card number
                        continue
            out[new_key] = self.value(v)
        return out


def _logprob_entry(value: dict[str, Any]) -> bool:
    """A ``token`` next to a numeric ``logprob`` is decoded model output, not a secret."""
    return isinstance(value.get("logprob"), int | float)


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
    mask_secret_names = False
