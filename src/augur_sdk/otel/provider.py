"""Our private TracerProvider: one per process, built lazily, never set as the global one.

* ``sampler=ALWAYS_ON`` and explicit :class:`SpanLimits`: the app's ``OTEL_TRACES_SAMPLER``,
  an unsampled app parent, or ``OTEL_*_LIMIT`` variables must not change what we record.
* Context is shared across providers, so our run span still nests under the app's span.
* OTLP is added only when an endpoint is configured (``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``,
  ``OTEL_EXPORTER_OTLP_ENDPOINT`` or :func:`augur_sdk.configure`), with our own short timeout.
* Flush and shutdown are bounded by us (daemon thread + join): the SDK's own ``force_flush``
  ignores its timeout against a dead collector.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, SpanProcessor, Tracer, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from augur_sdk import _internal
from augur_sdk._version import __version__
from augur_sdk.otel import logs
from augur_sdk.otel.processors import RunRouter, SafeSpanProcessor

INSTRUMENTATION_SCOPE = "augur_sdk"
DEFAULT_OTLP_TIMEOUT_S = 5.0
DEFAULT_CLOSE_TIMEOUT_S = 5.0

SPAN_LIMITS = SpanLimits(
    max_span_attributes=1024,
    max_events=4096,
    max_links=128,
    max_event_attributes=128,
    max_link_attributes=128,
    max_attribute_length=SpanLimits.UNSET,
    max_span_attribute_length=SpanLimits.UNSET,
)


@dataclass
class OtlpSettings:
    endpoint: str
    protocol: str  # "http/protobuf" or "grpc"
    timeout_s: float
    endpoint_is_full: bool  # True: use as-is; False: a base URL (``/v1/traces`` is added)


@dataclass
class Settings:
    """Process-wide settings; see :func:`augur_sdk.configure`."""

    otlp_endpoint: str | None = None
    otlp_protocol: str | None = None
    otlp_timeout_s: float | None = None
    close_timeout_s: float = DEFAULT_CLOSE_TIMEOUT_S
    span_processors: list[SpanProcessor] = field(default_factory=list)
    span_exporters: list[SpanExporter] = field(default_factory=list)
    service_name: str | None = None
    id_generator: IdGenerator | None = None


def _env_float(env: Mapping[str, str], *names: str) -> float | None:
    for name in names:
        raw = env.get(name)
        if raw:
            try:
                return float(raw)
            except ValueError:
                _internal.log_once(f"env:{name}", 30, "augur_sdk: ignoring %s=%r (not a number)",
                                   name, raw)
    return None


def resolve_otlp(settings: Settings, env: Mapping[str, str] | None = None) -> OtlpSettings | None:
    """The OTLP destination, or None when no endpoint is configured anywhere."""
    env = os.environ if env is None else env
    if settings.otlp_endpoint:
        endpoint, full = settings.otlp_endpoint, settings.otlp_endpoint.rstrip("/").endswith(
            "/v1/traces")
    elif env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        endpoint, full = env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"], True
    elif env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        endpoint, full = env["OTEL_EXPORTER_OTLP_ENDPOINT"], False
    else:
        return None
    protocol = (
        settings.otlp_protocol
        or env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip().lower()
    if protocol not in ("http/protobuf", "grpc"):
        _internal.log_once(
            f"otlp-protocol:{protocol}", 30,
            "augur_sdk: OTLP protocol %r is not supported (use http/protobuf or grpc); "
            "using http/protobuf", protocol,
        )
        protocol = "http/protobuf"
    timeout = settings.otlp_timeout_s
    if timeout is None:
        timeout = _env_float(env, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")
    return OtlpSettings(endpoint, protocol, timeout or DEFAULT_OTLP_TIMEOUT_S, full)


def make_otlp_exporter(otlp: OtlpSettings) -> SpanExporter:
    """The OTLP exporter for ``otlp``; headers, compression and TLS come from the env vars
    (over HTTP, each run's spans are sent with ``X-Augur-Run-Id``: ``run_header.py``)."""
    if otlp.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        endpoint = otlp.endpoint
        insecure = endpoint.startswith("http://") or None
        return GrpcExporter(endpoint=endpoint, insecure=insecure, timeout=otlp.timeout_s)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )

    endpoint = otlp.endpoint if otlp.endpoint_is_full else (
        otlp.endpoint.rstrip("/") + "/v1/traces")
    from augur_sdk.otel.run_header import RunHeaderExporter

    # One request per run, with X-Augur-Run-Id, so a router can keep a run on one server
    # (otel/run_header.py; deploy/nginx).
    return RunHeaderExporter(lambda headers: HttpExporter(
        endpoint=endpoint, timeout=otlp.timeout_s, headers=headers or None))


def run_bounded(fn: object, timeout_s: float, what: str) -> bool:
    """Run ``fn()`` on a daemon thread and wait at most ``timeout_s``; True if it finished."""
    done = threading.Event()

    def target() -> None:
        with _internal.internal_errors(what):
            fn()  # type: ignore[operator]
        done.set()

    thread = threading.Thread(target=target, name=f"augur-{what}", daemon=True)
    try:
        thread.start()
    except RuntimeError:  # interpreter shutting down
        return False
    thread.join(max(timeout_s, 0.0))
    return done.is_set()


def resolve_service_name(explicit: str | None, client_name: str,
                         env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``service.name`` we set on our resource ({} leaves it to the environment):
    ``configure(service_name=)`` > ``OTEL_SERVICE_NAME`` > ``service.name`` in
    ``OTEL_RESOURCE_ATTRIBUTES`` > the session's ``client_name``."""
    env = os.environ if env is None else env
    if explicit:
        return {"service.name": explicit}
    if env.get("OTEL_SERVICE_NAME"):
        return {}
    for item in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, _, value = item.partition("=")
        if key.strip() == "service.name" and value.strip():
            return {}
    return {"service.name": client_name}


class Pipeline:
    """The process's provider, router and exporters."""

    def __init__(self, settings: Settings, service_name: str) -> None:
        self.settings = settings
        # Resource.create merges OTEL_RESOURCE_ATTRIBUTES/OTEL_SERVICE_NAME under these.
        resource = Resource.create(resolve_service_name(settings.service_name, service_name))
        self.provider = TracerProvider(
            sampler=ALWAYS_ON, span_limits=SPAN_LIMITS, resource=resource, shutdown_on_exit=False,
            id_generator=settings.id_generator,
        )
        self.router = RunRouter()
        self.provider.add_span_processor(SafeSpanProcessor(self.router, "bundle"))
        self.exporting: list[SpanProcessor] = []
        otlp = resolve_otlp(settings)
        self.otlp = otlp
        exporters = list(settings.span_exporters)
        if otlp is not None:
            exporters.insert(0, make_otlp_exporter(otlp))
        for exporter in exporters:
            bsp = BatchSpanProcessor(exporter, schedule_delay_millis=1000,
                                     max_export_batch_size=128)
            self.exporting.append(bsp)
        self.exporting.extend(settings.span_processors)
        for proc in self.exporting:
            self.provider.add_span_processor(SafeSpanProcessor(proc))
        self.tracer: Tracer = self.provider.get_tracer(  # type: ignore[assignment]
            INSTRUMENTATION_SCOPE, __version__
        )
        self.logs = logs.make_logger_provider(otlp, resource)
        self.logger = None if self.logs is None else logs.get_logger(self.logs)

    def flush_in_background(self, timeout_s: float,
                            extra: Callable[[int], None] | None = None) -> threading.Event:
        """Start flushing exporters on a daemon thread; the event is set when they are done."""
        done = threading.Event()
        millis = int(timeout_s * 1000)

        def flush_all() -> None:
            with _internal.internal_errors("flush"):
                for proc in self.exporting:
                    proc.force_flush(millis)
                if self.logs is not None:
                    self.logs.force_flush(millis)
                if extra is not None:
                    extra(millis)
            done.set()

        if not self.exporting and extra is None and self.logs is None:
            done.set()
            return done
        try:
            threading.Thread(target=flush_all, name="augur-flush", daemon=True).start()
        except RuntimeError:
            done.set()
        return done

    def shutdown(self, timeout_s: float) -> bool:
        logs_done = True
        if self.logs is not None:
            logs_done = run_bounded(self.logs.shutdown, timeout_s, "shutdown")
        return run_bounded(self.provider.shutdown, timeout_s, "shutdown") and logs_done


_lock = threading.Lock()
_settings = Settings()
_pipeline: Pipeline | None = None
_atexit_registered = False


def configure(**options: object) -> None:
    """Set process-wide options; takes effect for the pipeline built next (see ``reset``)."""
    global _settings
    with _lock:
        for key, value in options.items():
            if not hasattr(_settings, key):
                raise TypeError(f"configure: unknown option {key!r}")
            setattr(_settings, key, value)


def get_pipeline(service_name: str) -> Pipeline:
    global _pipeline, _atexit_registered
    with _lock:
        if _pipeline is None:
            _pipeline = Pipeline(_settings, service_name)
            if not _atexit_registered:
                atexit.register(_at_exit)
                _atexit_registered = True
        return _pipeline


def reset(timeout_s: float | None = None) -> None:
    """Shut the pipeline down (bounded) and forget settings; the next session builds anew."""
    global _pipeline, _settings
    with _lock:
        pipeline, _pipeline = _pipeline, None
        _settings = Settings()
    if pipeline is not None:
        pipeline.shutdown(DEFAULT_CLOSE_TIMEOUT_S if timeout_s is None else timeout_s)


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    if _pipeline is not None:
        _pipeline.router.reinit_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _at_exit() -> None:
    pipeline = _pipeline
    if pipeline is not None and pipeline.exporting and not pipeline.shutdown(
            pipeline.settings.close_timeout_s):
        _internal.logger.warning(
            "augur_sdk: exporters did not finish within %.1fs at exit; spans not yet "
            "delivered were dropped (the local bundles are complete; `augur export-otlp` "
            "can resend them)", pipeline.settings.close_timeout_s,
        )
