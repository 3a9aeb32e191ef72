"""augur-sdk 0.6.1's import path for model-API adapters.

``ModelApiAdapterBase`` carries the response readers every adapter uses
(:mod:`augur_sdk.adapters.extract`) under 0.6.1's names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from augur_sdk.adapters import extract


class ModelApiAdapterBase:
    """Base of the adapters that turn a model API's messages into Augur records."""

    @staticmethod
    def extract_logprobs_from_response(
            response: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        """The canonical ``response.logprobs`` list of a provider response (``None``: none);
        an entry without a numeric logprob is skipped, not fatal."""
        return extract.logprobs_from_response(response)

    @staticmethod
    def extract_reasoning_from_response(response: Mapping[str, Any]) -> list[dict[str, Any]]:
        """``[{"text", "format"}]`` of the reasoning a provider response carries."""
        return extract.reasoning_from_response(response)


__all__ = ["ModelApiAdapterBase"]
