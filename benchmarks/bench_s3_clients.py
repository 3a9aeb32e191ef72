"""Which S3 client library the object-storage store is built on (issue 23): boto3, obstore
and s3fs, measured on the same bundle-shaped workload against one moto server on loopback.

For each library installed in this interpreter, a fresh child process:

* imports the library and builds a client (import + setup time, RSS after import);
* PUTs the same files (per step: a 2.5 KB step JSON, a 1 KB JSONL, two PNG-sized blobs) with
  8 concurrent requests, and reports wall time, the child's own CPU time (the server runs in
  another process, so this is the client's cost) and its peak RSS;
* PUTs one object to a closed port with the library's timeouts and retries set as our store
  would set them (connect 1 s, 2 attempts), and reports how long the failure took.

Rounds alternate the libraries so a slow moment of the machine is shared. Libraries that are
not installed are skipped (obstore and s3fs are not dependencies of augur-otel):

    pip install boto3 obstore "moto[server]"      # s3fs in a venv of its own: it pins botocore
    python benchmarks/bench_s3_clients.py --steps 100 --png-kb 200 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

LIBS = ("boto3", "obstore", "s3fs")
BUCKET = "bench"

CHILD = r'''
import json, os, resource, sys, time
t0 = time.perf_counter()
lib, endpoint, files_json, dead = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
spec = json.loads(files_json)
files = [(f"run/{name}", os.urandom(8) * (size // 8)) for name, size in spec]
cpu0 = time.process_time()
t_import = time.perf_counter()
if lib == "boto3":
    import boto3
    from botocore.config import Config
    from concurrent.futures import ThreadPoolExecutor
    cfg = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=1,
                 read_timeout=10, max_pool_connections=8)
    client = boto3.session.Session().client("s3", endpoint_url=endpoint, config=cfg)
    dead_client = boto3.session.Session().client("s3", endpoint_url=dead, config=cfg)
    def put_all():
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda kv: client.put_object(Bucket="bench", Key=kv[0], Body=kv[1]), files))
    def put_dead():
        dead_client.put_object(Bucket="bench", Key="x", Body=b"x")
elif lib == "obstore":
    import obstore
    from obstore.store import S3Store
    from concurrent.futures import ThreadPoolExecutor
    opts = dict(config={"endpoint": endpoint, "allow_http": True}, client_options={
        "allow_http": True, "connect_timeout": "1s", "timeout": "10s"},
        retry_config={"max_retries": 1, "retry_timeout": __import__("datetime").timedelta(seconds=2)})
    store = S3Store("bench", **opts)
    opts["config"] = {"endpoint": dead, "allow_http": True}
    dead_store = S3Store("bench", **opts)
    def put_all():
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda kv: obstore.put(store, kv[0], kv[1]), files))
    def put_dead():
        obstore.put(dead_store, "x", b"x")
else:
    import s3fs
    fs = s3fs.S3FileSystem(endpoint_url=endpoint, config_kwargs={
        "connect_timeout": 1, "read_timeout": 10, "retries": {"max_attempts": 2}},
        max_concurrency=8, skip_instance_cache=True)
    dead_fs = s3fs.S3FileSystem(endpoint_url=dead, config_kwargs={
        "connect_timeout": 1, "read_timeout": 10, "retries": {"max_attempts": 2}},
        skip_instance_cache=True)
    def put_all():
        fs.pipe({f"bench/{k}": v for k, v in files}, batch_size=8)
    def put_dead():
        dead_fs.pipe_file("bench/x", b"x")
import_s = time.perf_counter() - t_import
rss_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
cpu1 = time.process_time()
t = time.perf_counter()
put_all()
put_s = time.perf_counter() - t
put_cpu = time.process_time() - cpu1
t = time.perf_counter()
err = ""
try:
    put_dead()
except Exception as exc:
    err = type(exc).__name__
dead_s = time.perf_counter() - t
print(json.dumps({"import_s": import_s, "put_s": put_s, "put_cpu_s": put_cpu,
                  "rss_import_mb": rss_import / 1024,
                  "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "dead_s": dead_s, "dead_error": err,
                  "bytes": sum(len(v) for _, v in files), "files": len(files)}))
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_moto(port: int) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto_server did not start")


def workload(steps: int, png_kb: int) -> list[tuple[str, int]]:
    files = []
    for i in range(steps):
        files += [(f"steps/{i:04d}.json", 2560), (f"events/{i:04d}.jsonl", 1024),
                  (f"screenshots/{i:04d}_pre.png", png_kb * 1024),
                  (f"screenshots/{i:04d}_post.png", png_kb * 1024)]
    return files


def available(lib: str) -> bool:
    code = f"import {lib}"
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--png-kb", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--libs", default=",".join(LIBS), help="comma-separated (default: all)")
    ap.add_argument("--json", action="store_true", help="print the raw results as JSON")
    args = ap.parse_args()
    libs = [lib for lib in args.libs.split(",") if lib in LIBS and available(lib)]
    port, dead = free_port(), free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}
    proc = start_moto(port)
    endpoint = f"http://127.0.0.1:{port}"
    results: dict[str, list[dict[str, float]]] = {lib: [] for lib in libs}
    try:
        import boto3
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                     aws_access_key_id="bench", aws_secret_access_key="bench"
                     ).create_bucket(Bucket=BUCKET)
        spec = json.dumps(workload(args.steps, args.png_kb))
        for _ in range(args.rounds):
            for lib in libs:
                out = subprocess.run([sys.executable, "-c", CHILD, lib, endpoint, spec,
                                      f"http://127.0.0.1:{dead}"], capture_output=True,
                                     text=True, env=env, timeout=600)
                if out.returncode != 0:
                    raise SystemExit(f"{lib} failed:\n{out.stderr[-2000:]}")
                results[lib].append(json.loads(out.stdout))
    finally:
        proc.kill()
        proc.wait()
    if args.json:
        print(json.dumps(results, indent=2))
        return
    first = next(iter(results.values()))[0]
    print(f"{first['files']} files, {first['bytes'] / 1e6:.1f} MB, 8 concurrent PUTs to "
          f"moto on loopback; median of {args.rounds} rounds\n")
    print("| library | import + client | RSS after import | PUT wall | MB/s | client CPU "
          "| CPU ms / PUT | peak RSS | PUT to a closed port |")
    print("|---|---|---|---|---|---|---|---|---|")
    for lib, rows in results.items():
        def med(key: str, rows: list[dict[str, float]] = rows) -> float:
            return statistics.median(r[key] for r in rows)
        print(f"| {lib} | {med('import_s') * 1000:.0f} ms | {med('rss_import_mb'):.0f} MB "
              f"| {med('put_s'):.2f} s | {first['bytes'] / 1e6 / med('put_s'):.1f} "
              f"| {med('put_cpu_s'):.2f} s | {med('put_cpu_s') * 1000 / first['files']:.2f} "
              f"| {med('rss_peak_mb'):.0f} MB | {med('dead_s'):.2f} s "
              f"({rows[0]['dead_error']}) |")


if __name__ == "__main__":
    main()
