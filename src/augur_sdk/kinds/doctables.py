"""Documentation tables generated from the specs (pure): which field needs which capture
mode, per record kind, and the shared limits. ``docs/capture-modes.md`` and
``docs/bundle-format.md`` hold them between ``<!-- generated:NAME -->`` markers; a test
checks they match, and ``python -m augur_sdk.kinds.doctables --write`` rewrites them.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from augur_schema import validator_for

from augur_sdk import gating, limits
from augur_sdk.capture import CaptureMode
from augur_sdk.kinds import registry
from augur_sdk.kinds.spec import RecordKind

MODES = [m for m in CaptureMode if m is not CaptureMode.OFF]


def _schema_fields(kind: RecordKind) -> list[str]:
    schema = kind.schema
    if isinstance(schema, str):
        schema = validator_for(schema).schema
    return list((schema or {}).get("properties", {}))


def _field_modes(kind: RecordKind) -> dict[str, CaptureMode]:
    """Every documented field of a kind and the lowest mode that keeps it."""
    if kind.name == "step":
        fields = gating.STEP_FIELDS
        paths = set(_schema_fields(kind)) | set(gating.STEP_FIELD_MODE)
        return {p: max(fields.mode_of(p), kind.min_mode) for p in paths}
    modes = {f: kind.mode_of(f) for f in _schema_fields(kind) or kind.field_modes}
    modes.update({f: max(m, kind.min_mode) for f, m in kind.field_modes.items() if "." in f})
    return modes


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _extras(kind: RecordKind, mode: CaptureMode) -> list[str]:
    """What a kind's custom gate adds at ``mode`` (decision events, by layer)."""
    if kind.name != "event":
        return []
    out = [f"`{layer}`-layer events" for layer, m in gating.EVENT_LAYER_MODE.items()
           if m == mode]
    out += [f"`detail` of `{layer}`-layer events" for layer, m in
            gating.EVENT_DETAIL_MODE.items() if m == mode]
    return out


def fields_by_mode() -> str:
    """One row per kind: the fields each mode adds (``rest of x``: what the lower modes did
    not keep of ``x``)."""
    head = "| kind | " + " | ".join(f"`{m.value}`" for m in MODES) + " |"
    rows = [head, "|---" * (len(MODES) + 1) + "|"]
    for kind in registry.all_kinds():
        if not kind.builtin or kind.bundle.embedded:
            continue  # iterations and patches are step records; run costs the session's
        modes = _field_modes(kind)
        cells = []
        for mode in MODES:
            added = []
            for f in sorted(f for f, m in modes.items() if m == mode):
                lower = any(g.startswith((f + ".", f + "[]")) and modes[g] < mode
                            for g in modes)
                added.append(f"rest of `{f}`" if lower else f"`{f}`")
            added += _extras(kind, mode)
            if mode == kind.min_mode and not added:
                added = ["the whole record"]
            cells.append(_cell(", ".join(added)))
        rows.append(f"| `{kind.name}` | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def kinds_overview() -> str:
    """One row per kind: lowest mode, span placement, bundle file, stream route."""
    rows = ["| kind | recorded from | on the spans | in the bundle | on the stream |",
            "|---|---|---|---|---|"]
    for kind in registry.all_kinds():
        if not kind.builtin:
            continue
        wire = f"`{kind.wire.method} /runs/{{run}}{kind.wire.path}`" if kind.wire else "—"
        where = f"`{kind.bundle.pattern}`" if kind.bundle.pattern else "`trace.json`"
        rows.append(f"| `{kind.name}` | `{kind.min_mode.value}` | {kind.placement.value} | "
                    f"{_cell(where)} | {wire} |")
    return "\n".join(rows)


def limits_table() -> str:
    return "\n".join([
        "| limit | value |", "|---|---|",
        f"| step index | 0 to {limits.MAX_STEP_INDEX:,} |",
        f"| run id | 1 to {limits.MAX_RUN_ID_BYTES} bytes of UTF-8; no control or "
        "bidirectional-text characters; stored by `augur serve` under a directory name with "
        f"`/`, `\\`, `%`, a leading `.` escaped (at most {limits.MAX_DIR_NAME_BYTES} bytes) |",
        "| capture modes | " + ", ".join(f"`{m}`" for m in limits.CAPTURE_MODES) + " |",
        "| observation kinds | " + ", ".join(f"`{k}`" for k in limits.OBSERVATION_KINDS)
        + " |",
    ])


TABLES = {"fields-by-mode": fields_by_mode, "kinds": kinds_overview, "limits": limits_table}
# A block's body (possibly empty) never runs into the next block.
_BLOCK = re.compile(r"(<!-- generated:(?P<name>[\w-]+) -->\n)"
                    r"(?P<body>(?:(?!<!-- (?:/)?generated).)*?)(<!-- /generated -->)", re.S)


def render(text: str) -> str:
    """``text`` with every generated block filled from the code."""
    return _BLOCK.sub(lambda m: m.group(1) + TABLES[m.group("name")]() + "\n" + m.group(4),
                      text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("pages", nargs="*", default=["docs/capture-modes.md",
                                                     "docs/bundle-format.md"])
    parser.add_argument("--write", action="store_true", help="rewrite the pages in place")
    args = parser.parse_args(argv)
    stale = 0
    for page in map(Path, args.pages):
        text = page.read_text(encoding="utf-8")
        fresh = render(text)
        if fresh != text:
            stale += 1
            if args.write:
                page.write_text(fresh, encoding="utf-8")
            print(f"{'rewrote' if args.write else 'stale'}: {page}")
    return 1 if stale and not args.write else 0


if __name__ == "__main__":
    raise SystemExit(main())
