"""augur-sdk 0.6.1's name for :mod:`augur_sdk.fingerprints` (kept so its imports work)."""

from augur_sdk.fingerprints import (
    DEFAULT_ALGORITHM,
    compute_trajectory_fingerprint,
    cua_v1,
    resolve_algorithm,
)

__all__ = ["DEFAULT_ALGORITHM", "compute_trajectory_fingerprint", "cua_v1", "resolve_algorithm"]
