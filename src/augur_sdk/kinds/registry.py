"""The registry of record kinds: the SDK's own, and plug-in kinds.

Plug-in kinds come from the ``augur.record_kinds`` entry-point group, from the modules named
in ``$AUGUR_RECORD_KINDS`` (``pkg.module`` or ``pkg.module:attr``, comma-separated; what the
server and the viewer load in another process), or from :func:`register` in code. A module
named there registers its kinds when imported (or exposes a ``RecordKind``/list at ``attr``).
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Iterable, Iterator
from importlib.metadata import entry_points

from augur_sdk.kinds.spec import RecordKind

ENV_VAR = "AUGUR_RECORD_KINDS"
ENTRY_POINT_GROUP = "augur.record_kinds"

_lock = threading.Lock()
_kinds: dict[str, RecordKind] = {}
_plugins_loaded = False


def register(kind: RecordKind, *, replace: bool = False) -> RecordKind:
    """Add ``kind``; a second kind of the same name is refused unless ``replace``."""
    if not isinstance(kind, RecordKind):
        raise TypeError(f"kind: expected a RecordKind, got {type(kind).__name__}")
    if not kind.builtin:
        _ensure_loaded()  # the SDK's own kinds first
    with _lock:
        known = _kinds.get(kind.name)
        if known is not None and known is not kind and not replace:
            raise ValueError(f"kind: a record kind named {kind.name!r} is already registered")
        if known is not None and known.builtin and not kind.builtin:
            raise ValueError(f"kind: {kind.name!r} is one of the SDK's own kinds")
        _kinds[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    """Remove a plug-in kind (tests use this to clean up after themselves)."""
    with _lock:
        known = _kinds.get(name)
        if known is not None and known.builtin:
            raise ValueError(f"name: {name!r} is one of the SDK's own kinds")
        _kinds.pop(name, None)


def get(name: str) -> RecordKind:
    _ensure_loaded()
    try:
        return _kinds[name]
    except KeyError:
        raise ValueError(f"kind: no record kind named {name!r} (known: "
                         f"{', '.join(sorted(_kinds))})") from None


def all_kinds() -> list[RecordKind]:
    """Every registered kind, the SDK's own first, in registration order."""
    _ensure_loaded()
    with _lock:
        return list(_kinds.values())


def plugin_kinds() -> Iterator[RecordKind]:
    return (k for k in all_kinds() if not k.builtin)


def _ensure_loaded() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from augur_sdk.kinds import builtin  # noqa: F401  (registers the SDK's own kinds)

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        _register_all(ep.load())
    load_from_env()


def load_from_env(value: str | None = None) -> None:
    """Import the modules named in ``$AUGUR_RECORD_KINDS`` (or ``value``)."""
    spec = os.environ.get(ENV_VAR, "") if value is None else value
    for item in filter(None, (s.strip() for s in spec.split(","))):
        module_name, _, attr = item.partition(":")
        module = importlib.import_module(module_name)
        if attr:
            _register_all(getattr(module, attr))


def _register_all(obj: object) -> None:
    if isinstance(obj, RecordKind):
        register(obj, replace=True)
    elif isinstance(obj, Iterable):
        for item in obj:
            _register_all(item)
    elif callable(obj):
        _register_all(obj())
