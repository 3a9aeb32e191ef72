"""`augur export-otlp BUNDLE`: replay a recorded bundle as spans to an OTLP collector."""

from __future__ import annotations

import argparse
import sys

from augur_sdk.otel.provider import Settings, make_otlp_exporter, resolve_otlp
from augur_sdk.otel.replay import ReplayError, replay_bundle, text_progress


def export_otlp(args: argparse.Namespace) -> int:
    otlp = resolve_otlp(Settings(otlp_endpoint=args.endpoint, otlp_protocol=args.protocol,
                                 otlp_timeout_s=args.timeout))
    if otlp is None:
        print("augur export-otlp: no endpoint; pass --endpoint or set "
              "OTEL_EXPORTER_OTLP_ENDPOINT", file=sys.stderr)
        return 2
    show = None if args.no_progress else text_progress()
    try:
        result = replay_bundle(args.bundle, make_otlp_exporter(otlp), progress=show,
                               timeout_s=args.timeout or 30.0)
    except (ReplayError, OSError, ValueError) as exc:
        print(f"augur export-otlp: {exc}", file=sys.stderr)
        return 2
    print(f"exported {result.spans} spans ({result.steps} steps, {result.events} events) of "
          f"trace {result.trace_id} to {otlp.endpoint}: {result.sent} delivered, "
          f"{result.failed} failed")
    return 0 if result.failed == 0 and result.sent == result.spans else 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "export-otlp", help="send a recorded bundle's spans to an OTLP collector",
        description="Replays the run, its steps and decision events as the same spans a live "
                    "run sends (reusing the recorded trace/span ids). Exit 0 when every span "
                    "was delivered, 1 when some were not, 2 on bad input.")
    p.add_argument("bundle", help="bundle directory")
    p.add_argument("--endpoint", help="OTLP endpoint (default: OTEL_EXPORTER_OTLP_*ENDPOINT); "
                                      "http://host:4318 or a full .../v1/traces URL, "
                                      "host:4317 with --protocol grpc")
    p.add_argument("--protocol", choices=["http/protobuf", "grpc"],
                   help="default: OTEL_EXPORTER_OTLP_PROTOCOL or http/protobuf")
    p.add_argument("--timeout", type=float, default=None, help="seconds per export (default 5)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=export_otlp)
