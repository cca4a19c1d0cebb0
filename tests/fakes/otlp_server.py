"""A local stand-in for Langfuse's OTLP endpoint: a real HTTP server decoding OTLP/HTTP protobuf.

The real langfuse SDK (base_url=server.url) exports spans to `POST /api/public/otel/v1/traces` as
an `ExportTraceServiceRequest` (gzip by default); this server decodes them with the official
`opentelemetry-proto` messages and keeps each span as a plain `ReceivedSpan`.

    with FakeOtlpServer() as server:
        ...  # Langfuse(public_key=..., secret_key=..., base_url=server.url); work; client.flush()
        [generation] = server.spans_named("code-generation")
        assert generation.attributes["langfuse.observation.type"] == "generation"
"""

from __future__ import annotations

import base64
import gzip
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

TRACES_PATH = "/api/public/otel/v1/traces"


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    trace_id: str  # 32 hex characters
    span_id: str
    parent_span_id: str  # "" for a root span
    attributes: dict[str, Any]
    start_ns: int
    end_ns: int
    scope: str


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: dict[str, str]


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def decode_spans(body: bytes) -> list[ReceivedSpan]:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        attributes={kv.key: _value(kv.value) for kv in span.attributes},
                        start_ns=span.start_time_unix_nano,
                        end_ns=span.end_time_unix_nano,
                        scope=scope_spans.scope.name,
                    )
                )
    return spans


class FakeOtlpServer:
    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.requests: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start the server first"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def spans_named(self, name: str) -> list[ReceivedSpan]:
        with self._lock:
            return [span for span in self.spans if span.name == name]

    def __enter__(self) -> FakeOtlpServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()

    def _record(self, *, path: str, headers: dict[str, str], body: bytes) -> None:
        spans = decode_spans(body) if path == TRACES_PATH else []
        with self._lock:
            self.requests.append(ReceivedRequest(path=path, headers=headers))
            self.spans.extend(spans)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                headers = {key.lower(): value for key, value in self.headers.items()}
                if self.path == TRACES_PATH and not _authorised(headers):
                    self._answer(401, b"", "text/plain")
                    return
                server._record(path=self.path, headers=headers, body=body)
                self._answer(200, ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf")

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:  # keep test output quiet
                return

        return Handler


def _authorised(headers: dict[str, str]) -> bool:
    """Langfuse authenticates OTLP exports with HTTP basic auth: public key : secret key."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        public, _, secret = base64.b64decode(token).decode().partition(":")
    except ValueError:
        return False
    return bool(public and secret)
