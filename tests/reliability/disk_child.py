"""A recording process for the disk-fault suite (real ENOSPC on a small tmpfs).

Records ``STEPS`` steps, each with two ~5 KB screenshots, three step events and one run
event; after step ``FREE_AT`` (if given) it deletes ``FILLER`` (space comes back mid-run).
Prints ``a <i>`` after step ``i``'s calls returned and ``closed`` after close(); any
exception from the SDK reaches the top level and exits non-zero.

Usage: python disk_child.py OUT STEPS [FREE_AT FILLER]
"""

from __future__ import annotations

import os
import sys

from reliability_support import DISK_RUN_ID, disk_event, disk_png, disk_step, disk_step_events

from augur_sdk import DebugSession


def main() -> None:
    out, steps = sys.argv[1], int(sys.argv[2])
    free_at = int(sys.argv[3]) if len(sys.argv) > 3 else -1
    filler = sys.argv[4] if len(sys.argv) > 4 else ""
    with DebugSession(run_id=DISK_RUN_ID, client_name="diskfull", capture_mode="screenshots",
                      out_dir=out) as s:
        for i in range(steps):
            for kind in ("pre", "post"):
                s.attach_observation(step_index=i, kind=kind, png_bytes=disk_png(i, kind))
            s.record_step(disk_step(i))
            for event in disk_step_events(i):
                s.record_event(event)
            s.record_event(disk_event(None, i))
            os.write(1, f"a {i}\n".encode())
            if i == free_at:
                os.unlink(filler)
    os.write(1, b"closed\n")


if __name__ == "__main__":
    main()
