"""augur-sdk 0.6.1's import path for :class:`ModelApiAdapterBase` (see
:mod:`augur_sdk.adapters`)."""

from augur_sdk.adapters.base import ModelApiAdapterBase

__all__ = ["ModelApiAdapterBase"]
