"""The server's bundle writer: :class:`~augur_sdk.bundle.writer.BundleWriter` plus the files
only a server receives (model I/O, side effects, outcomes, logs, ...).

Whole-file records are written atomically and signed like every other file; appended files
(logs, ``diagnostics/*.jsonl``) are appended a whole line at a time and signed when the
bundle is finished.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from augur_sdk.bundle.files import append_line
from augur_sdk.bundle.writer import BundleWriter, sha256_hex


class ServerBundleWriter(BundleWriter):
    def __init__(self, root: str | Path, *, policy_id: str, fsync: bool = False) -> None:
        # augur serve moves a replaced run aside itself (.augur-server/replaced/).
        super().__init__(root, policy_id=policy_id, fsync=fsync, keep_previous=False)
        self._appended: set[str] = set()
        # Files the server knows never arrived (steps of a client that went away), listed
        # in manifest.missing next to the screenshots the steps name.
        self.extra_missing: list[str] = []

    def write_file(self, rel: str, data: bytes, what: str = "extras") -> bool:
        """Write one whole file atomically and sign it; False if the disk refused."""
        with self._lock:
            return self._write(rel, data, what)

    def append_bytes(self, rel: str, data: bytes, what: str = "extras") -> bool:
        """Append ``data`` (whole lines) in one write; signed at :meth:`finish`."""
        with self._lock:
            try:
                append_line(self.root / rel, data, fsync=self.fsync)
            except OSError as exc:
                self._fail(what, exc)
                return False
            self._appended.add(rel)
            return True

    def file_size(self, rel: str) -> int:
        try:
            return (self.root / rel).stat().st_size
        except OSError:
            return 0

    def _missing(self, signatures: dict[str, str]) -> list[str]:
        missing = super()._missing(signatures)
        known = set(missing)
        return missing + [rel for rel in self.extra_missing
                          if rel not in known and not (self.root / rel).exists()]

    def finish(self, session: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            for rel in sorted(self._appended):
                try:
                    self._signatures[rel] = sha256_hex((self.root / rel).read_bytes())
                except OSError:
                    continue
            return super().finish(session)
