"""`augur view s3://BUCKET/PREFIX`: mirror the runs under a prefix into a local cache and
serve that with the usual viewer; a background thread fetches what changed every
``--refresh`` seconds, so live runs (uploaded as they are written) tail as local ones do."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

from augur_sdk.viewer.reader import looks_like_bundle
from augur_sdk.viewer.runs import RunDirectory


def default_cache_dir(bucket: str, prefix: str) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base.joinpath("augur", "s3", bucket, *[p for p in prefix.split("/") if p])


def mirror_for_view(url: str, *, cache_dir: str | None, refresh_s: float,
                    endpoint_url: str | None = None) -> tuple[Path | None, str]:
    """Fetch ``url`` into the cache; return (the local directory, "") or (None, problem).
    With ``refresh_s`` > 0 a daemon thread keeps the mirror current."""
    from augur_sdk.stores.s3 import (
        INSTALL_HINT,
        ClientOptions,
        S3Location,
        TransferError,
        parse_s3_url,
        require_boto3,
    )
    from augur_sdk.stores.sync import mirror

    try:
        bucket, prefix = parse_s3_url(url)
        require_boto3()
    except ValueError as exc:
        return None, str(exc)
    except ImportError:
        return None, INSTALL_HINT
    dest = Path(cache_dir) if cache_dir else default_cache_dir(bucket, prefix)
    location = S3Location(bucket, prefix, ClientOptions(endpoint_url=endpoint_url))
    try:
        result = mirror(location, dest)
    except TransferError as exc:
        return None, f"cannot list {url}: {exc.reason}"
    except OSError as exc:
        return None, f"cannot write the cache {dest}: {exc}"
    print(f"augur view: {url}: {result.files} file(s), fetched {result.fetched} "
          f"({result.bytes / 1e6:.1f} MB) into {dest}", flush=True)
    if result.failed:
        print(f"augur view: {result.failed} file(s) could not be fetched "
              f"({result.last_error})", file=sys.stderr)
    if not result.files:
        return None, f"{url}: no objects under this prefix"
    if not looks_like_bundle(dest) and not RunDirectory(dest).discover(force=True):
        return None, (f"{url}: no Augur bundle there (PREFIX/manifest.json, "
                      "PREFIX/<run>/ or PREFIX/<tenant>/<run>/)")
    if refresh_s > 0:
        threading.Thread(target=_refresh, args=(location, dest, refresh_s),
                         name="augur-view-s3", daemon=True).start()
    return dest, ""


def _refresh(location: object, dest: Path, every_s: float) -> None:
    from augur_sdk.stores.s3 import S3Location, TransferError
    from augur_sdk.stores.sync import mirror

    assert isinstance(location, S3Location)
    warned = False
    while True:  # a daemon thread: it ends with the viewer
        time.sleep(every_s)
        try:
            mirror(location, dest)
            warned = False
        except (TransferError, OSError) as exc:
            if not warned:
                reason = exc.reason if isinstance(exc, TransferError) else str(exc)
                print(f"augur view: refreshing {location.url} failed ({reason}); "
                      "showing the last copy, retrying", file=sys.stderr)
                warned = True
