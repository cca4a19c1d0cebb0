"""The part every fake cloud server shares: a real HTTP server on 127.0.0.1, in a thread, with a context."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeServer:
    """Subclasses set `handler` (a BaseHTTPRequestHandler reading `self.server.fake`) and `name`."""

    handler: type[BaseHTTPRequestHandler]
    name = "fake"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._release = threading.Event()  # set on stop: lets hanging handlers finish
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self):
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), self.handler)
        httpd.daemon_threads = True
        httpd.fake = self  # type: ignore[attr-defined]
        self._httpd = httpd
        # A short poll interval keeps shutdown (and so each test's teardown) fast.
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, name=self.name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError(f"the {self.name} server is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"
