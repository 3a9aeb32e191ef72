"""augur_sdk: OpenTelemetry-bridged tracing for computer-use agents.

``DebugSession`` records an agent run as OpenTelemetry spans (run -> steps -> decision
events), writes a live, crash-safe Augur bundle from those spans, and, when an OTLP endpoint
is configured, sends the same spans to your collector.
"""

from augur_sdk._session.run_api import ORCHESTRATOR_TAG_KEY, ORCHESTRATOR_TAG_VALUE
from augur_sdk._version import __version__
from augur_sdk.adapters.base import ModelApiAdapterBase
from augur_sdk.capture import CaptureMode, resolve_capture_mode
from augur_sdk.otel.provider import configure
from augur_sdk.redaction import (
    DEFAULT_POLICY_ID,
    DefaultRedactionPolicy,
    NoRedactionPolicy,
    RedactionPolicy,
)
from augur_sdk.rewards import CANONICAL_SCORE_COMPONENTS, ScoreComponents
from augur_sdk.session import DebugSession
from augur_sdk.stores import LocalFSStore, S3Store, Store
from augur_sdk.validation import ValidationIssue, validate_bundle

__all__ = [
    "CANONICAL_SCORE_COMPONENTS",
    "DEFAULT_POLICY_ID",
    "ORCHESTRATOR_TAG_KEY",
    "ORCHESTRATOR_TAG_VALUE",
    "CaptureMode",
    "DebugSession",
    "DefaultRedactionPolicy",
    "LocalFSStore",
    "ModelApiAdapterBase",
    "NoRedactionPolicy",
    "RedactionPolicy",
    "S3Store",
    "ScoreComponents",
    "Store",
    "ValidationIssue",
    "__version__",
    "configure",
    "resolve_capture_mode",
    "validate_bundle",
]
