"""Which OTLP destination the environment (or configure()) selects."""

from __future__ import annotations

import pytest

import augur_sdk
from augur_sdk.otel import provider
from augur_sdk.otel.provider import Settings, make_otlp_exporter, resolve_otlp
from augur_sdk.otel.run_header import RunHeaderExporter


def test_no_endpoint_means_no_export() -> None:
    """Without an endpoint anywhere, OTLP stays off (no default localhost:4318 at exit)."""
    assert resolve_otlp(Settings(), env={"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}) is None


def test_endpoint_precedence_and_protocol() -> None:
    """configure() beats the traces variable, which beats the generic one; protocol vars apply."""
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://generic:4318",
           "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces:4318/custom",
           "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TIMEOUT": "2.5"}
    from_traces = resolve_otlp(Settings(), env=env)
    assert from_traces is not None
    assert (from_traces.endpoint, from_traces.endpoint_is_full) == ("http://traces:4318/custom",
                                                                   True)
    assert from_traces.protocol == "grpc" and from_traces.timeout_s == 2.5
    generic = resolve_otlp(Settings(), env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://g:4318"})
    assert generic is not None and not generic.endpoint_is_full
    assert generic.protocol == "http/protobuf" and generic.timeout_s == 5.0
    option = resolve_otlp(Settings(otlp_endpoint="http://opt:4318", otlp_protocol="grpc"),
                          env=env)
    assert option is not None and option.endpoint == "http://opt:4318"
    traces_protocol = resolve_otlp(Settings(), env={
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://g:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"})
    assert traces_protocol is not None and traces_protocol.protocol == "http/protobuf"


def test_exporter_class_follows_the_protocol() -> None:
    """http/protobuf builds the HTTP exporter on <base>/v1/traces; grpc the gRPC exporter."""
    http = make_otlp_exporter(resolve_otlp(Settings(otlp_endpoint="http://h:4318"), env={}))  # type: ignore[arg-type]
    assert isinstance(http, RunHeaderExporter)  # one HTTP exporter per run: run_header.py
    inner = http._exporter("run-1")
    assert type(inner).__module__.startswith("opentelemetry.exporter.otlp.proto.http")
    assert inner._endpoint == "http://h:4318/v1/traces"  # type: ignore[attr-defined]
    grpc = make_otlp_exporter(resolve_otlp(Settings(otlp_endpoint="http://h:4317",  # type: ignore[arg-type]
                                                    otlp_protocol="grpc"), env={}))
    assert type(grpc).__module__.startswith("opentelemetry.exporter.otlp.proto.grpc")


def test_unsupported_protocol_falls_back_to_http(caplog) -> None:  # type: ignore[no-untyped-def]
    """http/json (unsupported by the Python exporters) logs once and uses http/protobuf."""
    got = resolve_otlp(Settings(), env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://g:4318",
                                        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"})
    assert got is not None and got.protocol == "http/protobuf"
    assert any("http/json" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("explicit", "env", "want"), [
    (None, {}, "myagent"),
    (None, {"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod"}, "myagent"),
    (None, {"OTEL_RESOURCE_ATTRIBUTES": "team=cua, service.name=from-attrs"}, "from-attrs"),
    (None, {"OTEL_SERVICE_NAME": "from-env",
            "OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs"}, "from-env"),
    ("explicit", {"OTEL_SERVICE_NAME": "from-env"}, "explicit"),
])
def test_service_name_precedence_on_the_real_resource(monkeypatch: pytest.MonkeyPatch,
                                                      explicit: str | None,
                                                      env: dict[str, str], want: str) -> None:
    """service.name: configure(service_name=) > OTEL_SERVICE_NAME > OTEL_RESOURCE_ATTRIBUTES >
    client_name; other resource attributes from the environment are kept."""
    for name in ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    provider.reset(timeout_s=1.0)
    try:
        if explicit is not None:
            augur_sdk.configure(service_name=explicit)
        resource = provider.get_pipeline("myagent").provider.resource
        assert resource.attributes["service.name"] == want
        if "deployment.environment" in env.get("OTEL_RESOURCE_ATTRIBUTES", ""):
            assert resource.attributes["deployment.environment"] == "prod"
    finally:
        provider.reset(timeout_s=1.0)
