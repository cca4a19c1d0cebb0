"""What the tests that run real processes share: a free port, and a process's output read line by line.

Synchronisation is by the processes' own log lines, read from their pipes, never by sleeping.
"""

from __future__ import annotations

import queue
import re
import socket
import threading
from typing import IO


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Output:
    """A process's output, drained by a thread of its own for the process's whole life (so its writes never
    block) and read by the test line by line: `lines` waiting to be read, `log` what has been read."""

    def __init__(self, stream: IO[str], *, name: str) -> None:
        self.name = name
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line)

    def wait_for(self, *patterns: str, timeout: float = 120) -> str:
        """Block until lines matching each pattern have been logged, in any order, each line within `timeout`
        seconds of the one before; returns the last line read."""
        waiting = [re.compile(pattern) for pattern in patterns]
        line = ""
        while waiting:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                missing = [regex.pattern for regex in waiting]
                raise AssertionError(
                    f"{self.name} never logged {missing}; last lines:\n{self.tail()}"
                ) from None
            self.log.append(line)
            waiting = [regex for regex in waiting if not regex.search(line)]
        return line

    def tail(self, count: int = 40) -> str:
        """The last `count` lines logged, including those not read yet."""
        while not self.lines.empty():
            self.log.append(self.lines.get_nowait())
        return "".join(self.log[-count:])
