"""The golden normalizer: masks only what differs between two runs of the same script.

The golden scenario passes every timestamp it can (session ``started_at``, step and event
times), a fixed run id, fixed PNGs and fixed tags, so almost every byte the SDK writes is
reproducible. What is not, and is masked here:

========================  =====================================  ==========================
what                      why it varies                          becomes
========================  =====================================  ==========================
ISO-8601 times outside    the clock at close (session            ``<clock-iso>``
the input window          ``ended_at``, manifest ``created_at``)
ns epoch integers outside the clock (run span end, the           ``<clock-ns>``
the input window          ``step_scope`` span's start and end)
``dbg_`` + 16 hex         ``debug_session_id``, generated        ``dbg_<generated>``
``sdk_`` + 12 hex         the stream client's ``client_id``      ``sdk_<generated>``
UUIDs                     OTel ``service.instance.id``           ``<uuid>``
32 / 16 hex digits        OTel trace and span ids (random)       ``<trace-N>`` / ``<span-N>``
                                                                 (N: order of first sight,
                                                                 so relations stay visible)
``127.0.0.1:<port>``      the test servers' free ports           ``127.0.0.1:<port>``
the test's temp dirs      pytest's ``tmp_path`` (in log lines)   ``<tmp>``
sha256 of a file that     its content holds one of the above     ``<sha256 of varying file:
varies                                                           matches>`` (or ``MISMATCH``)
========================  =====================================  ==========================

The input window is the hour the scenario's fixed timestamps live in (2026-01-02T03:xx Z):
a time inside it came from the script and is kept byte-exact, so a refactor that replaced a
recorded time by the clock (or the reverse) shows up as a diff. Everything else is kept
byte-exact; binary files are shown by size and sha256. One thing is dropped rather than
masked (``golden_capture.without_timer_heartbeats``): the stream client's periodic heartbeat,
sent every 15 s by a timer, so a slow run would send one more.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

INPUT_PREFIX = "2026-01-02T03:"
INPUT_NS_MIN = 1_767_322_800_000_000_000  # 2026-01-02T03:00:00Z
INPUT_NS_MAX = INPUT_NS_MIN + 3600 * 10**9

_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")
# Whole numbers only: a random hex id can hold a run of 19 decimal digits.
_NS = re.compile(r"(?<![\w.])1\d{18}(?![\w.])")
_DBG = re.compile(r"dbg_[0-9a-f]{16}(?![0-9a-f])")
_CLIENT = re.compile(r"sdk_[0-9a-f]{12}(?![0-9a-f])")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TRACE_ID = re.compile(r"(?<![0-9a-zA-Z_])[0-9a-f]{32}(?![0-9a-zA-Z])")
_SPAN_ID = re.compile(r"(?<![0-9a-zA-Z_])[0-9a-f]{16}(?![0-9a-zA-Z])")
_PORT = re.compile(r"127\.0\.0\.1:\d+")
_SIGNATURE = re.compile(r'"(?P<path>[^"\\]+)":(?P<sp> ?)"(?P<sha>[0-9a-f]{64})"')


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Normalizer:
    """Normalizes the text of one run's outputs; ids are numbered across all of them."""

    def __init__(self, paths: dict[str, str] | None = None) -> None:
        # literal replacements first: the test's temporary directories
        self._paths = dict(paths or {})
        self._ids: dict[str, str] = {}
        # path -> raw bytes of the files whose content varies, for their signatures
        self.varying: dict[str, bytes] = {}

    def _ordinal(self, kind: str) -> Callable[[re.Match[str]], str]:
        def replace(match: re.Match[str]) -> str:
            raw = match.group(0)
            if raw not in self._ids:
                count = sum(1 for v in self._ids.values() if v.startswith(f"<{kind}-"))
                self._ids[raw] = f"<{kind}-{count + 1}>"
            return self._ids[raw]
        return replace

    def text(self, text: str) -> str:
        """Mask the run-to-run variation in ``text`` (see the module docstring)."""
        for path, placeholder in self._paths.items():
            text = text.replace(path, placeholder)
        text = _ISO.sub(lambda m: m.group(0) if m.group(0).startswith(INPUT_PREFIX)
                        else "<clock-iso>", text)
        text = _NS.sub(lambda m: m.group(0) if INPUT_NS_MIN <= int(m.group(0)) < INPUT_NS_MAX
                       else "<clock-ns>", text)
        text = _DBG.sub("dbg_<generated>", text)
        text = _CLIENT.sub("sdk_<generated>", text)
        text = _UUID.sub("<uuid>", text)
        text = _TRACE_ID.sub(self._ordinal("trace"), text)
        text = _SPAN_ID.sub(self._ordinal("span"), text)
        text = _PORT.sub("127.0.0.1:<port>", text)
        return self.signatures(text)

    def signatures(self, text: str) -> str:
        """Replace the sha256 of a varying file (known to :attr:`varying`) by whether it
        matches that file's bytes; the sha256 of every other file stays exact."""
        def replace(match: re.Match[str]) -> str:
            raw = self.varying.get(match["path"])
            if raw is None:
                return match.group(0)
            verdict = "matches" if sha256(raw) == match["sha"] else "MISMATCH"
            return f'"{match["path"]}":{match["sp"]}"<sha256 of varying file: {verdict}>"'
        return _SIGNATURE.sub(replace, text)

    def learn_varying(self, root: Path) -> None:
        """Note which files under ``root`` hold varying content (by normalizing a copy)."""
        probe = Normalizer(self._paths)
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            raw = path.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if probe.text(text) != text:
                self.varying[path.relative_to(root).as_posix()] = raw
