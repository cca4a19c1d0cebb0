"""A local stand-in for E2B: one real HTTP server speaking the control-plane API, envd and the Jupyter server.

The real `e2b-code-interpreter` SDK is pointed at it with `api_url` and `sandbox_url` (E2B_API_URL /
E2B_SANDBOX_URL). With a sandbox URL set, the SDK sends envd calls (`POST /files`, `GET /health`) and
Jupyter calls (`POST /execute`) to that one URL, telling them apart by the `E2b-Sandbox-Port` header
(49983 envd, 49999 Jupyter); both carry `E2b-Sandbox-Id` and the sandbox's `X-Access-Token`.

Routes, as the SDK 2.x uses them:
- `POST /v2/sandboxes` (X-API-KEY) → 201 `{sandboxID, templateID, clientID, envdVersion, envdAccessToken,
  domain}`; 401/429 scripted with `fail_create`.
- `POST /files?path=…&username=…`: `application/octet-stream` (envd ≥ 0.5.7) or `multipart/form-data`
  → `[{"name", "type": "file", "path"}]`.
- `POST /filesystem.Filesystem/ListDir` (envd's Connect-RPC, unary, the JSON codec the SDK sends:
  `{"path", "depth"}`) → `{"entries": [EntryInfo in proto JSON: name, type FILE_TYPE_FILE/DIRECTORY,
  path, size as a string, mode, permissions, owner, group, modifiedTime, isSymlink + symlinkTarget]}`;
  a missing directory is Connect's `not_found` (HTTP 404). A symlink reports its target's type and
  `isSymlink`, as envd ≥ 0.2.x does.
- `GET /files?path=…` → the file's bytes (`application/octet-stream`), following a symlink as envd does;
  404 when missing. Files the "code" wrote are scripted with `output_file`, `output_dir`, `output_symlink`.
- `POST /execute` → 200, NDJSON streamed with chunked encoding, one JSON object per line, exactly as the
  code-interpreter template's server writes them: `number_of_executions`, `stdout`/`stderr`
  (`text`, `timestamp`), `result` (`text`, `png`, `html`, …, `is_main_result`, `extra`), `error`
  (`name`, `value`, `traceback`), and a final `{"type": "end_of_execution"}`.
  With `pause_after`, the stream stops after that many lines until the test calls `resume()`, as a kernel's
  stream does while the code works between two prints.
- `DELETE /sandboxes/{id}` → 204 (404 when unknown).

    with FakeE2BServer() as server:
        server.execution(stdout=["hello\\n"], results=[{"png": PNG_B64}])
        ...  # E2BSandbox(api_url=server.url, sandbox_url=server.url, api_key=server.api_key)
        assert server.killed == [server.created[0]]
"""

from __future__ import annotations

import email.parser
import json
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.server import FakeServer

ENVD_PORT = "49983"
JUPYTER_PORT = "49999"
MAX_HANG_SECONDS = 10.0  # a forgotten hang cannot block a test run for longer


@dataclass(frozen=True)
class ScriptedExecution:
    """What one `POST /execute` answers: output lines in order, or an HTTP error, or a hang."""

    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)  # Result fields: text, png, html, is_main_result…
    error: dict | None = None  # {"name", "value", "traceback"}
    status: int = 200
    hang: bool = False  # send the first line, then hold the stream open without ending it
    # Send this many output lines, then hold the stream until `resume()` (a run that prints, then works).
    pause_after: int | None = None


@dataclass(frozen=True)
class FakeEntry:
    kind: str  # "file", "dir" or "symlink"
    content: bytes = b""
    target: str = ""  # a symlink's
    listed_size: int | None = None  # what ListDir reports, when not len(content)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body or b"null")


class FakeE2BServer(FakeServer):
    name = "fake E2B"

    def __init__(self, *, api_key: str = "e2b_fake_key", envd_version: str = "0.5.8") -> None:
        super().__init__()
        self.api_key = api_key
        self.envd_version = envd_version
        self.access_token = uuid.uuid4().hex
        self.created: list[str] = []
        self.killed: list[str] = []
        self.files: dict[str, bytes] = {}  # path -> content, as uploaded
        self.upload_status = 200  # e.g. 507: envd's "not enough space"
        self.list_status = 200  # e.g. 500: ListDir fails
        # What the sandbox's filesystem holds besides the uploads: path -> FakeEntry.
        self.entries: dict[str, FakeEntry] = {}
        self._create_failures: deque[tuple[int, dict[str, str]]] = deque()
        self._executions: deque[ScriptedExecution] = deque()
        self._requests: list[RecordedRequest] = []
        self._resume = threading.Event()

    # --- scripting -------------------------------------------------------------------------------
    def execution(self, **kwargs: Any) -> None:
        with self._lock:
            self._executions.append(ScriptedExecution(**kwargs))

    def resume(self) -> None:
        """Let a paused execution (`pause_after`) send the rest of its lines."""
        self._resume.set()

    def output_file(self, name: str, content: bytes, *, listed_size: int | None = None) -> None:
        """A regular file the code wrote under /output; `listed_size`: ListDir's size, if it differs
        (the file grew after it was listed)."""
        with self._lock:
            self.entries[f"/output/{name}"] = FakeEntry("file", content=content, listed_size=listed_size)

    def output_dir(self, name: str) -> None:
        with self._lock:
            self.entries[f"/output/{name}"] = FakeEntry("dir")

    def output_symlink(self, name: str, target: str) -> None:
        with self._lock:
            self.entries[f"/output/{name}"] = FakeEntry("symlink", target=target)

    def fail_create(self, *, status: int, headers: dict[str, str] | None = None) -> None:
        with self._lock:
            self._create_failures.append((status, headers or {}))

    # --- inspection ------------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    # --- used by the handler ---------------------------------------------------------------------
    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _next_create_failure(self) -> tuple[int, dict[str, str]] | None:
        with self._lock:
            return self._create_failures.popleft() if self._create_failures else None

    def _next_execution(self) -> ScriptedExecution:
        with self._lock:
            return self._executions.popleft() if self._executions else ScriptedExecution()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeE2B/1.0"

    @property
    def fake(self) -> FakeE2BServer:
        return self.server.fake  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    # --- routing ---------------------------------------------------------------------------------
    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        request = self._record()
        if request.path == "/v2/sandboxes":
            self._create(request)
        elif request.path == "/files" and self._envd_call(request, ENVD_PORT):
            self._upload(request)
        elif request.path == "/filesystem.Filesystem/ListDir" and self._envd_call(request, ENVD_PORT):
            self._list_dir(request)
        elif request.path == "/execute" and self._envd_call(request, JUPYTER_PORT):
            self._execute()

    def do_GET(self) -> None:  # noqa: N802
        request = self._record()
        if request.path == "/health" and self._envd_call(request, ENVD_PORT):
            self._send(204)
        elif request.path == "/files" and self._envd_call(request, ENVD_PORT):
            self._download(request)

    def do_DELETE(self) -> None:  # noqa: N802
        request = self._record()
        sandbox_id = request.path.removeprefix("/sandboxes/")
        if not request.path.startswith("/sandboxes/") or not self._api_key_ok(request):
            return
        with self.fake._lock:
            known = sandbox_id in self.fake.created and sandbox_id not in self.fake.killed
            if known:
                self.fake.killed.append(sandbox_id)
        if known:
            self._send(204)
        else:
            self._send_json(404, {"code": 404, "message": f"sandbox {sandbox_id} not found"})

    # --- control plane ---------------------------------------------------------------------------
    def _create(self, request: RecordedRequest) -> None:
        if not self._api_key_ok(request):
            return
        failure = self.fake._next_create_failure()
        if failure is not None:
            status, headers = failure
            self._send_json(status, {"code": status, "message": "scripted failure"}, headers)
            return
        sandbox_id = f"i{uuid.uuid4().hex[:19]}"
        with self.fake._lock:
            self.fake.created.append(sandbox_id)
        body = {
            "sandboxID": sandbox_id,
            "templateID": request.json.get("templateID", "code-interpreter-v1"),
            "clientID": "6532622b",
            "envdVersion": self.fake.envd_version,
            "envdAccessToken": self.fake.access_token,
            "domain": None,
        }
        self._send_json(201, body)

    def _api_key_ok(self, request: RecordedRequest) -> bool:
        if request.headers.get("x-api-key") == self.fake.api_key:
            return True
        self._send_json(401, {"code": 401, "message": "Invalid API key"})
        return False

    # --- envd and Jupyter ------------------------------------------------------------------------
    def _envd_call(self, request: RecordedRequest, port: str) -> bool:
        """The proxy's routing checks: a live sandbox, the right port, envd's access token."""
        sandbox_id = request.headers.get("e2b-sandbox-id", "")
        with self.fake._lock:
            alive = sandbox_id in self.fake.created and sandbox_id not in self.fake.killed
        if not alive:
            self._send(502, f"The sandbox {sandbox_id} was not found".encode())
        elif request.headers.get("e2b-sandbox-port") != port:
            self._send(502, b"port is not open")
        elif request.headers.get("x-access-token") != self.fake.access_token:
            self._send_json(401, {"code": 401, "message": "invalid access token"})
        else:
            return True
        return False

    def _upload(self, request: RecordedRequest) -> None:
        if self.fake.upload_status != 200:
            self._send_json(self.fake.upload_status, {"code": self.fake.upload_status, "message": "scripted"})
            return
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            head = f"Content-Type: {content_type}\r\n\r\n".encode()
            message = email.parser.BytesParser().parsebytes(head + request.body)
            parts = [(part.get_filename(), part.get_payload(decode=True)) for part in message.get_payload()]
            default_path = request.query.get("path", [None])[0]
            uploads = [(default_path or name, data) for name, data in parts]
        else:
            uploads = [(request.query["path"][0], request.body)]
        with self.fake._lock:
            self.fake.files.update(uploads)
        self._send_json(200, [{"name": p.rsplit("/", 1)[-1], "type": "file", "path": p} for p, _ in uploads])

    def _list_dir(self, request: RecordedRequest) -> None:
        if request.headers.get("content-type") != "application/json":
            self._send_json(415, {"code": "invalid_argument", "message": "JSON codec only"})
            return
        if self.fake.list_status != 200:
            self._send_json(self.fake.list_status, {"code": "internal", "message": "scripted failure"})
            return
        directory = request.json["path"].rstrip("/")
        with self.fake._lock:
            entries = dict(self.fake.entries)
            entries.update({path: FakeEntry("file", content=data) for path, data in self.fake.files.items()})
        children = {p: e for p, e in entries.items() if p.rsplit("/", 1)[0] == directory}
        if not children and not any(p.startswith(directory + "/") for p in entries):
            self._send_json(404, {"code": "not_found", "message": f"directory not found: {directory}"})
            return
        listed = [_entry_info(path, entry, entries) for path, entry in sorted(children.items())]
        self._send_json(200, {"entries": listed})

    def _download(self, request: RecordedRequest) -> None:
        path = request.query.get("path", [""])[0]
        with self.fake._lock:
            entry = self.fake.entries.get(path)
            if entry is not None and entry.kind == "symlink":  # envd opens the path: the link is followed
                path, entry = entry.target, self.fake.entries.get(entry.target)
            content = self.fake.files.get(path) if entry is None else entry.content
            is_file = (entry is None and content is not None) or (entry is not None and entry.kind == "file")
        if not is_file:
            self._send_json(404, {"code": 404, "message": f"path '{path}' does not exist"})
            return
        self._send(200, content, {"Content-Type": "application/octet-stream"})

    def _execute(self) -> None:
        scripted = self.fake._next_execution()
        if scripted.status != 200:
            self._send(scripted.status, b"scripted failure")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            self._chunk({"type": "number_of_executions", "execution_count": 1})
            if scripted.hang:
                self.fake._release.wait(timeout=MAX_HANG_SECONDS)
                return
            for index, line in enumerate(_output_lines(scripted)):
                if index == scripted.pause_after:
                    self.fake._resume.wait(timeout=MAX_HANG_SECONDS)
                self._chunk(line)
            self._chunk({"type": "end_of_execution"})
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout); so does the real server
        finally:
            self.close_connection = True

    def _chunk(self, line: dict) -> None:
        data = (json.dumps(line) + "\n").encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    # --- plumbing --------------------------------------------------------------------------------
    def _record(self) -> RecordedRequest:
        parts = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self._read_body(),
        )
        self.fake._record(request)
        return request

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = bytearray()
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return bytes(body)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        headers = {"Content-Type": "application/json", **(headers or {})}
        self._send(status, json.dumps(payload).encode(), headers)


def _entry_info(path: str, entry: FakeEntry, entries: dict[str, FakeEntry]) -> dict:
    """envd's EntryInfo in protobuf JSON (int64 as a string, camelCase, enum names)."""
    shown = entries.get(entry.target, FakeEntry("file")) if entry.kind == "symlink" else entry
    info = {
        "name": path.rsplit("/", 1)[-1],
        "type": "FILE_TYPE_DIRECTORY" if shown.kind == "dir" else "FILE_TYPE_FILE",
        "path": path,
        "size": str(len(shown.content) if shown.listed_size is None else shown.listed_size),
        "mode": 0o755 if shown.kind == "dir" else 0o644,
        "permissions": "drwxr-xr-x" if shown.kind == "dir" else "-rw-r--r--",
        "owner": "user",
        "group": "user",
        "modifiedTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if entry.kind == "symlink":
        info.update(isSymlink=True, symlinkTarget=entry.target)
    return info


def _output_lines(scripted: ScriptedExecution) -> list[dict]:
    stamp = datetime.now(UTC).isoformat()
    lines: list[dict] = [{"type": "stdout", "text": text, "timestamp": stamp} for text in scripted.stdout]
    lines += [{"type": "stderr", "text": text, "timestamp": stamp} for text in scripted.stderr]
    lines += [
        {"type": "result", "is_main_result": False, "extra": {}, **result} for result in scripted.results
    ]
    if scripted.error is not None:
        lines.append({"type": "error", **scripted.error})
    return lines


FakeE2BServer.handler = _Handler
