"""``augur diff A B``: compare two runs of the same task step by step.

* :func:`compare_runs` reads two bundles and returns a :class:`RunDiff`: the aligned steps,
  how each aligned pair differs, the steps only one run has, and the first divergence.
* :func:`align` is the alignment alone (pure): steps matched by what the agent saw and did
  (action, target, intent, a perceptual hash of the pre screenshot, click point), not by
  index, so retries, extra and skipped steps do not shift the matches after them.
"""

from augur_sdk.diff.alignment import Alignment, StepKey, align, align_full
from augur_sdk.diff.compare import (
    Difference,
    DiffOptions,
    Row,
    RunDiff,
    StepSummary,
    compare_loaded,
    compare_runs,
)
from augur_sdk.diff.load import BundleError, LoadedRun, load_run

__all__ = ["Alignment", "BundleError", "DiffOptions", "Difference", "LoadedRun", "Row",
           "RunDiff", "StepKey", "StepSummary", "align", "align_full", "compare_loaded",
           "compare_runs", "load_run"]
