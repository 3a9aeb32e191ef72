"""augur-otel (this repository) side by side with augur-sdk 0.6.1 and with the physical floor.

    ./benchmarks/run.sh                 # the full run (~13 min on 2 cores), writes results/latest.md
    ./benchmarks/run.sh --quick         # a 2-3 minute smoke run of the same machinery
    .venv/bin/python benchmarks/compare.py --help

Installs augur-sdk 0.6.1 into ``.ci-venvs/augur-sdk-0.6.1`` when it is missing (through
``.ci/install-augur-sdk-0.6.1.sh``), then runs every workload through both SDKs, each run in
its own subprocess (``benchmarks/sdk_worker.py``) in that SDK's own interpreter, alternating
which SDK goes first, ``--reps`` times; the floor (``sdk_worker.py --sdk floor``) runs in the
same rounds. Reports medians over the repetitions as markdown tables on stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKER = HERE / "sdk_worker.py"
HANG_SERVER = HERE / "hang_server.py"
REF_INSTALLER = ROOT / ".ci" / "install-augur-sdk-0.6.1.sh"
REF_PYTHON = ROOT / ".ci-venvs" / "augur-sdk-0.6.1" / "bin" / "python"
OURS_PYTHON = ROOT / ".venv" / "bin" / "python"
CALLS = ("record_step", "attach_observation", "record_event")
SDK_LABEL = {"ours": "augur-otel", "ref": "augur-sdk 0.6.1", "floor": "floor"}
PACKAGE = {"ours": "augur-otel", "ref": "augur-sdk"}


@dataclass(frozen=True)
class Workload:
    name: str
    steps: int
    mode: str
    png_kb: int
    role: str
    dsn: str | None = None  # "closed" or "hang"
    sdks: tuple[str, ...] = ("ours", "ref")
    fsync: bool = False  # augur-otel's DebugSession(fsync=True)


def workloads(quick: bool, with_fsync: bool = False) -> list[Workload]:
    """The DSN runs sit next to the plain run of the same size they are compared with."""
    small, base, large, meta = (20, 100, 300, 1000) if quick else (200, 1000, 3000, 10_000)
    wls = [
        Workload(f"shots-{small}", small, "screenshots", 1024, "shots-small"),
        Workload(f"floor-shots-{base}", base, "screenshots", 1024, "floor-shots", sdks=("floor",)),
        Workload(f"shots-{base}", base, "screenshots", 1024, "shots-base"),
        Workload(f"dsn-closed-{base}", base, "screenshots", 1024, "dsn-closed", dsn="closed"),
        Workload(f"dsn-hang-{base}", base, "screenshots", 1024, "dsn-hang", dsn="hang"),
        Workload(f"shots-{large}", large, "screenshots", 1024, "shots-large"),
        Workload(f"floor-meta-{meta}", meta, "metadata", 0, "floor-meta", sdks=("floor",)),
        Workload(f"meta-{meta}", meta, "metadata", 0, "meta"),
    ]
    if with_fsync:
        wls.insert(3, Workload(f"shots-{base}-fsync", base, "screenshots", 1024, "fsync",
                               sdks=("ours",), fsync=True))
    return wls


# ── running one worker ───────────────────────────────────────────────────────


def worker_env(pythonpath: Path | None = None) -> dict[str, str]:
    """The environment minus anything that would change what an SDK does."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OTEL_", "AUGUR_")) and k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return env


def snapshot_source(workdir: Path) -> Path:
    """A copy of src/augur_sdk taken at start: every augur-otel run of this benchmark uses the
    same code even if the working tree changes meanwhile (it goes first on PYTHONPATH, ahead of
    the editable install)."""
    dest = workdir / "src-snapshot"
    shutil.copytree(ROOT / "src" / "augur_sdk", dest / "augur_sdk",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def pct(values: list[int], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return float(ordered[max(0, math.ceil(q * len(ordered)) - 1)])


def dir_stats(root: Path) -> tuple[float, int]:
    size = count = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            try:
                size += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
            count += 1
    return size / 2**20, count


def run_worker(python: Path, sdk: str, wl: Workload, dsn: str | None, args: argparse.Namespace,
               workdir: Path, snapshot: Path | None) -> dict[str, Any]:
    tag = f"{wl.name}-{sdk}"
    out = workdir / tag
    result = workdir / f"{tag}.json"
    errlog = workdir / f"{tag}.stderr"
    for stale in (out, result):
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    cmd = [str(python), str(WORKER), "--sdk", sdk, "--steps", str(wl.steps), "--mode", wl.mode,
           "--png-kb", str(wl.png_kb), "--out", str(out), "--result", str(result)]
    if dsn:
        cmd += ["--dsn", dsn]
    if args.close_timeout_s is not None:
        cmd += ["--close-timeout-s", str(args.close_timeout_s)]
    if wl.fsync:
        cmd += ["--fsync"]
    summary: dict[str, Any] = {"workload": wl.name, "sdk": sdk, "ok": False}
    t0 = time.perf_counter()
    with open(errlog, "wb") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err, cwd=str(workdir),
                                env=worker_env(snapshot if sdk != "ref" else None))
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(args.timeout_s, kill)
        timer.start()
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # Ctrl-C: do not leave the worker running
            proc.kill()
            proc.wait()
            raise
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
    summary["wall_s"] = time.perf_counter() - t0
    summary["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux: KiB
    summary["bundle_mb"], summary["files"] = dir_stats(out)
    shutil.rmtree(out, ignore_errors=True)
    if hasattr(os, "sync"):
        os.sync()  # let the next run start on a quiet disk
    if timed_out.is_set():
        summary["error"] = f"did not finish within {args.timeout_s:.0f} s (killed)"
        return summary
    if proc.returncode != 0 or not result.exists():
        tail = errlog.read_text(errors="replace").strip().splitlines()[-1:] or [""]
        why = (f"killed by signal {-proc.returncode}" if proc.returncode < 0
               else f"exit status {proc.returncode}")
        if proc.returncode == -signal.SIGKILL:
            why += " (out of memory?)"
        summary["error"] = f"{why}: {tail[0][:200]}".rstrip(": ")
        return summary
    data = json.loads(result.read_text())
    result.unlink()
    errlog.unlink(missing_ok=True)
    summary["ok"] = True
    summary["sdk_version"] = data["sdk_version"]
    summary["sdk_path"] = data.get("sdk_path")
    summary["python"] = data["python"]
    summary["png_sha256"] = data["png_sha256"]
    calls_s = 0.0
    for call in CALLS:
        values = data[call]
        if not values:
            continue
        calls_s += sum(values) / 1e9
        summary[call] = {"n": len(values), "mean_us": statistics.fmean(values) / 1e3,
                         "p50_us": statistics.median(values) / 1e3, "p99_us": pct(values, .99) / 1e3,
                         "sum_s": sum(values) / 1e9}
        cpu = data.get("cpu", {}).get(call)
        if cpu:  # the agent thread's CPU time per call (SDK runs)
            summary[call]["cpu_p50_us"] = statistics.median(cpu) / 1e3
    summary["open_s"] = data["open_ns"] / 1e9
    summary["close_s"] = data["close_ns"] / 1e9
    summary["loop_s"] = data["loop_ns"] / 1e9
    summary["calls_s"] = calls_s
    summary["sdk_total_s"] = summary["open_s"] + calls_s + summary["close_s"]
    summary["calls_per_step_us"] = calls_s / wl.steps * 1e6
    return summary


# ── servers for the DSN workloads ────────────────────────────────────────────


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_hang_server() -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, str(HANG_SERVER)], stdout=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.isdigit():
        proc.kill()
        raise SystemExit(f"hang server did not start (got {line!r})")
    proc.port = int(line)  # type: ignore[attr-defined]
    return proc


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def dsn_for(kind: str | None, hang_port: int, dead_port: int) -> str | None:
    if kind is None:
        return None
    port = hang_port if kind == "hang" else dead_port
    return f"http://127.0.0.1:{port}/api/v1?token=bench&tenant=bench"


# ── the machine ──────────────────────────────────────────────────────────────


def machine_info(workdir: Path) -> dict[str, str]:
    info = {"cores": str(os.cpu_count()), "os": platform.platform(),
            "python": platform.python_version()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["ram"] = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    try:
        df = subprocess.run(["df", "-hT", str(workdir)], capture_output=True, text=True,
                            check=True).stdout.splitlines()[-1].split()
        device, fstype, size = df[0], df[1], df[2]
        kind = ""
        name = Path(device).name.rstrip("0123456789") if device.startswith("/dev/") else ""
        rot = Path(f"/sys/block/{name}/queue/rotational")
        if name.startswith("vd"):
            kind = "virtio block device"
        if rot.exists():
            kind = (kind + ", " if kind else "") + (
                "rotational" if rot.read_text().strip() == "1" else "non-rotational")
        opts = ""
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if parts[0] == device:
                opts = parts[3]
                break
        info["disk"] = f"{device} {fstype} {size} ({kind}; mount {opts})"
    except (OSError, subprocess.CalledProcessError, IndexError):
        pass
    return info


def git_state() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True, cwd=str(ROOT)).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"],
                               capture_output=True, text=True, check=True,
                               cwd=str(ROOT)).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown commit"
    return f"commit {head}" + (" with uncommitted changes in src/" if dirty else "")


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


# ── aggregation and tables ───────────────────────────────────────────────────


def med(runs: list[dict[str, Any]], *path: str) -> float | None:
    values = []
    for run in runs:
        value: Any = run
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, int | float):
            values.append(float(value))
    return statistics.median(values) if values else None


def fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    if digits == 0 and abs(value) >= 10:
        return f"{value:,.0f}"
    return f"{value:,.{max(digits, 1) if abs(value) < 10 else digits}f}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "—"
    r = a / b
    return f"{r:.2f}x" if r < 10 else f"{r:.0f}x"


class Report:
    def __init__(self, wls: list[Workload], runs: list[dict[str, Any]]) -> None:
        self.wls = wls
        self.runs = runs

    def ok(self, workload: str, sdk: str) -> list[dict[str, Any]]:
        return [r for r in self.runs if r["workload"] == workload and r["sdk"] == sdk and r["ok"]]

    def failed(self, workload: str, sdk: str) -> list[dict[str, Any]]:
        return [r for r in self.runs
                if r["workload"] == workload and r["sdk"] == sdk and not r["ok"]]

    def by_role(self, role: str) -> Workload | None:
        return next((w for w in self.wls if w.role == role), None)

    def value(self, role: str, sdk: str, *path: str) -> float | None:
        wl = self.by_role(role)
        return None if wl is None else med(self.ok(wl.name, sdk), *path)

    def main_table(self) -> list[str]:
        head = ["workload", "SDK", "runs"]
        for call in CALLS:
            head.append(f"{call} µs mean / p50 / p99")
        head += ["SDK time s (calls + close)", "close() s", "process wall s", "peak RSS MB",
                 "bundle MB", "files"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for wl in self.wls:
            if wl.sdks == ("floor",):
                continue
            rows: dict[str, list[dict[str, Any]]] = {s: self.ok(wl.name, s) for s in wl.sdks}
            for sdk in wl.sdks:
                runs = rows[sdk]
                fails = self.failed(wl.name, sdk)
                count = f"{len(runs)}/{len(runs) + len(fails)}"
                if not runs:
                    reason = fails[0]["error"] if fails else "not run"
                    lines.append(f"| {wl.name} | {SDK_LABEL[sdk]} | {count} | did not finish: "
                                 f"{reason} |" + " |" * (len(head) - 4))
                    continue
                cells = [wl.name, SDK_LABEL[sdk], count]
                for call in CALLS:
                    m, p50, p99 = (med(runs, call, k) for k in ("mean_us", "p50_us", "p99_us"))
                    cells.append("—" if m is None else f"{fmt(m)} / {fmt(p50)} / {fmt(p99)}")
                cells += [fmt(med(runs, "sdk_total_s"), 2), fmt(med(runs, "close_s"), 2),
                          fmt(med(runs, "wall_s"), 1), fmt(med(runs, "peak_rss_mb")),
                          fmt(med(runs, "bundle_mb")), fmt(med(runs, "files"))]
                lines.append("| " + " | ".join(cells) + " |")
            ours, ref = rows.get("ours", []), rows.get("ref", [])
            if ours and ref:
                cells = [wl.name, "**ours / 0.6.1**", ""]
                for call in CALLS:
                    parts = [ratio(med(ours, call, k), med(ref, call, k))
                             for k in ("mean_us", "p50_us", "p99_us")]
                    cells.append("—" if parts[0] == "—" else " / ".join(parts))
                for key in ("sdk_total_s", "close_s", "wall_s", "peak_rss_mb", "bundle_mb",
                            "files"):
                    cells.append(ratio(med(ours, key), med(ref, key)))
                lines.append("| " + " | ".join(cells) + " |")
        return lines

    def floor_table(self) -> list[str]:
        head = ["workload", "call", "floor p50 µs", "ours p50 µs", "ours / floor (p50)",
                "floor mean µs", "ours mean µs", "ours / floor (mean)", "0.6.1 p50 µs"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for wl in self.wls:
            if wl.sdks == ("floor",):
                continue
            floor_role = "floor-meta" if wl.mode == "metadata" else "floor-shots"
            floor_wl = self.by_role(floor_role)
            if floor_wl is None:
                continue
            floor = self.ok(floor_wl.name, "floor")
            ours = self.ok(wl.name, "ours")
            ref = self.ok(wl.name, "ref")
            for call in CALLS:
                fp50, fmean = med(floor, call, "p50_us"), med(floor, call, "mean_us")
                op50, omean = med(ours, call, "p50_us"), med(ours, call, "mean_us")
                if op50 is None and fp50 is None:
                    continue
                if fp50 is None:
                    note = "— (nothing to record in this mode)"
                    lines.append(f"| {wl.name} | {call} | {note} | {fmt(op50)} | — | — | "
                                 f"{fmt(omean)} | — | {fmt(med(ref, call, 'p50_us'))} |")
                    continue
                lines.append(f"| {wl.name} | {call} | {fmt(fp50)} | {fmt(op50)} | "
                             f"{ratio(op50, fp50)} | {fmt(fmean)} | {fmt(omean)} | "
                             f"{ratio(omean, fmean)} | {fmt(med(ref, call, 'p50_us'))} |")
        return lines

    def targets(self) -> list[str]:
        lines = ["| target | measured | met? |", "|---|---|---|"]

        def row(target: str, measured: str, ok: bool | None) -> None:
            verdict = "n/a" if ok is None else ("yes" if ok else "**no**")
            lines.append(f"| {target} | {measured} | {verdict} |")

        small, large = self.by_role("shots-small"), self.by_role("shots-large")
        rss_small = self.value("shots-small", "ours", "peak_rss_mb")
        rss_large = self.value("shots-large", "ours", "peak_rss_mb")
        ref_large = self.value("shots-large", "ref", "peak_rss_mb")
        if large and rss_large is not None:
            row(f"peak RSS at {large.steps:,} screenshot steps < 100 MB",
                f"{rss_large:.0f} MB (0.6.1: {fmt(ref_large)} MB)", rss_large < 100)
        if small and large and rss_small is not None and rss_large is not None:
            growth = rss_large - rss_small
            row(f"peak RSS flat from {small.steps:,} to {large.steps:,} steps (growth ≤ 10%)",
                f"{rss_small:.0f} → {rss_large:.0f} MB ({growth:+.0f} MB)",
                growth <= 0.10 * rss_small)
        for role in ("shots-large", "meta"):
            wl = self.by_role(role)
            close = self.value(role, "ours", "close_s")
            if wl is not None and close is not None:
                row(f"close() < 1 s at {wl.name}",
                    f"{close:.2f} s (0.6.1: {fmt(self.value(role, 'ref', 'close_s'), 2)} s)",
                    close < 1.0)
        for role in ("shots-small", "shots-base", "shots-large", "meta"):
            wl = self.by_role(role)
            ours, ref = (self.value(role, s, "sdk_total_s") for s in ("ours", "ref"))
            if wl is not None and ours is not None:
                row(f"SDK time (calls + close) ≤ ½ of 0.6.1's at {wl.name}",
                    f"{ours:.2f} s vs {fmt(ref, 2)} s ({ratio(ours, ref)})",
                    None if ref is None else ours <= 0.5 * ref)
        for role in ("shots-base", "meta"):
            wl = self.by_role(role)
            floor_role = "floor-meta" if role == "meta" else "floor-shots"
            ours = self.value(role, "ours", "record_step", "p50_us")
            floor = self.value(floor_role, "floor", "record_step", "p50_us")
            if wl is not None and ours is not None and floor:
                row(f"record_step p50 ≤ 2x floor ({wl.name})",
                    f"{ours:.0f} µs vs {floor:.0f} µs ({ratio(ours, floor)})", ours <= 2 * floor)
        ours = self.value("shots-base", "ours", "attach_observation", "p50_us")
        floor = self.value("floor-shots", "floor", "attach_observation", "p50_us")
        base = self.by_role("shots-base")
        if base is not None and ours is not None and floor:
            row(f"attach_observation p50 ≤ 1.3x floor ({base.name})",
                f"{ours:.0f} µs vs {floor:.0f} µs ({ratio(ours, floor)})", ours <= 1.3 * floor)
        plain = self.value("shots-base", "ours", "calls_per_step_us")
        for role in ("dsn-closed", "dsn-hang"):
            wl = self.by_role(role)
            with_dsn = self.value(role, "ours", "calls_per_step_us")
            if wl is not None and with_dsn is not None and plain:
                ref_plain = self.value("shots-base", "ref", "calls_per_step_us")
                ref_dsn = self.value(role, "ref", "calls_per_step_us")
                row(f"{wl.name}: per-call cost within 10% of no DSN (SDK call time per step)",
                    f"{with_dsn:,.0f} vs {plain:,.0f} µs/step ({ratio(with_dsn, plain)}; 0.6.1: "
                    f"{ratio(ref_dsn, ref_plain)})", with_dsn <= 1.10 * plain)
        return lines

    def inputs_check(self) -> str:
        shas = {tuple(r["png_sha256"]) for r in self.runs if r.get("ok") and r.get("png_sha256")}
        if len(shas) <= 1:
            return "All workers used byte-identical PNGs (sha256 checked)."
        return f"WARNING: workers used different PNG bytes: {sorted(shas)}"


# ── main ─────────────────────────────────────────────────────────────────────


def ensure_ref(args: argparse.Namespace) -> Path:
    python = Path(args.ref_python) if args.ref_python else REF_PYTHON
    if not args.ref_python:
        subprocess.run(["bash", str(REF_INSTALLER)], check=True, cwd=str(ROOT))
    version = subprocess.run([str(python), "-c", "import augur_sdk; print(augur_sdk.__version__)"],
                             capture_output=True, text=True, check=True, env=worker_env(),
                             cwd="/").stdout.strip()
    if version != "0.6.1":
        raise SystemExit(f"{python} has augur_sdk {version!r}, expected 0.6.1")
    return python


def ensure_ours(args: argparse.Namespace) -> Path:
    python = Path(args.ours_python) if args.ours_python else (
        OURS_PYTHON if OURS_PYTHON.exists() else Path(sys.executable))
    probe = "import augur_sdk, augur_sdk.testing; print(augur_sdk.__version__)"
    proc = subprocess.run([str(python), "-c", probe], capture_output=True, text=True,
                          env=worker_env(), cwd="/")
    if proc.returncode != 0:
        raise SystemExit(f"{python} cannot import augur-otel's augur_sdk; run "
                         "`pip install -e .` into it (./benchmarks/run.sh does)")
    return python


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small workloads (20/100/300 screenshot steps, 1,000 metadata "
                             "steps, DSN at 100) and 2 repetitions: a 2-3 minute smoke run")
    parser.add_argument("--reps", type=int, default=None,
                        help="repetitions of every workload (default 3; 2 with --quick)")
    parser.add_argument("--only", default="",
                        help="comma-separated workload roles to run, e.g. shots-base,dsn-hang "
                             "(roles: shots-small, shots-base, shots-large, meta, dsn-closed, "
                             "dsn-hang, floor-shots, floor-meta, fsync)")
    parser.add_argument("--timeout-s", type=float, default=900.0,
                        help="kill a worker that runs longer than this (reported as not finished)")
    parser.add_argument("--close-timeout-s", type=float, default=5.0,
                        help="close_timeout_s passed to augur-otel (its default is 5 s)")
    parser.add_argument("--workdir", default=None,
                        help="where bundles are written (default: a fresh temp dir); "
                             "needs ~7 GB free for the 3,000-step workload")
    parser.add_argument("--out", default=None,
                        help="markdown results file (default: benchmarks/results/latest.md "
                             "for a full run, none for --quick)")
    parser.add_argument("--with-fsync", action="store_true",
                        help="also run the base screenshot workload through augur-otel with "
                             "fsync=True (0.6.1 fsyncs every file at close; augur-otel only "
                             "when asked)")
    parser.add_argument("--live-source", action="store_true",
                        help="import augur-otel from the working tree in every run instead of "
                             "from a snapshot of src/ taken at start")
    parser.add_argument("--ours-python", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--ref-python", default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds: the running worker and the hang server are stopped


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, _terminate)
    reps = args.reps if args.reps is not None else (2 if args.quick else 3)
    wls = workloads(args.quick, args.with_fsync)
    if args.only:
        roles = {r.strip() for r in args.only.split(",") if r.strip()}
        wls = [w for w in wls if w.role in roles]
    ref_python = ensure_ref(args)
    ours_python = ensure_ours(args)
    own_workdir = args.workdir is None
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="augur-compare-"))
    workdir.mkdir(parents=True, exist_ok=True)
    command = "./benchmarks/run.sh" + "".join(f" {a}" for a in sys.argv[1:])
    source = git_state()
    snapshot = None if args.live_source else snapshot_source(workdir)
    info = machine_info(workdir)
    started = dt.datetime.now(dt.UTC)
    load_before = loadavg()
    print(f"# augur-otel vs augur-sdk 0.6.1 vs the floor — {started:%Y-%m-%d %H:%M} UTC",
          flush=True)
    print(f"\n{reps} repetition(s), {len(wls)} workloads; progress on stderr.\n", flush=True)
    hang = start_hang_server()
    dead = closed_port()
    runs: list[dict[str, Any]] = []
    pythons = {"ours": ours_python, "floor": ours_python, "ref": ref_python}
    t_all = time.perf_counter()
    try:
        for rep in range(reps):
            for wl in wls:
                order = list(wl.sdks) if rep % 2 == 0 else list(reversed(wl.sdks))
                for sdk in order:
                    if wl.dsn == "hang" and hang.poll() is not None:
                        hang = start_hang_server()  # it died: a hang run must not become a closed port
                    dsn = dsn_for(wl.dsn, hang.port, dead)  # type: ignore[attr-defined]
                    summary = run_worker(pythons[sdk], sdk, wl, dsn, args, workdir, snapshot)
                    summary["rep"] = rep
                    runs.append(summary)
                    status = "ok" if summary["ok"] else f"FAILED: {summary['error']}"
                    print(f"[rep {rep + 1}/{reps}] {wl.name:<18} {SDK_LABEL[sdk]:<16} "
                          f"wall {summary['wall_s']:7.1f} s  RSS {summary['peak_rss_mb']:7.0f} MB"
                          f"  {status}  (elapsed {time.perf_counter() - t_all:6.0f} s)",
                          file=sys.stderr, flush=True)
    finally:
        stop(hang)
        if own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.perf_counter() - t_all
    report = Report(wls, runs)
    versions = {PACKAGE[r["sdk"]]: f"{r['sdk_version']} (Python {r['python']})"
                for r in runs if r.get("ok") and r["sdk"] != "floor"}
    out: list[str] = [
        f"# augur-otel vs augur-sdk 0.6.1 vs the floor — {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"Command: `{command}` — {reps} repetition(s), medians reported; total "
        f"{elapsed / 60:.1f} min.",
        "",
        "Machine: " + "; ".join(f"{k} {v}" for k, v in info.items()) + ".",
        f"Load average before / after: {load_before} / {loadavg()}.",
        "SDKs: " + "; ".join(f"{k} {v}" for k, v in sorted(versions.items()))
        + f"; augur-otel source: {source}.",
        f"augur-otel close_timeout_s={args.close_timeout_s:g}. {report.inputs_check()}",
        "",
        "Every step: two ~1 MB incompressible PNGs (`attach_observation` pre/post), one "
        "`record_step`, one `record_event`; `meta-*` workloads have no screenshots. SDK time "
        "= constructor + `__enter__` + every call + `close()`. Process wall = the worker "
        "process from spawn to exit (interpreter start, imports, PNG generation included). "
        "Peak RSS = `ru_maxrss` of the worker. DSN workloads stream to 127.0.0.1: a closed "
        "port, or a server that accepts and never answers.",
        "",
        "## Per workload",
        "",
        *report.main_table(),
        "",
        "## Against the floor",
        "",
        "Floor: a bare OTel span with the same attributes as our step span, created and ended "
        "on an SDK `TracerProvider` with no processors, plus one atomic write (tmp + "
        "`os.replace`) of the same step JSON; `add_event` with the same attributes plus one "
        "appended JSONL line; one atomic write of the same PNG bytes. Measured in the same "
        "rounds as the SDKs.",
        "",
        *report.floor_table(),
        "",
        "## Targets (issue 7)",
        "",
        *report.targets(),
        "",
    ]
    text = "\n".join(out)
    print(text.split("\n", 1)[1] if text.startswith("# ") else text)
    dest = args.out or (None if args.quick else str(HERE / "results" / "latest.md"))
    if dest:
        path = Path(dest)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        path.with_suffix(".json").write_text(
            json.dumps({"command": command, "machine": info, "reps": reps, "runs": runs},
                       indent=1), encoding="utf-8")
        print(f"\nwritten: {path} (+ {path.with_suffix('.json').name})", file=sys.stderr)


if __name__ == "__main__":
    main()
