"""collector-config/loadbalancing/: the two-tier OTLP path to several augur serve replicas
(a loadbalancing collector routing by trace id, one sidecar collector per replica turning
OTLP gRPC into augur serve's OTLP/HTTP). Checked for structure only: no collector binary
runs on CI. The last test feeds broken copies to the checks to prove they catch them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from test_collector_config import (
    CORE_TYPES,
    ctype,
    processor_order_problems,
    undefined_references,
    unknown_types,
    unused_components,
)

DIR = Path(__file__).resolve().parent.parent / "collector-config" / "loadbalancing"
TIER1 = "tier1-loadbalancer.yaml"
SIDECAR = "replica-sidecar.yaml"
TIER1_TYPES = {**CORE_TYPES, "exporters": {"loadbalancing"}}  # loadbalancing: contrib
SIDECAR_TYPES = {"receivers": {"otlp"}, "processors": {"memory_limiter", "batch"},
                 "exporters": {"otlp_http", "otlphttp"}}

Doc = dict[str, Any]


def load(name: str) -> Doc:
    doc = yaml.safe_load((DIR / name).read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def port_of(endpoint: str) -> str:
    return endpoint.rsplit(":", 1)[-1]


def loadbalancing_problems(cfg: Doc) -> list[str]:
    exporters = [c for c in cfg.get("exporters") or {} if ctype(c) == "loadbalancing"]
    if len(exporters) != 1:
        return [f"expected one loadbalancing exporter, got {exporters}"]
    lb = cfg["exporters"][exporters[0]] or {}
    problems = []
    if lb.get("routing_key") != "traceID":
        problems.append(f"routing_key is {lb.get('routing_key')!r}, not traceID (a run is "
                        f"one trace)")
    otlp = (lb.get("protocol") or {}).get("otlp")
    if not isinstance(otlp, dict):
        problems.append("protocol.otlp is missing (the only protocol it speaks)")
    elif "endpoint" in otlp:
        problems.append("protocol.otlp.endpoint is set: the resolver decides the endpoint")
    resolver = lb.get("resolver") or {}
    if len(resolver) != 1:
        problems.append(f"exactly one resolver must be set, got {sorted(resolver)}")
    hosts = (resolver.get("static") or {}).get("hostnames") or []
    if "static" in resolver and len(hosts) < 2:
        problems.append("the static resolver lists fewer than two replicas")
    if len(set(hosts)) != len(hosts):
        problems.append("a replica is listed twice")
    return problems


def sidecar_problems(cfg: Doc, tier1: Doc) -> list[str]:
    problems = []
    grpc = (((cfg.get("receivers") or {}).get("otlp") or {}).get("protocols") or {}).get("grpc")
    if not isinstance(grpc, dict):
        return ["the sidecar has no OTLP gRPC receiver (the loadbalancing exporter sends gRPC)"]
    lb = next(v for k, v in tier1["exporters"].items() if ctype(k) == "loadbalancing")
    hosts = ((lb.get("resolver") or {}).get("static") or {}).get("hostnames") or []
    ports = {port_of(h) for h in hosts}
    if ports != {port_of(str(grpc.get("endpoint", "")))}:
        problems.append(f"tier 1 sends to ports {sorted(ports)}, the sidecar listens on "
                        f"{grpc.get('endpoint')!r}")
    http = [v or {} for k, v in (cfg.get("exporters") or {}).items()
            if ctype(k) in ("otlp_http", "otlphttp")]
    if len(http) != 1:
        return [*problems, "expected one OTLP/HTTP exporter"]
    endpoint = str(http[0].get("traces_endpoint", ""))
    if not endpoint.startswith("http://127.0.0.1:") or not endpoint.endswith("/v1/traces"):
        problems.append(f"traces_endpoint {endpoint!r} is not augur serve's /v1/traces on "
                        f"loopback")
    if http[0].get("encoding", "proto") not in ("proto", "json"):
        problems.append("encoding must be proto or json (augur serve reads both)")
    token = str((http[0].get("headers") or {}).get("x-augur-token", ""))
    if token and not token.startswith("${env:"):
        problems.append("the token is written in the file; take it from the environment")
    return problems


@pytest.mark.parametrize("name", [TIER1, SIDECAR])
def test_pipelines_reference_only_defined_components_and_use_all(name: str) -> None:
    """Each file's pipelines name defined components only, and every component is used."""
    cfg = load(name)
    assert undefined_references(cfg) == []
    assert unused_components(cfg) == []
    assert processor_order_problems(cfg) == []


def test_component_types_are_the_expected_ones() -> None:
    """Tier 1 uses core components plus contrib's loadbalancing; the sidecar core only."""
    assert unknown_types(load(TIER1), TIER1_TYPES) == []
    assert unknown_types(load(SIDECAR), SIDECAR_TYPES) == []


def test_tier1_routes_by_trace_id_to_the_sidecars() -> None:
    """routing_key traceID, one static resolver with two replicas, gRPC to each sidecar's
    receiver port; the sidecar sends OTLP/HTTP to augur serve on loopback."""
    tier1 = load(TIER1)
    assert loadbalancing_problems(tier1) == []
    assert sidecar_problems(load(SIDECAR), tier1) == []


def test_the_checks_catch_broken_configs() -> None:
    """Broken copies: each check reports the problem it exists for."""
    tier1, sidecar = load(TIER1), load(SIDECAR)

    bad = copy.deepcopy(tier1)
    bad["exporters"]["loadbalancing"]["routing_key"] = "service"
    assert any("routing_key" in p for p in loadbalancing_problems(bad))
    bad = copy.deepcopy(tier1)
    bad["exporters"]["loadbalancing"]["resolver"]["static"]["hostnames"] = ["a:4317"]
    assert any("fewer than two" in p for p in loadbalancing_problems(bad))
    bad = copy.deepcopy(tier1)
    bad["exporters"]["loadbalancing"]["resolver"]["dns"] = {"hostname": "x"}
    assert any("one resolver" in p for p in loadbalancing_problems(bad))
    bad = copy.deepcopy(tier1)
    bad["exporters"]["loadbalancing"]["protocol"]["otlp"]["endpoint"] = "x:4317"
    assert any("resolver decides" in p for p in loadbalancing_problems(bad))

    bad = copy.deepcopy(sidecar)
    bad["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] = "0.0.0.0:5317"
    assert any("listens on" in p for p in sidecar_problems(bad, tier1))
    bad = copy.deepcopy(sidecar)
    bad["exporters"]["otlp_http/augur"]["traces_endpoint"] = "http://10.0.0.1:8765/v1/traces"
    assert any("loopback" in p for p in sidecar_problems(bad, tier1))
    bad = copy.deepcopy(sidecar)
    bad["exporters"]["otlp_http/augur"]["headers"]["x-augur-token"] = "tok-plain"
    assert any("environment" in p for p in sidecar_problems(bad, tier1))
    bad = copy.deepcopy(sidecar)
    bad["service"]["pipelines"]["traces"]["exporters"] = ["otlp_http/other"]
    assert undefined_references(bad) and unused_components(bad)
