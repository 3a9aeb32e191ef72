"""``diagnostics/findings.json`` in a finished bundle, with the manifest re-signed.

Each file is replaced atomically, in an order that leaves a valid bundle at every point a
crash could stop it: first the manifest forgets the old findings' signature, then the new
findings land, then the manifest signs them. An unsigned file validates; a signed file with
other bytes would not.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from augur_sdk.bundle import layout
from augur_sdk.bundle.files import atomic_write
from augur_sdk.diagnostics.context import BundleContext
from augur_sdk.diagnostics.engine import Diagnosis, Finding, Rule, RulesEngine
from augur_sdk.validation import live_state

FINDINGS = "diagnostics/findings.json"


class DiagnosticsError(Exception):
    """The bundle cannot be diagnosed or written to (the message says why)."""


def _manifest(root: Path) -> dict[str, Any]:
    try:
        data = json.loads((root / layout.MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DiagnosticsError(f"{root}: no manifest.json, not an Augur bundle") from None
    except (OSError, ValueError) as exc:
        raise DiagnosticsError(f"{root}: manifest.json is not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DiagnosticsError(f"{root}: manifest.json is not a JSON object")
    return data


def _write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    atomic_write(root / layout.MANIFEST, layout.dumps(manifest).encode("utf-8"))


def write_findings(bundle_dir: str | Path, findings: list[Finding]) -> Path:
    """Write ``findings`` (a list of ``diagnostic_finding`` records) to the bundle's
    ``diagnostics/findings.json`` and sign it in the manifest. Refuses a bundle that is
    still being written or was left unfinished (``augur recover`` it first)."""
    root = Path(bundle_dir)
    state = live_state(root)
    if state is not None:
        what = "is still being written" if state[0] == "running" else \
            f"is unfinished (its producer stopped); run: augur recover {root}"
        raise DiagnosticsError(f"{root} {what}; findings are written to finished bundles only")
    manifest = _manifest(root)
    signatures = manifest.get("signatures")
    if not isinstance(signatures, dict):
        signatures = manifest["signatures"] = {}
    data = layout.dumps(list(findings)).encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()
    target = root / FINDINGS
    if signatures.get(FINDINGS) == digest and target.is_file() and \
            target.read_bytes() == data:
        return target  # nothing changed: no write at all
    if FINDINGS in signatures:
        del signatures[FINDINGS]
        _write_manifest(root, manifest)
    target.parent.mkdir(exist_ok=True)
    atomic_write(target, data)
    signatures[FINDINGS] = digest
    manifest["signatures"] = dict(sorted(signatures.items()))
    _write_manifest(root, manifest)
    return target


def diagnose_bundle(bundle: str | Path | BundleContext, *, rules: list[Rule] | None = None,
                    write: bool = True) -> Diagnosis:
    """Run the rules (the ``cua`` pack by default) over one bundle; with ``write``, store
    the findings in it. A bundle that cannot take the file (unfinished, still running) is
    diagnosed all the same; ``Diagnosis.note`` says why nothing was written."""
    ctx = bundle if isinstance(bundle, BundleContext) else BundleContext(bundle)
    root = ctx.bundle_dir
    if not root.is_dir():
        raise DiagnosticsError(f"{root}: not a directory")
    _manifest(root)
    if rules is None:
        from augur_sdk.diagnostics.packs.cua import CUA_RULES

        rules = list(CUA_RULES)
    diagnosis = RulesEngine(rules).diagnose(ctx)
    if write:
        try:
            diagnosis.written = write_findings(root, diagnosis.records())
        except DiagnosticsError as exc:
            diagnosis.note = str(exc)
        except OSError as exc:
            diagnosis.note = f"could not write {FINDINGS}: {exc}"
    return diagnosis
