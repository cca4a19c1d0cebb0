"""A local stand-in for the Mistral API: a real HTTP server speaking `POST /v1/chat/completions`.

Tests point the real `mistralai` SDK at it (server_url), script the answers it gives in order
(successes, 401/429/5xx errors, hangs), and read back the requests it received.

    with FakeMistralServer() as server:
        server.fail(status=429, headers={"Retry-After": "0"})
        server.reply(content='{"plan": "Prints 1.", "code": "print(1)"}', prompt_tokens=120)
        ...  # MistralGenerator(server_url=server.url, ...)
        assert server.requests[-1].json["model"] == "mistral-large-latest"
"""

from __future__ import annotations

import json
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.server import FakeServer

CHAT_PATH = "/v1/chat/completions"
# How long a hanging response is held at most, so a forgotten hang cannot block a test run.
MAX_HANG_SECONDS = 10.0

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    422: "invalid_request_error",
    429: "rate_limited",
}


@dataclass(frozen=True)
class ScriptedResponse:
    """One answer the server gives; `content` is the assistant text of a 200 response."""

    status: int = 200
    content: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    headers: dict[str, str] = field(default_factory=dict)
    error_message: str = ""
    hang: bool = False  # hold the connection without answering, to exercise client timeouts


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body or b"null")

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class FakeMistralServer(FakeServer):
    name = "fake Mistral"

    def __init__(self, *, api_key: str | None = None) -> None:
        super().__init__()
        # When set, requests must carry exactly this bearer key or get a 401, like the real API.
        self.api_key = api_key
        self._queue: deque[ScriptedResponse] = deque()
        self._default: ScriptedResponse | None = None
        self._requests: list[RecordedRequest] = []

    # --- scripting -------------------------------------------------------------------------------
    def reply(
        self,
        *,
        content: str,
        prompt_tokens: int = 100,
        completion_tokens: int = 50,
        finish_reason: str = "stop",
    ) -> None:
        self.enqueue(
            ScriptedResponse(
                content=content,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                finish_reason=finish_reason,
            )
        )

    def fail(self, *, status: int, message: str = "", headers: dict[str, str] | None = None) -> None:
        self.enqueue(ScriptedResponse(status=status, error_message=message, headers=headers or {}))

    def hang(self) -> None:
        self.enqueue(ScriptedResponse(hang=True))

    def enqueue(self, response: ScriptedResponse) -> None:
        with self._lock:
            self._queue.append(response)

    def always(self, response: ScriptedResponse | None) -> None:
        """Answer with this once the queue is empty (e.g. a storm of 500s); None clears it."""
        with self._lock:
            self._default = response

    # --- inspection ------------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    # --- used by the handler ---------------------------------------------------------------------
    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _next_response(self) -> ScriptedResponse | None:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            return self._default

    def _wait_released(self) -> None:
        self._release.wait(timeout=MAX_HANG_SECONDS)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 with Content-Length keeps the SDK's pooled connections working across calls.
    protocol_version = "HTTP/1.1"
    server_version = "FakeMistral/1.0"

    @property
    def fake(self) -> FakeMistralServer:
        return self.server.fake  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass  # keep pytest output clean

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = RecordedRequest(
            method="POST", path=self.path, headers={k.lower(): v for k, v in self.headers.items()}, body=body
        )
        self.fake._record(request)
        if self.path.split("?")[0] != CHAT_PATH:
            self._send_error(status=404, message=f"no route for {self.path}")
            return
        if not self._authorized(request=request):
            self._send_error(status=401, message="Unauthorized")
            return
        # Only requests that pass routing and auth consume a scripted response.
        scripted = self.fake._next_response()
        if scripted is None:
            # Loud on purpose: a test that sends more requests than it scripted should fail clearly.
            self._send_error(status=500, message="fake Mistral server: no scripted response left")
            return
        self._answer(scripted=scripted, request=request)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._send_error(status=404, message=f"no route for {self.path}")

    def _authorized(self, *, request: RecordedRequest) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer ") or not header[len("Bearer ") :].strip():
            return False
        return self.fake.api_key is None or header == f"Bearer {self.fake.api_key}"

    def _answer(self, *, scripted: ScriptedResponse, request: RecordedRequest) -> None:
        if scripted.hang:
            self.fake._wait_released()
            self.close_connection = True
            return
        if scripted.status != 200:
            self._send_error(status=scripted.status, message=scripted.error_message, headers=scripted.headers)
            return
        try:
            model = request.json.get("model", "unknown")
        except (ValueError, AttributeError):
            self._send_error(status=400, message="request body is not JSON")
            return
        self._send_json(
            status=200, payload=_completion(scripted=scripted, model=model), headers=scripted.headers
        )

    def _send_error(self, *, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        payload = {
            "object": "error",
            "message": message or _default_message(status=status),
            "type": _ERROR_TYPES.get(status, "internal_error" if status >= 500 else "error"),
            "param": None,
            "code": str(status),
        }
        self._send_json(status=status, payload=payload, headers=headers or {})

    def _send_json(self, *, status: int, payload: dict, headers: dict[str, str]) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. its timeout fired)


def _completion(*, scripted: ScriptedResponse, model: str) -> dict:
    """The body of a real non-streaming chat completion response."""
    return {
        "id": uuid.uuid4().hex,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": scripted.content, "tool_calls": None},
                "finish_reason": scripted.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": scripted.prompt_tokens,
            "completion_tokens": scripted.completion_tokens,
            "total_tokens": scripted.prompt_tokens + scripted.completion_tokens,
        },
    }


def _default_message(*, status: int) -> str:
    return {
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not found",
        429: "Requests rate limit exceeded",
        500: "Internal server error",
        502: "Bad gateway",
        503: "Service unavailable",
    }.get(status, f"HTTP {status}")


FakeMistralServer.handler = _Handler
