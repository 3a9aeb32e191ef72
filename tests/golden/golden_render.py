"""Render captured outputs as reviewable text (the golden files' format).

* a directory: every file, sorted by path, under a ``=== path`` header; text files verbatim
  (after normalization), binary files and the copied JSON Schemas as size + sha256;
* a request log: every request in arrival order, method, path, the headers that carry
  meaning, and the body (JSON verbatim; multipart parts with their headers, the image as
  size + sha256, the random boundary masked).

A file that does not end in a newline gets a ``\\ no newline at end of file`` marker, so the
rendering keeps every byte of the content.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from golden_normalize import Normalizer, sha256

NO_NEWLINE = "\\ no newline at end of file\n"
# Digest only: verbatim copies of the augur-schema package's files (large, not ours).
DIGEST_ONLY_DIRS = ("schema/",)
# Request headers whose value is part of the wire contract (others vary or are transport).
HEADERS = ("Authorization", "Content-Type", "User-Agent")


def _verbatim(text: str) -> str:
    return text if text.endswith("\n") else text + "\n" + NO_NEWLINE


def _digest(data: bytes) -> str:
    return f"<{len(data)} bytes, sha256 {sha256(data)}>\n"


def render_file(rel: str, raw: bytes, norm: Normalizer) -> str:
    if rel.startswith(DIGEST_ONLY_DIRS):
        return f"=== {rel}\n" + _digest(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return f"=== {rel} (binary)\n" + _digest(raw)
    return f"=== {rel}\n" + _verbatim(norm.text(text))


def render_files(root: Path, norm: Normalizer) -> dict[str, str]:
    """Each file under ``root``, by relative path, rendered (sorted by path)."""
    norm.learn_varying(root)
    files = sorted((p.relative_to(root).as_posix(), p) for p in root.rglob("*") if p.is_file())
    return {rel: render_file(rel, path.read_bytes(), norm) for rel, path in files}


def render_tree(root: Path, norm: Normalizer) -> str:
    """Every file under ``root`` (``(no such directory)`` when it does not exist)."""
    if not root.is_dir():
        return "(no such directory)\n"
    return "".join(render_files(root, norm).values()) or "(empty directory)\n"


def _multipart(body: bytes, content_type: str, norm: Normalizer) -> str:
    match = re.search(r"boundary=([^;\s]+)", content_type)
    if match is None:
        return _digest(body)
    delimiter = b"--" + match.group(1).encode("ascii")
    out = []
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            out.append("--<boundary>--" + ("" if part == b"--\r\n" else f" + {part[2:]!r}"))
            break
        head, _, payload = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        out.append("--<boundary>")
        out.extend(norm.text(line) for line in head.decode("latin-1").split("\r\n"))
        ends_crlf = payload.endswith(b"\r\n")
        out.append(_digest(payload.removesuffix(b"\r\n")).rstrip("\n")
                   + ("" if ends_crlf else " (no CRLF)"))
    return "\n".join(out) + "\n"


def render_request(n: int, req: dict[str, Any], norm: Normalizer) -> str:
    headers = {k.lower(): v for k, v in req["headers"].items()}
    lines = [f"=== #{n} {req['method']} {norm.text(req['path'])}"]
    content_type = str(headers.get("content-type", ""))
    for name in HEADERS:
        value = headers.get(name.lower())
        if value is not None:
            value = re.sub(r"boundary=[^;\s]+", "boundary=<boundary>", str(value))
            lines.append(f"{name}: {norm.text(value)}")
    body = str(req["body"]).encode("latin-1")
    if content_type.startswith("multipart/"):
        return "\n".join(lines) + "\n" + _multipart(body, content_type, norm)
    if not body:
        return "\n".join(lines) + "\n(no body)\n"
    return "\n".join(lines) + "\n" + _verbatim(norm.text(body.decode("utf-8")))


def render_requests(requests: list[dict[str, Any]], norm: Normalizer) -> str:
    if not requests:
        return "(no requests)\n"
    return "".join(render_request(n, req, norm) for n, req in enumerate(requests, 1))
