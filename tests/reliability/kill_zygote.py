"""Forks kill children from one interpreter that has already imported augur_sdk.

A fresh interpreter costs ~0.6 s of CPU before the first call; forking this single-threaded
process costs ~1 ms, which is what lets the kill suite run many trials on a small CI machine.
The forked child is exactly a kill child (``kill_child.run``); no session exists before fork.

Protocol (tab-separated lines on stdin, answers on stdout):
  ``spawn OUT STEPS STDOUT_FIFO STDERR_FILE`` -> ``pid N``   the child writes its protocol
      lines into the FIFO and its traceback (if any) into STDERR_FILE;
  ``reap PID`` -> ``status CODE``   waits for the child (the test signals a live or zombie
      child, never a reused pid: nothing is reaped before the test asks).
"""

from __future__ import annotations

import atexit
import os
import sys
import traceback

import kill_child


def child(out: str, steps: int, fifo: str, errfile: str) -> None:
    code = 0
    try:
        fd = os.open(fifo, os.O_WRONLY)
        os.dup2(fd, 1)
        os.close(fd)
        fd = os.open(errfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 2)
        os.close(fd)
        kill_child.run(out, steps)
        atexit._run_exitfuncs()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
        if not isinstance(exc.code, int):
            os.write(2, f"{exc.code}\n".encode())
    except BaseException:
        os.write(2, traceback.format_exc().encode())
        code = 1
    finally:
        os._exit(code)


def main() -> None:
    print("zygote ready", flush=True)
    for line in sys.stdin:
        cmd, *args = line.rstrip("\n").split("\t")
        if cmd == "spawn":
            out, steps, fifo, errfile = args
            pid = os.fork()
            if pid == 0:
                child(out, int(steps), fifo, errfile)
            print(f"pid {pid}", flush=True)
        elif cmd == "reap":
            _, status = os.waitpid(int(args[0]), 0)
            print(f"status {os.waitstatus_to_exitcode(status)}", flush=True)
        else:
            print(f"error unknown command {cmd!r}", flush=True)


if __name__ == "__main__":
    main()
