"""Why a computer-use run failed: a rules engine over a bundle, the CUA rule pack, and
failure groups across runs.

* :class:`RulesEngine` runs rules (pure functions over a read-only :class:`BundleContext`)
  and answers, per rule, its findings or "not evaluable" when the run's capture mode did not
  record the rule's inputs.
* :func:`load_pack` finds a pack by name: ``cua`` (:data:`CUA_RULES`) or one registered
  under the ``augur.rule_packs`` entry-point group.
* :func:`diagnose_bundle` writes ``diagnostics/findings.json`` and re-signs the manifest;
  :func:`group_failures` groups the failed steps of many runs by signature.
"""

from augur_sdk.diagnostics.context import BundleContext
from augur_sdk.diagnostics.engine import (
    Diagnosis,
    NotEvaluable,
    Rule,
    RuleResult,
    RulesEngine,
    load_pack,
    rule,
)
from augur_sdk.diagnostics.groups import FailureGroup, group_failures
from augur_sdk.diagnostics.packs.cua import CUA_RULES
from augur_sdk.diagnostics.store import diagnose_bundle, write_findings

__all__ = [
    "CUA_RULES",
    "BundleContext",
    "Diagnosis",
    "FailureGroup",
    "NotEvaluable",
    "Rule",
    "RuleResult",
    "RulesEngine",
    "diagnose_bundle",
    "group_failures",
    "load_pack",
    "rule",
    "write_findings",
]
