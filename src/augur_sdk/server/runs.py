"""One run on the server: its bundle writer and what the server knows about it.

A run's bundle is created on first contact (heartbeat, session, step, ...) with a
*placeholder* session record (run id, client and capture mode from the latest heartbeat,
status ``running``); ``PUT /runs/{run}/session`` replaces the placeholder; the trace (or, over
OTLP, the run span) carries the authoritative session record and finishes the bundle. Data
that arrives after the finish (the 0.6.1 client sends its last requests from racing threads)
is merged and the bundle finished again, within ``reopen_window_s``; after that window, late
data is ignored (and counted): a finished run is never destroyed. A new session for the run
id (another ``debug_session_id``) moves the older bundle aside and starts a new one. A run
no request reached for ``finish_idle_after_s`` is finished by the server, ``halted``; data
of that same session arriving later reopens it.

Every method runs on a worker thread with the run's lock held; ``RunError`` carries the HTTP
status for the client.
"""

from __future__ import annotations

from augur_sdk.server.run_core import (
    FINISHED_IGNORED,
    OK,
    SOURCE_DSN,
    SOURCE_OTLP,
    Body,
    Idempotency,
    Ignored,
    RunCore,
)
from augur_sdk.server.run_records import RecordRequests
from augur_sdk.server.run_stream import StreamRequests

__all__ = ["FINISHED_IGNORED", "OK", "SOURCE_DSN", "SOURCE_OTLP", "Body", "Idempotency",
           "Ignored", "Run", "RunCore"]


class Run(StreamRequests, RecordRequests):
    """The server side of one ``<tenant>/<run_id>``: the core (``run_core``), the streaming
    protocol's requests (``run_stream``) and the other record kinds' and OTLP's
    (``run_records``). Every method runs with the run's lock held (``call``)."""
