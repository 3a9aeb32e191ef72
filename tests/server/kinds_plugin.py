"""A record kind that only the tests define: a reviewer's note on a step.

Importing this module registers it; ``augur serve`` (another process) loads it through
``AUGUR_RECORD_KINDS=kinds_plugin``. Nothing under ``src/`` knows about it: gating,
redaction, its span event, its bundle file, its stream request, the server's route, the
validator rule and the viewer section all come from this spec.
"""

from __future__ import annotations

import re
from typing import Any

from augur_sdk.capture import CaptureMode
from augur_sdk.kinds import BundleTarget, RecordKind, RuleContext, WireRoute, register
from augur_sdk.validation import ValidationIssue

NOTE_FILE = re.compile(r"^notes/(\d{4})\.jsonl$")


def note_rule(ctx: RuleContext, rel: str, record: Any) -> list[ValidationIssue]:
    """A note lives in the file of its step."""
    m = NOTE_FILE.match(rel)
    if m and isinstance(record, dict) and record.get("step_index") != int(m.group(1)):
        return [ValidationIssue(rel, f"note of step {record.get('step_index')!r} in the file "
                                     f"of step {int(m.group(1))}", "step_index")]
    return []


NOTE = register(RecordKind(
    name="test_note",
    schema={
        "type": "object",
        "required": ["step_index", "ts", "score"],
        "additionalProperties": False,
        "properties": {
            "step_index": {"type": "integer", "minimum": 0},
            "ts": {"type": "string"},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "text": {"type": "string"},
        },
    },
    min_mode=CaptureMode.METADATA,
    field_modes={"step_index": CaptureMode.METADATA, "ts": CaptureMode.METADATA,
                 "score": CaptureMode.METADATA},
    default_field_mode=CaptureMode.TRACE,  # the free text needs `trace`
    timestamp_field="ts",
    bundle=BundleTarget(path=lambda r: f"notes/{int(r['step_index']):04d}.jsonl",
                        pattern=r"notes/\d{4}\.jsonl"),
    wire=WireRoute("POST", "/steps/{step_index}/notes"),
    rule=note_rule,
    viewer_section="notes",
), replace=True)
