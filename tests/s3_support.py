"""A real S3-compatible server for tests: moto's server mode, started on loopback as a
subprocess and stopped by its pid (which is also how a test makes the server go away)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

BUCKET = "augur-runs"
KEY_ID = "AKIATESTSTORE0000001"  # moto takes any credentials; these are ours to look for
SECRET = "tEsTsEcReT/stores+never+in+a+bundle+0001"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """One moto server process on 127.0.0.1; ``stop()`` kills it by pid, ``start()`` runs a
    fresh one (empty: moto keeps its objects in memory) on the same port."""

    def __init__(self, log_dir: Path) -> None:
        self.port = _free_port()
        self.log_dir = log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._client: Any = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, bucket: str | None = BUCKET) -> MotoServer:
        self.starts += 1
        log = open(self.log_dir / f"moto-{self.starts}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from moto.server import main; main()",
             "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.05)
        if bucket:
            self.client().create_bucket(Bucket=bucket)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def client(self) -> Any:
        """The tests' own client (explicit keys: no environment or config file involved)."""
        if self._client is None:
            import boto3

            session = boto3.session.Session(aws_access_key_id=KEY_ID,
                                            aws_secret_access_key=SECRET,
                                            region_name="us-east-1")
            self._client = session.client("s3", endpoint_url=self.endpoint)
        return self._client

    def objects(self, bucket: str = BUCKET, prefix: str = "") -> dict[str, bytes]:
        """Every object under ``prefix``, by the key below it."""
        client = self.client()
        out: dict[str, bytes] = {}
        head = prefix.strip("/") + "/" if prefix else ""
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                      Prefix=head):
            for obj in page.get("Contents") or ():
                body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                out[obj["Key"][len(head):]] = body
        return out


def aws_env(endpoint: str, home: Path) -> dict[str, str]:
    """The standard AWS variables pointing at a loopback server; no config file of the
    machine's user is read, and instance metadata is never asked."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(home / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def require_moto() -> None:
    """Skip without boto3 and moto[server] (a failure under CI, which installs them)."""
    try:
        import boto3  # noqa: F401
        import moto  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail('moto or boto3 missing: pip install -e ".[dev]"')
        pytest.skip('needs boto3 and moto[server]: pip install -e ".[dev]"')
