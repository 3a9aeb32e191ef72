"""``S3Store``: bundles on any S3-compatible object storage, through boto3 (optional extra
``augur-otel[s3]``, imported only when an S3 store is used).

Endpoint, region and credentials come from boto3's standard chain: ``AWS_ENDPOINT_URL``
(and ``AWS_ENDPOINT_URL_S3``), ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/
``AWS_SESSION_TOKEN``, ``AWS_PROFILE`` with ``~/.aws/config`` and ``~/.aws/credentials``
(SSO, ``credential_process``, assumed roles), container and instance credentials. Nothing
here writes or logs a credential: errors are described by their class and S3 error code, run
through the redaction patterns, and endpoints are shown without user info or query.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from augur_sdk._version import __version__
from augur_sdk.redaction import DefaultRedactionPolicy
from augur_sdk.stores.base import check_relpath

INSTALL_HINT = "S3Store needs boto3: pip install boto3 (the augur-otel [s3] extra)"
UploadMode = Literal["live", "close"]
_MODES = ("live", "close")


class TransferError(Exception):
    """One request to the object store failed; ``reason`` is safe to log and record."""

    def __init__(self, reason: str, *, retryable: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


def require_boto3() -> None:
    """Raise ImportError with the install command when boto3 is missing."""
    try:
        missing = sys.modules.get("boto3", ...) is None or \
            importlib.util.find_spec("boto3") is None
    except (ImportError, ValueError):
        missing = True
    if missing:
        raise ImportError(INSTALL_HINT)


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix/`` -> ``("bucket", "some/prefix")``."""
    if not isinstance(url, str) or not url.startswith("s3://"):
        raise ValueError(f"expected s3://BUCKET[/PREFIX], got {url!r}")
    bucket, _, prefix = url[len("s3://"):].partition("/")
    if not bucket or any(c in bucket for c in " \\?#") or "\x00" in url:
        raise ValueError(f"expected s3://BUCKET[/PREFIX], got {url!r}")
    prefix = prefix.strip("/")
    if ".." in prefix.split("/"):
        raise ValueError(f"the prefix may not contain '..': {url!r}")
    return bucket, prefix


def s3_url(bucket: str, prefix: str) -> str:
    return f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"


def safe_endpoint(url: str | None) -> str | None:
    """An endpoint URL fit for a log or a report: no user info, no query, no fragment."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


_REDACT = DefaultRedactionPolicy()
_SECRETISH = re.compile(r"[A-Za-z0-9/+=]{40,}")  # the shape of an AWS secret access key


def describe_error(exc: BaseException) -> str:
    """A short description of a failed request, safe to record: class, S3 error code and
    HTTP status, or the message with anything key-shaped masked."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        err = response.get("Error") or {}
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        code = str(err.get("Code") or type(exc).__name__)
        return code + (f" (HTTP {status})" if status else "")
    text = f"{type(exc).__name__}: {exc}"
    text = _SECRETISH.sub("***REDACTED:secret***", _REDACT.redact_string(text))
    return text[:300]


def _retryable(exc: BaseException) -> bool:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        if isinstance(status, int) and 400 <= status < 500 and status not in (408, 429):
            return False  # denied, no such bucket, bad request: retrying will not help
    return True


@dataclass(frozen=True)
class RemoteObject:
    size: int
    etag: str  # without quotes; a plain MD5 hex for single-part uploads on S3 and most clones


@dataclass(frozen=True)
class ClientOptions:
    endpoint_url: str | None = None
    region_name: str | None = None
    profile_name: str | None = None
    max_connections: int = 10
    connect_timeout_s: float = 2.0
    read_timeout_s: float = 30.0
    max_attempts: int = 3


_clients: dict[tuple[ClientOptions, str], Any] = {}
_clients_lock = threading.Lock()


def _after_fork_in_child() -> None:
    global _clients_lock
    _clients_lock = threading.Lock()
    _clients.clear()  # a client's connection pool is the parent's


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _aws_environment() -> str:
    """A digest of the AWS_* variables: a client made under other ones is not reused."""
    items = sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_"))
    return hashlib.sha256(repr(items).encode()).hexdigest()


def shared_client(options: ClientOptions) -> Any:
    """One client per set of options and AWS environment in this process (boto3 clients are
    thread-safe, and making one costs about half a second of CPU)."""
    key = (options, _aws_environment())
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = make_client(options)
        return client


def make_client(options: ClientOptions) -> Any:
    """A boto3 S3 client from the standard chain (``options`` override single settings)."""
    require_boto3()
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(profile_name=options.profile_name)
    region = options.region_name or session.region_name or "us-east-1"
    config = Config(
        retries={"max_attempts": options.max_attempts, "mode": "standard"},
        connect_timeout=options.connect_timeout_s, read_timeout=options.read_timeout_s,
        max_pool_connections=options.max_connections,
        user_agent_extra=f"augur-otel/{__version__}",
    )
    return session.client("s3", endpoint_url=options.endpoint_url, region_name=region,
                           config=config)


class S3Location:
    """A bucket and a key prefix; every call turns boto3's errors into TransferError."""

    def __init__(self, bucket: str, prefix: str, options: ClientOptions) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.options = options

    @property
    def url(self) -> str:
        return s3_url(self.bucket, self.prefix)

    @property
    def destination(self) -> str:
        return self.url

    def client(self) -> Any:
        """The boto3 client, made on first use (on the thread that first needs it)."""
        return shared_client(self.options)

    def endpoint(self) -> str | None:
        """The endpoint in use, without user info or query (None if no client can be made)."""
        from botocore.exceptions import BotoCoreError

        try:
            return safe_endpoint(str(self.client().meta.endpoint_url))
        except (BotoCoreError, ValueError, ImportError):
            return None

    def key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def rel(self, key: str) -> str | None:
        if not self.prefix:
            return key
        head = self.prefix + "/"
        return key[len(head):] if key.startswith(head) else None

    def _call(self, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client(), method)(Bucket=self.bucket, **kwargs)
        except (BotoCoreError, ClientError, OSError) as exc:
            raise TransferError(describe_error(exc), retryable=_retryable(exc)) from None

    def _pages(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            paginator = self.client().get_paginator("list_objects_v2")
            yield from paginator.paginate(Bucket=self.bucket, **kwargs)
        except (BotoCoreError, ClientError, OSError) as exc:
            raise TransferError(describe_error(exc), retryable=_retryable(exc)) from None

    def put(self, rel: str, data: bytes, content_type: str | None = None) -> None:
        extra = {"ContentType": content_type} if content_type else {}
        self._call("put_object", Key=self.key(rel), Body=data, **extra)

    def delete(self, rel: str) -> None:
        self._call("delete_object", Key=self.key(rel))

    def get(self, rel: str) -> bytes:
        body = self._call("get_object", Key=self.key(rel))["Body"]
        try:
            data: bytes = body.read()
        except Exception as exc:  # botocore's read errors are not all OSError
            raise TransferError(describe_error(exc)) from None
        finally:
            body.close()
        return data

    def exists(self, rel: str) -> bool:
        try:
            self._call("head_object", Key=self.key(rel))
        except TransferError as exc:
            if "404" in exc.reason or "NoSuchKey" in exc.reason or "NotFound" in exc.reason:
                return False
            raise
        return True

    def list_objects(self) -> dict[str, RemoteObject]:
        """Every object under the prefix, by bundle-relative path."""
        head = self.prefix + "/" if self.prefix else ""
        found: dict[str, RemoteObject] = {}
        for page in self._pages(Prefix=head):
            for obj in page.get("Contents") or ():
                rel = self.rel(str(obj["Key"]))
                if rel:
                    found[rel] = RemoteObject(int(obj.get("Size", 0)),
                                              str(obj.get("ETag", "")).strip('"'))
        return found

    def list_dirs(self, rel_dir: str = "") -> list[str]:
        """Names of the "sub-folders" right under ``rel_dir`` (S3 common prefixes)."""
        head = self.key(rel_dir).strip("/") if rel_dir else self.prefix
        head = head + "/" if head else ""
        return [str(cp["Prefix"])[len(head):].strip("/")
                for page in self._pages(Prefix=head, Delimiter="/")
                for cp in page.get("CommonPrefixes") or ()]

    def presign(self, rel: str, ttl_seconds: int) -> str:
        url: str = self.client().generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self.key(rel)},
            ExpiresIn=int(ttl_seconds))
        return url


class S3Store:
    """A bundle on S3 or any S3-compatible service (MinIO, R2, Ceph, moto...).

    ``DebugSession(out_dir=..., store=S3Store("bucket", "runs/run_42"))`` writes the live,
    crash-safe bundle under ``out_dir`` as usual and copies it to
    ``s3://bucket/runs/run_42/`` from background threads: files go up as they are written
    (``upload="live"``) or all at close (``upload="close"``), with retries; ``close()``
    waits for the rest at most ``finish_timeout_s`` (default: the session's close budget).
    What did not arrive is listed in the bundle's ``upload.json`` and in one log line;
    ``augur upload out_dir`` finishes it later.

    Args:
        bucket: the bucket name.
        prefix: the key prefix the bundle's files go under (``prefix/manifest.json``...).
        upload: ``"live"`` (default) or ``"close"``.
        endpoint_url: overrides ``AWS_ENDPOINT_URL`` and the profile's ``endpoint_url``.
        region_name: overrides ``AWS_DEFAULT_REGION`` and the profile's region.
        profile_name: overrides ``AWS_PROFILE`` (the rest of boto3's standard chain stays).
        workers: concurrent uploads (default 4).
        poll_interval_s: how often new files are looked for while the run goes on.
        finish_timeout_s: the most ``close()`` waits for the upload (default: the session's
            ``close_timeout_s``, 5 s).
    """

    def __init__(self, bucket: str, prefix: str = "", *, upload: UploadMode = "live",
                 endpoint_url: str | None = None, region_name: str | None = None,
                 profile_name: str | None = None, workers: int = 4,
                 poll_interval_s: float = 1.0, finish_timeout_s: float | None = None) -> None:
        if not isinstance(bucket, str) or not bucket or "/" in bucket:
            raise ValueError(f"bucket: expected a bucket name, got {bucket!r}")
        if not isinstance(prefix, str):
            raise TypeError(f"prefix: expected a string, got {type(prefix).__name__}")
        if upload not in _MODES:
            raise ValueError(f"upload: expected 'live' or 'close', got {upload!r}")
        if not isinstance(workers, int) or not 1 <= workers <= 64:
            raise ValueError(f"workers: expected 1..64, got {workers!r}")
        if not poll_interval_s > 0:
            raise ValueError("poll_interval_s: must be > 0")
        if finish_timeout_s is not None and not finish_timeout_s >= 0:
            raise ValueError("finish_timeout_s: must be >= 0")
        parse_s3_url(s3_url(bucket, prefix))  # same rules as an s3:// URL
        require_boto3()
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.upload: UploadMode = upload
        self.workers = workers
        self.poll_interval_s = float(poll_interval_s)
        self.finish_timeout_s = finish_timeout_s
        self.location = S3Location(bucket, self.prefix, ClientOptions(
            endpoint_url=endpoint_url, region_name=region_name, profile_name=profile_name,
            max_connections=workers + 2))

    @classmethod
    def from_url(cls, url: str, **options: Any) -> S3Store:
        """``S3Store.from_url("s3://bucket/prefix", upload="close")``."""
        bucket, prefix = parse_s3_url(url)
        return cls(bucket, prefix, **options)

    def __repr__(self) -> str:
        return f"S3Store({self.root_uri!r}, upload={self.upload!r})"

    @property
    def root_uri(self) -> str:
        return s3_url(self.bucket, self.prefix)

    def signed_url(self, relpath: str, *, ttl_seconds: int = 3600) -> str:
        """A presigned GET URL for ``relpath`` (computed locally, no request)."""
        return self.location.presign(check_relpath(relpath), ttl_seconds)

    @contextmanager
    def open_write_binary(self, relpath: str) -> Iterator[IO[bytes]]:
        """Collect the bytes, then PUT them as one object (S3 PUTs are atomic)."""
        rel = check_relpath(relpath)
        buf = io.BytesIO()
        yield buf
        self.location.put(rel, buf.getvalue())

    @contextmanager
    def open_write_text(self, relpath: str) -> Iterator[IO[str]]:
        with self.open_write_binary(relpath) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
            try:
                yield text
            finally:
                text.flush()
                text.detach()

    def exists(self, relpath: str) -> bool:
        return self.location.exists(check_relpath(relpath))

    def read_bytes(self, relpath: str) -> bytes:
        return self.location.get(check_relpath(relpath))

    def read_text(self, relpath: str) -> str:
        return self.read_bytes(relpath).decode("utf-8")
