"""Where bundles are kept: ``Store``, ``LocalFSStore``, ``S3Store`` (augur-sdk 0.6.1's names).

``DebugSession(store=...)`` goes through :func:`bind_store`: a ``LocalFSStore`` becomes the
directory the live bundle is written to; any other store gets a copy of the live bundle
(written under ``out_dir`` as usual) from a background :class:`BundleUploader`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from augur_sdk.stores.base import LocalFSStore, Store
from augur_sdk.stores.s3 import S3Store
from augur_sdk.stores.transfer import StoreSink
from augur_sdk.stores.uploader import BundleUploader

__all__ = ["BundleUploader", "LocalFSStore", "S3Store", "Store", "StoreBinding", "bind_store"]


class StoreBinding:
    """What a session needs from its store: the directory its live bundle goes to, and the
    three calls that drive the copy to an object store (no-ops when there is none).

    ``start()`` after the bundle directory is set up; at close, ``finish_async(budget_s)``
    once the bundle is final and ``wait()`` after the session wrote its last file. None of
    them raises, and none does network I/O on the caller's thread."""

    def __init__(self, store: Any, local_dir: Path, uploader: BundleUploader | None) -> None:
        self._store = store
        self.local_dir = local_dir
        self.uploader = uploader

    @property
    def store(self) -> Store:
        """The session's store (a ``LocalFSStore`` of ``out_dir`` when none was given)."""
        if self._store is None:
            self._store = LocalFSStore(self.local_dir)
        store: Store = self._store
        return store

    def start(self) -> None:
        if self.uploader is not None:
            self.uploader.start()

    def finish_async(self, budget_s: float) -> None:
        if self.uploader is not None:
            self.uploader.finish_async(budget_s)

    def wait(self) -> dict[str, Any] | None:
        return None if self.uploader is None else self.uploader.wait()


def bind_store(store: object, out_dir: Path) -> StoreBinding:
    """Resolve ``DebugSession(store=...)``: raises ``TypeError`` for something that is not a
    store, at the call, before anything is written."""
    if store is None:
        return StoreBinding(None, out_dir, None)
    if isinstance(store, LocalFSStore):
        return StoreBinding(store, store.root, None)
    if isinstance(store, S3Store):
        uploader = BundleUploader(
            out_dir, store.location, live=store.upload == "live", workers=store.workers,
            poll_interval_s=store.poll_interval_s, finish_timeout_s=store.finish_timeout_s,
            endpoint=None)
        return StoreBinding(store, out_dir, uploader)
    if callable(getattr(store, "open_write_binary", None)):
        uploader = BundleUploader(out_dir, StoreSink(store), live=True, can_list=False,
                                  can_delete=False)
        return StoreBinding(store, out_dir, uploader)
    raise TypeError(f"store: expected a LocalFSStore, an S3Store or an object with "
                    f"open_write_binary (augur-sdk's Store protocol), got {type(store).__name__}")
