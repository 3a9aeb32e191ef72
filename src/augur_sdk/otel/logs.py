"""The run's log lines (``append_log``) as OpenTelemetry log records, sent over OTLP next
to the spans, each correlated with the span it was written under (its trace and span ids).

Logs go wherever the traces go: ``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`` (a full URL), else the
base ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``augur_sdk.configure(otlp_endpoint=...)`` plus
``/v1/logs``. A traces-only endpoint sends no logs; ``OTEL_LOGS_EXPORTER=none`` turns them
off. A receiver that takes no logs (Phoenix) costs a failed export, never an error in the
agent: the bundle's ``logs/`` has every line anyway.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import Logger, LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import Span

from augur_sdk._version import __version__

if TYPE_CHECKING:
    from augur_sdk.otel.provider import OtlpSettings

SCOPE = "augur_sdk"


def resolve_logs_endpoint(otlp: OtlpSettings | None,
                          env: Mapping[str, str] | None = None) -> str | None:
    """Where log records go (``None``: nowhere); pure, the environment injectable."""
    env = os.environ if env is None else env
    if env.get("OTEL_LOGS_EXPORTER", "").strip().lower() == "none" or otlp is None:
        return None
    if env.get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"):
        return env["OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"]
    if otlp.endpoint_is_full:
        return None  # a traces-only endpoint: its logs path is not ours to guess
    if otlp.protocol == "grpc":
        return otlp.endpoint
    return otlp.endpoint.rstrip("/") + "/v1/logs"


def make_logger_provider(otlp: OtlpSettings | None, resource: Resource,
                         env: Mapping[str, str] | None = None) -> LoggerProvider | None:
    endpoint = resolve_logs_endpoint(otlp, env)
    if endpoint is None or otlp is None:
        return None
    exporter: Any
    if otlp.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
            OTLPLogExporter as GrpcLogExporter,
        )
        exporter = GrpcLogExporter(endpoint=endpoint, insecure=endpoint.startswith("http://"),
                                   timeout=otlp.timeout_s)
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        exporter = OTLPLogExporter(endpoint=endpoint, timeout=otlp.timeout_s)
    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter,
                                                              schedule_delay_millis=1000))
    return provider


def get_logger(provider: LoggerProvider) -> Logger:
    return provider.get_logger(SCOPE, __version__)  # type: ignore[return-value]


def emit(logger: Logger, text: str, span: Span, attributes: Mapping[str, Any]) -> None:
    """One log record, in the context of ``span`` (so it carries its trace and span ids)."""
    logger.emit(body=text, severity_number=SeverityNumber.INFO, severity_text="INFO",
                context=trace.set_span_in_context(span), attributes=dict(attributes))
