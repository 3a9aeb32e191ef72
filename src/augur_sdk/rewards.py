"""Names of the parts of a step's score (``verdict.score_components``), as augur-schema
documents them. Producers may add their own keys next to these."""

from __future__ import annotations


class ScoreComponents:
    """Canonical ``score_components`` keys (augur-sdk 0.6.1's names)."""

    PROGRESS = "progress"  # how far the step moved the task on
    ACTION_QUALITY = "action_quality"  # how good the chosen action was
    PROCESS_QUALITY = "process_quality"  # how sound the reasoning that led to it was
    SAFETY_RISK = "safety_risk"  # how risky the action was (high: consider stopping)
    LOOPINESS = "loopiness"  # how much the step repeats earlier ones
    VERIFIER_CONFIDENCE = "verifier_confidence"  # how sure the verifier was
    GROUNDING_ACCURACY = "grounding_accuracy"  # how close the click was to its target


CANONICAL_SCORE_COMPONENTS: frozenset[str] = frozenset(
    value for name, value in vars(ScoreComponents).items() if name.isupper())

__all__ = ["CANONICAL_SCORE_COMPONENTS", "ScoreComponents"]
