"""Every shell sample of docs/*.md and README.md (```bash/```sh, and untagged blocks that start
with a command): `augur` lines run for real on a bundle recorded here, `export` values go through
the SDK's parsers, script/benchmark/pytest lines are checked against the files and their --help,
`pip install` extras against pyproject.toml; any other line fails, so none goes unchecked."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.util.re import parse_env_headers

from augur_sdk.otel import provider
from augur_sdk.stream.dsn import parse_dsn

from s3_support import MotoServer, aws_env, require_moto
from support import ChildLines, run_seed_session

ROOT = Path(__file__).resolve().parents[2]
PAGES = [*sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
SHELL = {"bash", "sh", "shell", "console"}
LOOKS_LIKE_A_COMMAND = re.compile(r"(augur|python|pip|export|echo|\./|\.venv/)\S*( |$)")
USER_PROGRAMS = {"python my_agent.py"}  # the reader's own agent: nothing of ours to run
DONE, KILLED = "augur-runs/run_docs", "augur-runs/run_killed"
ASSIGNMENT = re.compile(r"[A-Z_][A-Z0-9_]*=")
KILLED_PRODUCER = """import sys, time; from support import step_record; import augur_sdk
session = augur_sdk.DebugSession(run_id="run_killed", client_name="docs", capture_mode="trace",
                                 out_dir=sys.argv[1]).start()
for i in range(3): session.record_step(step_record("run_killed", i))
print("ready", flush=True); time.sleep(120)"""


def _blocks() -> list[tuple[str, int, str]]:
    out = []
    for page in PAGES:
        bodies = [body for lang, body in FENCE.findall(page.read_text(encoding="utf-8"))
                  if lang in SHELL or (not lang and LOOKS_LIKE_A_COMMAND.match(body.lstrip()))]
        out += [(page.relative_to(ROOT).as_posix(), n, body) for n, body in enumerate(bodies)]
    return out


def _commands(body: str) -> list[tuple[str, dict[str, str], list[str]]]:
    """(line, env assignments, argv) per command; `# or: X` comments are commands too."""
    out = []
    for line in body.replace("\\\n", " ").splitlines():
        alternative = re.match(r"\s*#\s*or:\s*(.*)", line)
        words = shlex.split(alternative.group(1) if alternative else line, comments=True)
        if words[:1] == ["export"]:
            words = words[1:]
        env = {}
        while words and ASSIGNMENT.match(words[0]):
            name, _, value = words.pop(0).partition("=")
            env[name] = value
        if env or words:
            out.append((line.strip(), env, words))
    return out


BLOCKS = _blocks()


def _cli(*args: str, cwd: Path,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "augur_sdk.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env=None if env is None else {**os.environ, **env})


def _start(args: list[str], cwd: Path, log: Path,
           env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("w") as out:
        return subprocess.Popen([sys.executable, "-m", "augur_sdk.cli", *args], cwd=cwd,
                                stdout=out, stderr=subprocess.STDOUT,
                                env=None if env is None else {**os.environ, **env})


_S3_SERVERS: dict[Path, tuple[MotoServer, dict[str, str]]] = {}


def _s3(tmp_path: Path) -> tuple[MotoServer, dict[str, str]]:
    """A moto server on loopback with the docs' bucket, and the AWS environment for it."""
    if tmp_path not in _S3_SERVERS:
        require_moto()
        server = MotoServer(tmp_path)
        _S3_SERVERS[tmp_path] = (server, aws_env(server.endpoint, tmp_path))
        server.start(bucket="my-bucket")
    return _S3_SERVERS[tmp_path]


def _upload(args: list[str], tmp_path: Path) -> None:
    """`augur upload BUNDLE [s3://...]`: the bundle ends up whole at the destination (without
    one: the destination its upload.json names, from an earlier upload)."""
    server, env = _s3(tmp_path)
    destination = next((a for a in args if a.startswith("s3://")), None)
    if destination is None:
        destination = "s3://my-bucket/prod/run_docs"
        assert _cli("upload", args[1], destination, cwd=tmp_path, env=env).returncode == 0
    proc = _cli(*args, cwd=tmp_path, env=env)
    assert proc.returncode == 0 and "complete:" in proc.stdout, proc.stdout + proc.stderr
    bucket, _, prefix = destination.removeprefix("s3://").partition("/")
    local = {p.relative_to(tmp_path / args[1]).as_posix(): p.read_bytes()
             for p in (tmp_path / args[1]).rglob("*") if p.is_file()}
    assert server.objects(bucket, prefix) == local


def _view_s3(args: list[str], tmp_path: Path) -> None:
    """`augur view s3://BUCKET/PREFIX`: the recorded run is uploaded there (as the prefix
    when it names a run, else under it), then listed or opened over HTTP."""
    _, env = _s3(tmp_path)
    single = re.search(r"/run_\w+$", args[1]) is not None
    target = args[1] if single else args[1].rstrip("/") + "/run_docs"
    assert _cli("upload", DONE, target, cwd=tmp_path, env=env).returncode == 0
    args = [*_with_option(_with_option(args, "--port", "0"), "--cache-dir", "s3-cache"),
            "--no-open"]
    proc = _start(args, tmp_path, log := tmp_path / "view-s3.out", env=env)
    try:
        def url() -> str | None:
            found = re.search(r"http://127\.0\.0\.1:\d+/", log.read_text())
            return found.group(0) if found else None
        base = _wait_for(url, proc, log)
        if single:
            status, index = _get(base + "api/index")
            assert status == 200 and json.loads(index)["steps"]
        else:
            status, index = _get(base + "api/runs")
            assert status == 200 and "run_docs" in index
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _wait_for(probe: Callable[[], str | None], proc: subprocess.Popen[Any], log: Path) -> str:
    deadline = time.monotonic() + 30
    while (found := probe()) is None:
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    return found


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=auth), timeout=10) \
                as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except urllib.error.URLError:
        return 0, ""


def _with_option(args: list[str], flag: str, value: str) -> list[str]:
    """`args` with `flag value` set to `value` (replaced, or appended)."""
    i = args.index(flag) if flag in args else len(args)
    return [*args[:i], flag, value, *args[i + 2:]]


def _target(arg: str, sub: str, tmp_path: Path) -> str:
    """A docs placeholder as a real path: a bundle, its folder, or a serve data dir."""
    if arg == "BUNDLE" or re.fullmatch(r"augur-runs/[^/]+/?", arg):
        return KILLED if sub == "recover" else DONE
    if arg.rstrip("/") == "augur-runs":
        return "augur-runs"
    if sub == "view" and Path(arg).name == "augur-data":
        shutil.copytree(tmp_path / DONE, tmp_path / "augur-data" / "acme" / "run_docs",
                        dirs_exist_ok=True)
        return "augur-data"
    return arg


def _augur(args: list[str], tmp_path: Path, fault_server: Any) -> None:
    sub = args[0]
    args = [_target(a, sub, tmp_path) for a in args]
    if sub == "validate":
        proc = _cli(*args, cwd=tmp_path)
        assert proc.returncode == 0 and "valid:" in proc.stdout, proc.stdout + proc.stderr
    elif sub == "recover":  # on a bundle whose producer is SIGKILLed mid-run
        producer = subprocess.Popen([sys.executable, "-c", KILLED_PRODUCER, tmp_path / KILLED],
                                    stdout=subprocess.PIPE, text=True,
                                    env=dict(os.environ, PYTHONPATH=str(ROOT / "tests")))
        try:
            assert producer.stdout is not None
            first = ChildLines(producer.stdout).next(timeout_s=60)
            assert first is not None and first.strip() == "ready", first
        finally:
            os.kill(producer.pid, signal.SIGKILL)
            producer.wait(timeout=10)
        assert _cli("validate", KILLED, cwd=tmp_path).returncode == 1  # unfinished
        proc = _cli(*args, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert _cli("validate", KILLED, cwd=tmp_path).returncode == 0
        trace = json.loads((tmp_path / KILLED / "trace.json").read_text())
        assert trace["session"]["status"] == "halted"
        assert "3 steps, status halted" in proc.stdout
    elif sub == "upload":
        _upload(args, tmp_path)
    elif sub == "view" and args[1].startswith("s3://"):
        _view_s3(args, tmp_path)
    elif sub == "view" and "--export" in args:
        proc = _cli(*args, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        html = (tmp_path / args[args.index("--export") + 1]).read_text(encoding="utf-8")
        assert "<html" in html.lower()
    elif sub == "view":
        _view([*_with_option(args, "--port", "0"), "--no-open"], tmp_path)
    elif sub == "diff":  # the recorded run against itself: the same, exit 0
        proc = _cli(*args, cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert '"same": true' in proc.stdout if "--json" in args else "same:" in proc.stdout
    elif sub in ("diagnose", "summarize"):  # the recorded run, or the folder holding it
        proc = _cli(*args, cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        if "--json" in args:
            json.loads(proc.stdout)
        if sub == "diagnose" and "--no-write" not in args:
            written = tmp_path / DONE / "diagnostics" / "findings.json"
            assert written.is_file(), proc.stdout
            assert _cli("validate", DONE, cwd=tmp_path).returncode == 0
    elif sub == "import":  # a log of a real-shaped run (built with the provider's SDK types)
        import provider_logs
        log = tmp_path / args[2]
        log.parent.mkdir(parents=True, exist_ok=True)
        getattr(provider_logs, f"{args[1]}_log")(log)
        proc = _cli(*args, cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "3 steps, 4 model calls" in proc.stdout
    elif sub == "serve":
        _serve(_with_option(_with_option(args, "--port", "0"), "--port-file", "serve.port"),
               tmp_path)
    elif sub == "intervene":
        _intervene(args, tmp_path)
    elif sub == "export-otlp":
        receiver = fault_server("ok")
        args = _with_option(args, "--endpoint", f"http://127.0.0.1:{receiver.port}")
        proc = _cli(*args, cwd=tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert any(r["path"] == "/v1/traces" for r in receiver.requests())
    else:
        pytest.fail(f"no check for `augur {sub}`")


def _view(args: list[str], tmp_path: Path) -> None:
    proc = _start(args, tmp_path, log := tmp_path / "view.out")
    try:
        def url() -> str | None:
            found = re.search(r"http://127\.0\.0\.1:\d+/", log.read_text())
            return found.group(0) if found else None
        base = _wait_for(url, proc, log)
        status, page = _get(base)
        assert status == 200 and "<html" in page.lower()
        if "--compare" in args:  # two runs side by side, each with its step API
            assert 'id="augur-compare"' in page
            status, index = _get(base + "runs/b/api/index")
            assert status == 200 and json.loads(index)["steps"]
        elif args[1] in (DONE, KILLED):
            status, index = _get(base + "api/index")
            assert status == 200 and json.loads(index)["steps"]
        else:  # a folder: the run list, with the recorded run in it
            status, index = _get(base + "api/runs")
            assert status == 200 and "run_docs" in index
        if "--jaeger-url" in args:
            assert args[args.index("--jaeger-url") + 1].rstrip("/") in index
    finally:
        _stop(proc)


def _serve(args: list[str], tmp_path: Path) -> None:
    port_file = tmp_path / "serve.port"
    proc = _start(args, tmp_path, log := tmp_path / "serve.out")
    try:
        def port() -> str | None:
            return port_file.read_text().strip() or None if port_file.exists() else None
        base = f"http://127.0.0.1:{_wait_for(port, proc, log)}"
        # The port file is written at bind(), a moment before uvicorn listens.
        _wait_for(lambda: "ok" if _get(base + "/healthz")[0] == 200 else None, proc, log)
        if "--tokens" in args:  # the token file the sample wrote is the one in force
            tenants = json.loads((tmp_path / args[args.index("--tokens") + 1]).read_text())
            token = next(iter(tenants["tenants"].values()))[0]
            assert _get(base + "/api/runs")[0] == 401
            assert _get(base + "/api/runs", token)[0] == 200
    finally:
        _stop(proc)


def _intervene(args: list[str], tmp_path: Path) -> None:
    """`augur intervene RUN CMD --dsn DSN`: against a real `augur serve` on which the DSN's
    token is a control token of its tenant and RUN is running, the command is issued (exit
    0) and the run's next poll gets it."""
    dsn = parse_dsn(args[args.index("--dsn") + 1])
    tenant = dsn.tenant or "default"
    (tmp_path / "iv-tokens.json").write_text(json.dumps({"tenants": {tenant: [
        "iv-agent", {"token": dsn.token, "role": "control"}]}}))
    port_file = tmp_path / "iv.port"
    port_file.unlink(missing_ok=True)
    data = f"iv-data-{len(list(tmp_path.glob('iv-data-*')))}"  # a fresh server per line
    proc = _start(["serve", "--data", data, "--port", "0", "--port-file", str(port_file),
                   "--tokens", "iv-tokens.json", "--commands-hold", "0.1"], tmp_path,
                  log := tmp_path / "iv-serve.out")
    try:
        def port() -> str | None:
            return port_file.read_text().strip() or None if port_file.exists() else None
        base = f"http://127.0.0.1:{_wait_for(port, proc, log)}"
        _wait_for(lambda: "ok" if _get(base + "/healthz")[0] == 200 else None, proc, log)
        beat = urllib.request.Request(
            base + "/heartbeat", data=json.dumps({"client_id": "c", "run_id": args[1]}).encode(),
            headers={"Authorization": "Bearer iv-agent", "Content-Type": "application/json"})
        with urllib.request.urlopen(beat, timeout=10) as resp:
            assert resp.status == 200
        query = urllib.parse.urlsplit(args[args.index("--dsn") + 1]).query
        local = _with_option(args, "--dsn", f"{base}?{query}")
        proc_cli = _cli(*local, "--json", cwd=tmp_path)
        assert proc_cli.returncode == 0, proc_cli.stderr
        kind = json.loads(proc_cli.stdout)["type"]
        status, body = _get(f"{base}/runs/{args[1]}/commands", "iv-agent")
        assert status == 200 and [c["type"] for c in json.loads(body)["commands"]] == [kind]
    finally:
        _stop(proc)


def _check_env_value(name: str, value: str) -> None:
    if name == "AUGUR_DSN":
        dsn = parse_dsn(value)
        assert dsn.tenant, "the DSN names no tenant"
    elif name == "OTEL_EXPORTER_OTLP_ENDPOINT":
        otlp = provider.resolve_otlp(provider.Settings(), env={name: value})
        assert otlp is not None and otlp.endpoint == value
    elif name == "OTEL_EXPORTER_OTLP_HEADERS":
        from starlette.requests import Request

        from augur_sdk.server.guards import request_token
        headers = parse_env_headers(value, liberal=True)
        assert headers, f"{value!r} parses to no header"
        scope = {"type": "http", "query_string": b"",
                 "headers": [(k.encode(), v.encode()) for k, v in headers.items()]}
        assert request_token(Request(scope)), "augur serve does not read a token from it"
    else:
        pytest.fail(f"no parser check for {name}")


@cache
def _help(script: str) -> str:
    """`--help` of a script (run.sh hands its arguments to compare.py; run.sh itself may
    install augur-sdk 0.6.1 before it gets there)."""
    if script == "benchmarks/run.sh":
        assert 'benchmarks/compare.py "$@"' in (ROOT / script).read_text()
        script = "benchmarks/compare.py"
    argv = ["-m", "pytest"] if script == "pytest" else [str(ROOT / script)]
    proc = subprocess.run([sys.executable, *argv, "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _check_tool(argv: list[str], env: dict[str, str]) -> None:
    """A script, benchmark or pytest line: files exist, flags and env vars are real."""
    pytest_run = argv[0] == ".venv/bin/pytest"
    script = argv[1] if argv[0] in ("python", ".venv/bin/python") else argv[0].removeprefix("./")
    targets = [a for a in argv[1:] if not a.startswith("-")] if pytest_run else [script]
    for target in targets:
        assert (ROOT / target).exists(), f"{target} does not exist"
    if argv[0].startswith("./"):
        assert os.access(ROOT / script, os.X_OK), f"{script} is not executable"
    for flag in (a.partition("=")[0] for a in argv[1:] if a.startswith("-")):
        assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])",
                         _help("pytest" if pytest_run else script)), f"{flag} is not an option"
    files = [f for t in targets for f in ((ROOT / t).rglob("*.py") if (ROOT / t).is_dir()
                                          else [ROOT / t])]
    for name in env:
        pattern = re.compile(rf"(environ\.get\(|environ\[|getenv\()\s*['\"]{name}['\"]")
        assert any(pattern.search(f.read_text(encoding="utf-8")) for f in files), \
            f"{name} is not read by {targets}"


def _check_pip(argv: list[str]) -> None:
    """`pip install` of the checkout (`-e .`, `-e ".[extra]"`) or of the wheel `pip wheel`
    builds there; `pip wheel --no-deps -w dist .` itself. augur-otel is on no package index,
    so a line installing it by name would fail for the reader: it fails here."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wheel = f"dist/{project['name'].replace('-', '_')}-{_version()}-py3-none-any.whl"
    if argv[:2] == ["pip", "wheel"]:
        assert argv[2:] == ["--no-deps", "-w", "dist", "."], argv
        return
    assert argv[:2] == ["pip", "install"] and len(argv) > 2
    words = argv[2:]
    if words[0] == "-e":
        words = words[1:]
        assert len(words) == 1 and re.fullmatch(r"\.(\[.*\])?", words[0]), argv
    for requirement in words:
        match = re.fullmatch(r"([\w./-]+?)(?:\[([\w,\s-]*)\])?", requirement)
        assert match, f"cannot read the requirement {requirement!r}"
        name, extras = match.groups()
        assert name in (".", wheel), (
            f"`pip install {requirement}`: {project['name']} is on no package index; install "
            f"the checkout (pip install -e .) or {wheel}")
        for extra in filter(None, (e.strip() for e in (extras or "").split(","))):
            assert extra in project["optional-dependencies"], f"no extra [{extra}]"


@cache
def _version() -> str:
    text = (ROOT / "src" / "augur_sdk" / "_version.py").read_text()
    found = re.search(r'__version__ = "([^"]+)"', text)
    assert found
    return found.group(1)


def test_there_are_shell_samples() -> None:
    """The extractor finds the shell blocks, and USER_PROGRAMS names only lines in the docs."""
    assert len(BLOCKS) >= 15
    assert {p for p, _, _ in BLOCKS} >= {"README.md", "docs/quickstart.md", "docs/server.md",
                                         "docs/viewer.md", "docs/reliability.md"}
    lines = {" ".join(argv) for _, _, body in BLOCKS for _, _, argv in _commands(body)}
    assert lines >= USER_PROGRAMS


@pytest.mark.parametrize(("page", "n", "body"), BLOCKS, ids=[f"{p}#{n}" for p, n, _ in BLOCKS])
def test_shell_sample_works(page: str, n: int, body: str, tmp_path: Path,
                            fault_server: Any) -> None:
    """Each command of the block does what it says (augur runs, values parse, files exist)."""
    commands = _commands(body)
    assert commands, f"{page}#{n} has no command"
    if any(argv[:1] == ["augur"] for _, _, argv in commands):
        run_seed_session(tmp_path / DONE, steps=3)
        provider.reset(timeout_s=1.0)
    try:
        _run_commands(page, n, commands, tmp_path, fault_server)
    finally:
        server = _S3_SERVERS.pop(tmp_path, None)
        if server is not None:
            server[0].stop()


def _run_commands(page: str, n: int, commands: list[tuple[str, dict[str, str], list[str]]],
                  tmp_path: Path, fault_server: Any) -> None:
    for line, env, argv in commands:
        if not argv:
            for name, value in env.items():
                _check_env_value(name, value)
        elif argv[0] == "augur":
            assert not env, line
            _augur(argv[1:], tmp_path, fault_server)
        elif argv[0] == "echo":
            subprocess.run(["bash", "-c", line], cwd=tmp_path, check=True, timeout=10)
        elif argv[0] == "pip":
            _check_pip(argv)
        elif " ".join(argv) in USER_PROGRAMS:
            pass  # the reader's agent; the export before it was checked
        elif re.match(r"\./|\.venv/bin/pytest |(\.venv/bin/)?python (benchmarks|examples)/",
                      " ".join(argv)):
            _check_tool(argv, env)
        else:
            pytest.fail(f"{page}#{n}: no check for this kind of line: {line}")
