"""A minimal OTLP/HTTP receiver on 127.0.0.1 for tests: decodes the protobuf requests the
real OpenTelemetry exporters send (``/v1/logs``; ``/v1/traces`` is accepted and counted) with
``opentelemetry-proto``'s own message classes. Phoenix, our other receiver, takes no logs."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return None if kind is None else getattr(any_value, kind)


class _Handler(BaseHTTPRequestHandler):
    server: OtlpServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/v1/logs":
            request = ExportLogsServiceRequest.FromString(body)
            for resource in request.resource_logs:
                for scope in resource.scope_logs:
                    for record in scope.log_records:
                        self.server.add_log({
                            "body": _value(record.body),
                            "trace_id": int.from_bytes(record.trace_id, "big"),
                            "span_id": int.from_bytes(record.span_id, "big"),
                            "severity": record.severity_text,
                            "attributes": {a.key: _value(a.value) for a in record.attributes},
                        })
        elif self.path == "/v1/traces":
            traces = ExportTraceServiceRequest.FromString(body)
            run_ids = {_value(a.value) for resource in traces.resource_spans
                       for scope in resource.scope_spans for span in scope.spans
                       for a in span.attributes if a.key == "augur.run_id"}
            with self.server.changed:
                self.server.traces += 1
                self.server.trace_requests.append(
                    (self.headers.get("X-Augur-Run-Id"), run_ids))
        else:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class OtlpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.logs: list[dict[str, Any]] = []
        self.traces = 0
        # Each /v1/traces request: its X-Augur-Run-Id header and the augur.run_id values
        # of its spans.
        self.trace_requests: list[tuple[str | None, set[Any]]] = []
        self.changed = threading.Condition()

    def add_log(self, entry: dict[str, Any]) -> None:
        with self.changed:
            self.logs.append(entry)
            self.changed.notify_all()


class OtlpReceiver:
    """``with OtlpReceiver() as r:`` serves on a free loopback port until the block ends."""

    def __init__(self) -> None:
        self.server = OtlpServer()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)

    def wait_for_logs(self, count: int, timeout_s: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        with self.server.changed:
            while len(self.server.logs) < count and time.monotonic() < deadline:
                self.server.changed.wait(timeout=max(0.0, deadline - time.monotonic()))
            return list(self.server.logs)
