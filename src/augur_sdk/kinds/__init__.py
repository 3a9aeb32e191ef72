"""Record kinds: every kind of record the SDK writes, declared once (the spine).

See ``docs/adding-a-record-kind.md``. The SDK's own kinds are in :mod:`.builtin`; a plug-in
kind is a :class:`RecordKind` passed to :func:`register` (or named in the
``augur.record_kinds`` entry-point group or ``$AUGUR_RECORD_KINDS``).
"""

from augur_sdk.kinds.registry import all_kinds, get, register, unregister
from augur_sdk.kinds.spec import (
    BundleTarget,
    FileFormat,
    Placement,
    RecordKind,
    RuleContext,
    WireRoute,
)

__all__ = [
    "BundleTarget",
    "FileFormat",
    "Placement",
    "RecordKind",
    "RuleContext",
    "WireRoute",
    "all_kinds",
    "get",
    "register",
    "unregister",
]
