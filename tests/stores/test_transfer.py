"""The pure parts of the stores: URLs, what a bundle sends, error descriptions."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from augur_sdk.stores.s3 import (
    RemoteObject,
    describe_error,
    parse_s3_url,
    safe_endpoint,
)
from augur_sdk.stores.transfer import (
    bundle_files,
    error_kind,
    md5_matches,
    ordered,
    owned_key,
    read_whole,
)


@pytest.mark.parametrize(("url", "expected"), [
    ("s3://bucket", ("bucket", "")),
    ("s3://bucket/", ("bucket", "")),
    ("s3://bucket/runs/run_1/", ("bucket", "runs/run_1")),
    ("s3://b-1.x/a//b", ("b-1.x", "a//b")),
])
def test_parse_s3_url_splits_bucket_and_prefix(url: str, expected: tuple[str, str]) -> None:
    """s3:// URLs give (bucket, prefix without surrounding slashes)."""
    assert parse_s3_url(url) == expected


@pytest.mark.parametrize("url", ["bucket/x", "s3://", "s3:///x", "http://b/x", "s3://b/../x",
                                 "s3://b c/x"])
def test_parse_s3_url_rejects_what_is_not_one(url: str) -> None:
    """Anything but s3://BUCKET[/PREFIX] (or a prefix with '..') is a ValueError."""
    with pytest.raises(ValueError, match=r"s3://|'\.\.'"):
        parse_s3_url(url)


def test_safe_endpoint_drops_user_info_and_query() -> None:
    """An endpoint shown in a report carries no user:password and no query string."""
    assert safe_endpoint("https://key:secret@minio.local:9000/base?X-Amz-Signature=abc#f") == \
        "https://minio.local:9000/base"
    assert safe_endpoint(None) is None


def test_describe_error_keeps_codes_and_masks_key_shaped_text() -> None:
    """S3 errors are described by code and status; other messages lose anything key-shaped."""
    class ClientErrorLike(Exception):
        response = {"Error": {"Code": "AccessDenied", "Message": "AKIAABCDEFGHIJKLMNOP"},
                    "ResponseMetadata": {"HTTPStatusCode": 403}}

    assert describe_error(ClientErrorLike("x")) == "AccessDenied (HTTP 403)"
    text = describe_error(RuntimeError(
        "bad AKIAABCDEFGHIJKLMNOP with wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY here"))
    assert "AKIAABCDEFGHIJKLMNOP" not in text and "wJalrXUtnFEMI" not in text
    assert text.startswith("RuntimeError: bad ")


def test_error_kind_groups_by_class_or_code() -> None:
    """Report counts are per kind: the class name, or the S3 error code."""
    assert error_kind("EndpointConnectionError: Could not connect to http://x/y") == \
        "EndpointConnectionError"
    assert error_kind("NoSuchBucket (HTTP 404)") == "NoSuchBucket"


def test_owned_keys_are_the_bundle_layout() -> None:
    """Only names a bundle owns are removed from a prefix; a user's other objects are not."""
    for rel in ("manifest.json", "live.json", "steps/0001.json", "screenshots/0001_pre.png",
                "upload.json", "otel/spans.jsonl", ".spares.tmp/x"):
        assert owned_key(rel), rel
    for rel in ("notes.txt", "other_run/manifest.json", "data/steps/0001.json"):
        assert not owned_key(rel), rel


def test_bundle_files_skips_hidden_temp_and_report(tmp_path: Path) -> None:
    """Spare files, .tmp files, symlinks and upload.json itself are never sent."""
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps/0000.json").write_text("{}")
    (tmp_path / ".spares.tmp").mkdir()
    (tmp_path / ".spares.tmp/a").write_text("")
    (tmp_path / "steps/.0001.json.1.tmp").write_text("{")
    (tmp_path / "upload.json").write_text("{}")
    (tmp_path / "link.json").symlink_to(tmp_path / "steps/0000.json")
    files = bundle_files(tmp_path)
    assert set(files) == {"steps/0000.json"}
    assert files["steps/0000.json"] == os.stat(tmp_path / "steps/0000.json").st_ino


def test_read_whole_cuts_a_jsonl_after_its_last_newline(tmp_path: Path) -> None:
    """A line still being appended is not sent; other files are sent whole."""
    (tmp_path / "e.jsonl").write_bytes(b'{"a":1}\n{"b":')
    (tmp_path / "x.json").write_bytes(b'{"b":')
    assert read_whole(tmp_path / "e.jsonl", "e.jsonl")[0] == b'{"a":1}\n'
    assert read_whole(tmp_path / "x.json", "x.json")[0] == b'{"b":'


def test_md5_matches_needs_size_and_plain_md5_etag(tmp_path: Path) -> None:
    """A remote copy counts as present only when size and MD5 ETag both match."""
    (tmp_path / "f.png").write_bytes(b"abc")
    md5 = hashlib.md5(b"abc").hexdigest()
    assert md5_matches(tmp_path / "f.png", "f.png", RemoteObject(3, md5))
    assert not md5_matches(tmp_path / "f.png", "f.png", RemoteObject(3, "0" * 32))
    assert not md5_matches(tmp_path / "f.png", "f.png", RemoteObject(4, md5))
    assert not md5_matches(tmp_path / "f.png", "f.png", RemoteObject(3, md5 + "-2"))


def test_manifest_is_ordered_last() -> None:
    """The manifest is sent after every other file."""
    assert ordered(["manifest.json", "steps/0001.json", "AGENT.md"]) == \
        ["AGENT.md", "steps/0001.json", "manifest.json"]
