"""The process the kill suite kills: records ``kill_ops(steps)`` and acks every returned call.

Protocol on stdout (one line each, unbuffered): ``ready`` (imports done), ``entered`` (the
with-block opened), ``a <k>`` after call ``k`` returned, ``closing`` just before the
with-block exits (close() runs next), ``closed`` after it returned.

Usage: python kill_child.py OUT_DIR STEPS   (or forked by ``kill_zygote.py``)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from reliability_support import KILL_RUN_ID, kill_event, kill_ops, kill_step, shot_png

from augur_sdk import DebugSession


def stdout_line(line: str) -> None:
    """One whole line straight to fd 1 (no Python buffer that a kill could strand)."""
    os.write(1, f"{line}\n".encode())


def run(out: str, steps: int, emit: Callable[[str], None] = stdout_line) -> None:
    ops = kill_ops(steps)
    emit("ready")
    with DebugSession(run_id=KILL_RUN_ID, client_name="killme", client_version="1.0",
                      capture_mode="screenshots", out_dir=out, tags={"suite": "kill"}) as s:
        emit("entered")
        for k, op in enumerate(ops):
            if op[0] == "shot":
                path = s.attach_observation(step_index=op[1], kind=op[2],
                                            png_bytes=shot_png(*op[1:]))
                if path != f"screenshots/{op[1]:04d}_{op[2]}.png":
                    sys.exit(f"attach_observation returned {path!r}")
            elif op[0] == "step":
                s.record_step(kill_step(op[1]))
            else:
                s.record_event(kill_event(op))
            emit(f"a {k}")
        emit("closing")
    emit("closed")


if __name__ == "__main__":
    run(sys.argv[1], int(sys.argv[2]))
