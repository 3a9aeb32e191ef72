"""`augur export-otlp BUNDLE`: replay a recorded bundle as spans to an OTLP collector.

What it prints is meant for a terminal and for a log file alike: the progress bar only when
stderr is a terminal, and for each batch the collector did not take, one line that says how
many spans and why (OpenTelemetry's exporter logs every retry; those lines are kept for the
reason and not printed).
"""

from __future__ import annotations

import argparse
import logging
import re
import socket
import sys
import urllib.parse
from collections.abc import Sequence
from typing import TextIO

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from augur_sdk.otel.provider import Settings, make_otlp_exporter, resolve_otlp
from augur_sdk.otel.replay import ReplayError, replay_bundle, text_progress

_OTEL_LOGGER = "opentelemetry"
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


class _LastProblem(logging.Handler):
    """Keeps what OpenTelemetry's exporter said went wrong, instead of printing it: the
    error inside its message when there is one (an exception, gRPC's error details, an HTTP
    status), else the message itself."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.text = ""

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        error = next((a for a in args if isinstance(a, BaseException)), None)
        message = record.getMessage()
        status = _HTTP_STATUS.search(message)
        if error is not None:
            self.text = _reason(error)
        elif _DETAILS in message.lower():
            self.text = _reason(message[message.lower().index(_DETAILS) + len(_DETAILS):])
        elif status:
            self.text = f"HTTP {status.group(1)} {status.group(2)}".strip()
        elif transient := _TRANSIENT.search(message):
            self.text = _reason(transient.group(1))
        elif not self.text:  # a retry's last word ("due to timeout") adds nothing to a cause
            self.text = _reason(message)

    def take(self) -> str:
        text, self.text = self.text, ""
        return text


_DETAILS = "error details: "
_HTTP_STATUS = re.compile(r"code: (\d{3}), reason: ([^\n]*)")
_TRANSIENT = re.compile(r"Transient error (.+?) encountered")


def _reason(problem: BaseException | str) -> str:
    """A short reason: an OS error's own words (`Connection refused`) when one is inside."""
    text = str(problem).strip()
    found = _ERRNO.search(text)
    if found:
        return found.group(1).strip()
    return text.splitlines()[0][:200] if text else ""


def _cannot_connect(endpoint: str) -> str:
    """`cannot connect to HOST:PORT: <reason>` when a TCP connection fails, else ''."""
    parsed = urllib.parse.urlsplit(endpoint if "://" in endpoint else f"grpc://{endpoint}")
    default = {"http": 80, "https": 443}.get(parsed.scheme, 4317)
    try:
        host, port = parsed.hostname, parsed.port or default
    except ValueError:
        return ""
    if not host:
        return ""
    try:
        socket.create_connection((host, port), timeout=2.0).close()
    except OSError as exc:
        return f"cannot connect to {host}:{port}: {exc.strerror or exc}"
    return ""


class _SayFailures(SpanExporter):
    """Passes each batch on; for a batch that was not delivered, prints one line."""

    def __init__(self, inner: SpanExporter, endpoint: str, problems: _LastProblem,
                 out: TextIO) -> None:
        self.inner = inner
        self.endpoint = endpoint
        self.problems = problems
        self.out = out

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        if result is not SpanExportResult.SUCCESS:
            # The exporter does not always say why (when no retry fits in the timeout), so
            # first see whether the endpoint takes a connection at all.
            said = self.problems.take()
            why = _cannot_connect(self.endpoint) or said or "the exporter gave no reason"
            self.out.write(f"augur export-otlp: {len(spans)} span(s) not delivered to "
                           f"{self.endpoint}: {why}\n")
            self.out.flush()
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def export_otlp(args: argparse.Namespace) -> int:
    otlp = resolve_otlp(Settings(otlp_endpoint=args.endpoint, otlp_protocol=args.protocol,
                                 otlp_timeout_s=args.timeout))
    if otlp is None:
        print("augur export-otlp: no endpoint; pass --endpoint or set "
              "OTEL_EXPORTER_OTLP_ENDPOINT", file=sys.stderr)
        return 2
    show = None if args.no_progress or not sys.stderr.isatty() else text_progress()
    problems = _LastProblem()
    otel_logger = logging.getLogger(_OTEL_LOGGER)
    propagate = otel_logger.propagate
    otel_logger.addHandler(problems)
    otel_logger.propagate = False
    try:
        exporter = _SayFailures(make_otlp_exporter(otlp), otlp.endpoint, problems, sys.stderr)
        result = replay_bundle(args.bundle, exporter, progress=show,
                               timeout_s=args.timeout or 30.0)
    except (ReplayError, OSError, ValueError) as exc:
        print(f"augur export-otlp: {exc}", file=sys.stderr)
        return 2
    finally:
        otel_logger.removeHandler(problems)
        otel_logger.propagate = propagate
    print(f"exported {result.spans} spans ({result.steps} steps, {result.events} events, "
          f"{result.model_calls} model calls) of "
          f"trace {result.trace_id} to {otlp.endpoint}: {result.sent} delivered, "
          f"{result.failed} failed")
    return 0 if result.failed == 0 and result.sent == result.spans else 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "export-otlp", help="send a recorded bundle's spans to an OTLP collector",
        description="Replays the run, its steps and decision events as the same spans a live "
                    "run sends (reusing the recorded trace/span ids). Exit 0 when every span "
                    "was delivered, 1 when some were not, 2 on bad input. A batch that was "
                    "not delivered is reported on stderr in one line, with the reason.")
    p.add_argument("bundle", help="bundle directory")
    p.add_argument("--endpoint", help="OTLP endpoint (default: OTEL_EXPORTER_OTLP_*ENDPOINT); "
                                      "http://host:4318 or a full .../v1/traces URL, "
                                      "host:4317 with --protocol grpc")
    p.add_argument("--protocol", choices=["http/protobuf", "grpc"],
                   help="default: OTEL_EXPORTER_OTLP_PROTOCOL or http/protobuf")
    p.add_argument("--timeout", type=float, default=None, help="seconds per export (default 5)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (there is none unless stderr is a terminal)")
    p.set_defaults(func=export_otlp)
