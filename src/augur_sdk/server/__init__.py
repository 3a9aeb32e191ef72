"""``augur serve``: the open Augur ingest server (the ``server`` extra).

It receives the Augur streaming protocol (``AUGUR_DSN`` clients: augur_sdk and augur-sdk
0.6.1) and OTLP/HTTP traces of our spans, and writes each run as an Augur bundle under
``<data>/<tenant>/<run_id>/`` with the SDK's own bundle writer. See ``docs/server.md``.
"""

from augur_sdk.server.app import create_app
from augur_sdk.server.config import ConfigError, ServerConfig, TokenTable, load_tokens
from augur_sdk.server.runner import run_server

__all__ = ["ConfigError", "ServerConfig", "TokenTable", "create_app", "load_tokens",
           "run_server"]
