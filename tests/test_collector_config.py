"""collector-config/ is well formed: pipelines, OTLP ports, compose wiring, loopback-only ports.

No collector binary or Docker engine runs on CI, so the collector never loads these files here.
These tests check their structure instead. Each check is a function that returns a list of
problems; the last tests feed broken copies to the checks to prove that they catch them.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml  # PyYAML (the `test` extra)

CONFIG_DIR = Path(__file__).resolve().parent.parent / "collector-config"
MAIN = "otel-collector.yaml"
CORE = "otel-collector.core.yaml"
COMPOSE = "docker-compose.yml"
KINDS = ("receivers", "processors", "exporters")
# Component types whose code lives in the collector core repository. `otlp` is the exporter's
# deprecated alias for `otlp_grpc` (v0.144); `logging` and `jaeger` exporters were removed.
CORE_TYPES = {
    "receivers": {"otlp"},
    "processors": {"memory_limiter", "batch"},
    "exporters": {"otlp_grpc", "otlp", "otlp_http", "otlphttp", "debug"},
}
CONTRIB_TYPES = {"exporters": {"file"}}
OTLP_GRPC_EXPORTERS = {"otlp_grpc", "otlp"}
COLLECTOR_DEFAULT_CONFIG = "/etc/otelcol-contrib/config.yaml"  # CMD of the contrib image
LOOPBACK = "127.0.0.1"

Doc = dict[str, Any]


def load(name: str) -> Doc:
    with (CONFIG_DIR / name).open(encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    assert isinstance(doc, dict), f"{name}: top level is not a mapping"
    return doc


def ctype(component_id: str) -> str:
    """`otlp_grpc/jaeger` -> `otlp_grpc` (the part before the optional `/name`)."""
    return component_id.split("/", 1)[0]


def pipelines(cfg: Doc) -> dict[str, Doc]:
    return (cfg.get("service") or {}).get("pipelines") or {}


def defined(cfg: Doc, kind: str) -> set[str]:
    return set(cfg.get(kind) or {})


# --- collector config checks ---------------------------------------------------------------


def undefined_references(cfg: Doc) -> list[str]:
    problems = []
    if not pipelines(cfg):
        problems.append("service.pipelines is empty")
    for name, pipe in pipelines(cfg).items():
        for kind in KINDS:
            for ref in (pipe or {}).get(kind) or []:
                if ref not in defined(cfg, kind):
                    problems.append(f"pipeline {name}: {kind[:-1]} {ref!r} is not defined")
        for kind in ("receivers", "exporters"):
            if not (pipe or {}).get(kind):
                problems.append(f"pipeline {name}: no {kind}")
    for ext in (cfg.get("service") or {}).get("extensions") or []:
        if ext not in defined(cfg, "extensions"):
            problems.append(f"service.extensions: {ext!r} is not defined")
    return problems


def unused_components(cfg: Doc) -> list[str]:
    problems = []
    for kind in KINDS:
        used = {ref for pipe in pipelines(cfg).values() for ref in (pipe or {}).get(kind) or []}
        problems += [f"{kind[:-1]} {c!r} is defined but in no pipeline"
                     for c in sorted(defined(cfg, kind) - used)]
    enabled = set((cfg.get("service") or {}).get("extensions") or [])
    problems += [f"extension {e!r} is defined but not enabled"
                 for e in sorted(defined(cfg, "extensions") - enabled)]
    return problems


def otlp_port_problems(cfg: Doc) -> list[str]:
    protocols = ((cfg.get("receivers") or {}).get("otlp") or {}).get("protocols") or {}
    problems = []
    for proto, port in (("grpc", 4317), ("http", 4318)):
        endpoint = str((protocols.get(proto) or {}).get("endpoint", ""))
        # 0.0.0.0 inside the container: the collector's own default (localhost) is not
        # reachable through a published port.
        if endpoint != f"0.0.0.0:{port}":
            problems.append(f"otlp receiver {proto} endpoint is {endpoint!r}, not 0.0.0.0:{port}")
    used = any("otlp" in (pipe or {}).get("receivers", []) for pipe in pipelines(cfg).values())
    if not used:
        problems.append("the otlp receiver is in no pipeline")
    return problems


def processor_order_problems(cfg: Doc) -> list[str]:
    problems = []
    for name, pipe in pipelines(cfg).items():
        types = [ctype(p) for p in (pipe or {}).get("processors") or []]
        if not types or types[0] != "memory_limiter":
            problems.append(f"pipeline {name}: memory_limiter is not the first processor")
        if "batch" not in types:
            problems.append(f"pipeline {name}: no batch processor")
    return problems


def unknown_types(cfg: Doc, allowed: dict[str, set[str]]) -> list[str]:
    return [f"{kind[:-1]} {c!r}: type {ctype(c)!r} is not allowed here"
            for kind in KINDS for c in sorted(defined(cfg, kind))
            if ctype(c) not in allowed.get(kind, set())]


def all_types() -> dict[str, set[str]]:
    return {kind: CORE_TYPES.get(kind, set()) | CONTRIB_TYPES.get(kind, set()) for kind in KINDS}


def without_file_exporter(cfg: Doc) -> Doc:
    out = copy.deepcopy(cfg)
    for c in [c for c in out.get("exporters") or {} if ctype(c) == "file"]:
        del out["exporters"][c]
        for pipe in pipelines(out).values():
            pipe["exporters"] = [e for e in pipe.get("exporters") or [] if e != c]
    return out


# --- compose checks ------------------------------------------------------------------------

_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[-?]([^}]*))?\}")


def interpolate(value: str) -> str:
    """Compose `${VAR:-default}` with an empty environment: the value the repo ships."""
    return _INTERPOLATION.sub(lambda m: m.group(2) or "", value)


def services(compose: Doc) -> dict[str, Doc]:
    return compose.get("services") or {}


def find_service(compose: Doc, image_part: str) -> tuple[str, Doc]:
    hits = [(n, s) for n, s in services(compose).items() if image_part in str(s.get("image", ""))]
    assert len(hits) == 1, f"expected one service with image *{image_part}*, got {hits}"
    return hits[0]


def environment(service: Doc) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): str(v) for k, v in env.items()}


def command_args(service: Doc) -> list[str]:
    cmd = service.get("command") or []
    return cmd.split() if isinstance(cmd, str) else [str(a) for a in cmd]


def volumes(service: Doc) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) per mount, interpolated."""
    out = []
    for vol in service.get("volumes") or []:
        if isinstance(vol, dict):
            out.append((interpolate(str(vol.get("source", ""))), str(vol["target"]),
                        bool(vol.get("read_only", False))))
            continue
        parts = interpolate(str(vol)).split(":")
        if len(parts) == 1:
            out.append(("", parts[0], False))
        else:
            mode = parts[2].split(",") if len(parts) > 2 else []
            out.append((parts[0], parts[1], "ro" in mode))
    return out


def published_ports(service: Doc) -> list[tuple[str, str, str]]:
    """(host_ip, host_port, container_port) per published port; host_ip '' means all."""
    out = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            out.append((str(port.get("host_ip", "")), str(port.get("published", "")),
                        str(port.get("target", ""))))
            continue
        spec = str(port).split("/", 1)[0]
        ip = ""
        if spec.startswith("["):
            ip, spec = spec[1:].split("]:", 1)
        parts = spec.split(":")
        if len(parts) == 3:
            ip, parts = parts[0], parts[1:]
        host, container = (parts[0], parts[1]) if len(parts) == 2 else ("", parts[0])
        out.append((ip, host, container))
    return out


def loopback_problems(compose: Doc) -> list[str]:
    problems = []
    for name, svc in services(compose).items():
        if str(svc.get("network_mode", "")).startswith("host"):
            problems.append(f"{name}: network_mode host bypasses port binding")
        for ip, host, container in published_ports(svc):
            if ip != LOOPBACK:
                problems.append(f"{name}: port {host or '?'}->{container} is published on "
                                f"{ip or 'all interfaces'}, not {LOOPBACK}")
    return problems


def collector_config_path(collector: Doc) -> str:
    args = command_args(collector)
    for i, arg in enumerate(args):
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
        if arg == "--config" and i + 1 < len(args):
            return args[i + 1]
    return COLLECTOR_DEFAULT_CONFIG


def collector_mount_problems(compose: Doc) -> list[str]:
    _, collector = find_service(compose, "otel/opentelemetry-collector")
    target = collector_config_path(collector)
    mounts = [(src, ro) for src, tgt, ro in volumes(collector) if tgt == target]
    if len(mounts) != 1:
        return [f"collector reads {target} but {len(mounts)} volumes mount it"]
    src, read_only = mounts[0]
    problems = []
    if (CONFIG_DIR / src).resolve() != (CONFIG_DIR / MAIN).resolve():
        problems.append(f"collector config mount source {src!r} is not ./{MAIN}")
    if not (CONFIG_DIR / src).is_file():
        problems.append(f"collector config mount source {src!r} does not exist")
    if not read_only:
        problems.append("collector config is not mounted read-only")
    return problems


def jaeger_otlp_problems(compose: Doc) -> list[str]:
    _, jaeger = find_service(compose, "jaegertracing/")
    image, env = str(jaeger.get("image", "")), environment(jaeger)
    problems = []
    if "jaegertracing/all-in-one" in image:  # Jaeger v1: OTLP behind a switch
        if env.get("COLLECTOR_OTLP_ENABLED", "").lower() != "true":
            problems.append("Jaeger v1 all-in-one without COLLECTOR_OTLP_ENABLED=true")
    elif re.search(r"jaegertracing/jaeger:2\.\d+\.\d+$", image):
        # Jaeger v2 without --config runs its embedded all-in-one config, whose otlp receiver
        # binds to JAEGER_LISTEN_HOST; it must not be loopback for the collector to reach it.
        if any(a.startswith("--config") for a in command_args(jaeger)):
            problems.append("Jaeger v2 with --config: the embedded all-in-one OTLP setup is off")
        if env.get("JAEGER_LISTEN_HOST") != "0.0.0.0":
            problems.append("Jaeger v2 without JAEGER_LISTEN_HOST=0.0.0.0")
    else:
        problems.append(f"unrecognised or unpinned Jaeger image {image!r}")
    if not any(c == "16686" for _, _, c in published_ports(jaeger)):
        problems.append("Jaeger UI port 16686 is not published")
    if any(c in ("4317", "4318") for _, _, c in published_ports(jaeger)):
        problems.append("Jaeger publishes 4317/4318, which the collector owns on the host")
    return problems


def jaeger_exporter_problems(cfg: Doc, compose: Doc) -> list[str]:
    jaeger_service, _ = find_service(compose, "jaegertracing/")
    exporters = [(c, e or {}) for c, e in (cfg.get("exporters") or {}).items()
                 if ctype(c) in OTLP_GRPC_EXPORTERS]
    if len(exporters) != 1:
        return [f"expected one OTLP gRPC exporter, found {[c for c, _ in exporters]}"]
    name, exporter = exporters[0]
    problems = []
    if exporter.get("endpoint") != f"{jaeger_service}:4317":
        problems.append(f"{name} endpoint {exporter.get('endpoint')!r} is not "
                        f"{jaeger_service}:4317 (the compose service)")
    if (exporter.get("tls") or {}).get("insecure") is not True:
        problems.append(f"{name}: tls.insecure is not true (Jaeger serves plaintext OTLP)")
    return problems


def file_exporter_problems(cfg: Doc, compose: Doc) -> list[str]:
    _, collector = find_service(compose, "otel/opentelemetry-collector")
    writable = [tgt.rstrip("/") for _, tgt, ro in volumes(collector) if not ro]
    problems = []
    for name, exporter in (cfg.get("exporters") or {}).items():
        if ctype(name) != "file":
            continue
        path = str((exporter or {}).get("path", ""))
        if not any(path.startswith(tgt + "/") for tgt in writable):
            problems.append(f"{name} path {path!r} is not inside a writable volume")
    return problems


# --- tests on the shipped files ------------------------------------------------------------


@pytest.mark.parametrize("name", [MAIN, CORE])
def test_pipelines_reference_only_defined_components(name: str) -> None:
    """Every receiver, processor and exporter a pipeline names is defined in the config."""
    assert undefined_references(load(name)) == []


@pytest.mark.parametrize("name", [MAIN, CORE])
def test_every_defined_component_is_used_by_a_pipeline(name: str) -> None:
    """Every defined receiver, processor and exporter appears in at least one pipeline."""
    assert unused_components(load(name)) == []


@pytest.mark.parametrize("name", [MAIN, CORE])
def test_otlp_receiver_listens_on_4317_grpc_and_4318_http(name: str) -> None:
    """The OTLP receiver listens on 0.0.0.0:4317 (gRPC) and 0.0.0.0:4318 (HTTP) in a pipeline."""
    assert otlp_port_problems(load(name)) == []


@pytest.mark.parametrize("name", [MAIN, CORE])
def test_memory_limiter_comes_first_and_spans_are_batched(name: str) -> None:
    """Each pipeline runs memory_limiter first and includes the batch processor."""
    assert processor_order_problems(load(name)) == []


def test_main_config_fans_out_to_jaeger_debug_and_file() -> None:
    """The main traces pipeline exports to an OTLP gRPC (Jaeger), a debug and a file exporter."""
    exporters = {ctype(e) for e in pipelines(load(MAIN))["traces"]["exporters"]}
    assert exporters & OTLP_GRPC_EXPORTERS and {"debug", "file"} <= exporters
    assert unknown_types(load(MAIN), all_types()) == []


def test_core_variant_is_the_main_config_minus_the_file_exporter() -> None:
    """otel-collector.core.yaml equals the main config without file and uses core types only."""
    core = load(CORE)
    assert unknown_types(core, CORE_TYPES) == []
    assert core == without_file_exporter(load(MAIN))


@pytest.mark.parametrize("name", [MAIN, CORE])
def test_jaeger_exporter_targets_the_compose_jaeger_service(name: str) -> None:
    """The OTLP gRPC exporter sends to <jaeger service>:4317 with tls.insecure set."""
    assert jaeger_exporter_problems(load(name), load(COMPOSE)) == []


def test_file_exporter_writes_inside_a_writable_mount() -> None:
    """The file exporter's path lies inside a writable volume of the collector container."""
    assert file_exporter_problems(load(MAIN), load(COMPOSE)) == []


def test_collector_mounts_the_repo_config_read_only() -> None:
    """The collector mounts the repo's otel-collector.yaml read-only and publishes 4317/4318."""
    compose = load(COMPOSE)
    assert collector_mount_problems(compose) == []
    _, collector = find_service(compose, "otel/opentelemetry-collector-contrib")
    assert {("4317", "4317"), ("4318", "4318")} <= {
        (h, c) for _, h, c in published_ports(collector)}


def test_jaeger_runs_all_in_one_with_otlp_enabled() -> None:
    """Jaeger runs all-in-one with OTLP reachable on the compose network and the UI on 16686."""
    assert jaeger_otlp_problems(load(COMPOSE)) == []


def test_published_ports_are_bound_to_loopback_only() -> None:
    """Every port the compose file publishes is bound to 127.0.0.1, and no service uses host net."""
    assert loopback_problems(load(COMPOSE)) == []


# --- the checks catch broken files ----------------------------------------------------------


def _add_pipeline_exporter(cfg: Doc) -> None:
    cfg["service"]["pipelines"]["traces"]["exporters"].append("otlp_grpc/nowhere")


def _drop_defined_exporter(cfg: Doc) -> None:
    del cfg["exporters"]["debug"]


def _add_unused_receiver(cfg: Doc) -> None:
    cfg["receivers"]["zipkin"] = {}


def _add_unused_exporter(cfg: Doc) -> None:
    cfg["exporters"]["debug/extra"] = {}


def _move_grpc_port(cfg: Doc) -> None:
    cfg["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] = "0.0.0.0:55680"


def _drop_http_protocol(cfg: Doc) -> None:
    del cfg["receivers"]["otlp"]["protocols"]["http"]


def _batch_before_limiter(cfg: Doc) -> None:
    cfg["service"]["pipelines"]["traces"]["processors"] = ["batch", "memory_limiter"]


def _logging_exporter(cfg: Doc) -> None:
    cfg["exporters"]["logging"] = cfg["exporters"].pop("debug")
    exporters = cfg["service"]["pipelines"]["traces"]["exporters"]
    exporters[exporters.index("debug")] = "logging"


@pytest.mark.parametrize(
    ("mutate", "check"),
    [
        (_add_pipeline_exporter, undefined_references),
        (_drop_defined_exporter, undefined_references),
        (_add_unused_receiver, unused_components),
        (_add_unused_exporter, unused_components),
        (_move_grpc_port, otlp_port_problems),
        (_drop_http_protocol, otlp_port_problems),
        (_batch_before_limiter, processor_order_problems),
        (_logging_exporter, lambda cfg: unknown_types(cfg, all_types())),
    ],
)
def test_collector_checks_reject_a_broken_config(
    mutate: Callable[[Doc], None], check: Callable[[Doc], list[str]]
) -> None:
    """Each collector-config check reports a problem once its config is broken on purpose."""
    cfg = load(MAIN)
    assert check(cfg) == []
    mutate(cfg)
    assert check(cfg) != []


def _collector(compose: Doc) -> Doc:
    return find_service(compose, "otel/opentelemetry-collector")[1]


def _jaeger(compose: Doc) -> Doc:
    return find_service(compose, "jaegertracing/")[1]


def _publish_on_all_interfaces(compose: Doc) -> None:
    _collector(compose)["ports"][0] = "4317:4317"


def _publish_container_port_only(compose: Doc) -> None:
    _jaeger(compose)["ports"].append("14250")


def _publish_long_syntax_without_ip(compose: Doc) -> None:
    _jaeger(compose)["ports"].append({"target": 9411, "published": 9411})


def _host_network(compose: Doc) -> None:
    _collector(compose)["network_mode"] = "host"


def _mount_missing_config(compose: Doc) -> None:
    mounts = _collector(compose)["volumes"]
    mounts[0] = "./missing.yaml:/etc/otelcol-contrib/config.yaml:ro"


def _mount_config_elsewhere(compose: Doc) -> None:
    _collector(compose)["command"] = ["--config=/etc/otelcol/other.yaml"]


def _jaeger_loopback_only(compose: Doc) -> None:
    _jaeger(compose)["environment"] = {"JAEGER_LISTEN_HOST": "localhost"}


def _jaeger_v1_without_otlp(compose: Doc) -> None:
    _jaeger(compose)["image"] = "jaegertracing/all-in-one:1.76.0"


@pytest.mark.parametrize(
    ("mutate", "check"),
    [
        (_publish_on_all_interfaces, loopback_problems),
        (_publish_container_port_only, loopback_problems),
        (_publish_long_syntax_without_ip, loopback_problems),
        (_host_network, loopback_problems),
        (_mount_missing_config, collector_mount_problems),
        (_mount_config_elsewhere, collector_mount_problems),
        (_jaeger_loopback_only, jaeger_otlp_problems),
        (_jaeger_v1_without_otlp, jaeger_otlp_problems),
    ],
)
def test_compose_checks_reject_a_broken_compose_file(
    mutate: Callable[[Doc], None], check: Callable[[Doc], list[str]]
) -> None:
    """Each compose check reports a problem once the compose file is broken on purpose."""
    compose = load(COMPOSE)
    assert check(compose) == []
    mutate(compose)
    assert check(compose) != []


def test_exporter_wiring_checks_reject_a_wrong_jaeger_target_or_file_path() -> None:
    """The Jaeger-target and file-path checks report a wrong endpoint, TLS or unmounted path."""
    compose = load(COMPOSE)
    for mutate in (
        lambda c: c["exporters"]["otlp_grpc/jaeger"].update(endpoint="localhost:4317"),
        lambda c: c["exporters"]["otlp_grpc/jaeger"].pop("tls"),
    ):
        cfg = load(MAIN)
        mutate(cfg)
        assert jaeger_exporter_problems(cfg, compose) != []
    cfg = load(MAIN)
    cfg["exporters"]["file"]["path"] = "/var/lib/traces.jsonl"
    assert file_exporter_problems(cfg, compose) != []
