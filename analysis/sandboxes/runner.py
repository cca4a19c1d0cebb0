"""Runs one approved analysis INSIDE the sandbox, with the sandbox runtime's own Python.

Started as `python -I -S -u runner.py [--warm READY_FD CPU_SECONDS] RESULT_FD ARTIFACT_COUNT ARTIFACT_BYTES
RESULTS_BYTES ERROR_CHARS SITE_PACKAGES...`:
- warm (a warm-pool sandbox): pandas and pyplot are imported first, one byte on READY_FD says so, and
  RLIMIT_CPU is lowered to the CPU used so far + CPU_SECONDS before the code runs;
- the code arrives as UTF-8 bytes on stdin, never as a file path;
- the user's prints go straight to fd 1/2, which the host captures and caps;
- the results come back as ONE JSON document on RESULT_FD, a separate pipe, so nothing the code prints
  can be mistaken for the protocol. They fit in RESULTS_BYTES as stored JSON: a DataFrame shows its first
  FRAME_ROWS rows with a note saying so, a text is cut to what is left, and what does not fit (a chart,
  a table) is left out with a note; the error's value and traceback are cut at ERROR_CHARS characters;
  every string is one a database can store (no NUL, no lone surrogate);
- regular files left in /output come back in it as artifacts (base64), up to ARTIFACT_COUNT files and
  ARTIFACT_BYTES in total; symlinks, directories and special files are listed as skipped, never opened.
  The host validates all of this again: the user's code ran in this very process and may forge it.

This file is not a security boundary (bubblewrap and the rlimits are); it only shapes the output like
E2B's: results with png/html/text and an error with name/value/traceback. It uses the standard library
only and imports as little as possible up front, so that a trivial script starts fast.
"""

import sys

FILENAME = "<analysis>"
OUTPUT = "/output"
FRAME_ROWS = 100  # a DataFrame result shows its first rows only, saying so
FRAME_COLUMNS = 50  # and at most this many columns (pandas shows "..." for the others)
TRUNCATED = "\n[... output truncated ...]"  # as base.TRUNCATION_MARKER
_NOTE_ROOM = 256  # bytes kept free for the note saying that results were left out
# ast.PyCF_ONLY_AST, spelled out so that the `ast` module (and what it imports) is not needed.
_ONLY_AST = 0x400


def main() -> int:
    args = sys.argv[1:]
    warm = args[:1] == ["--warm"]  # --warm READY_FD CPU_SECONDS: a warm-pool sandbox
    if warm:
        ready_fd, cpu_seconds, args = int(args[1]), int(args[2]), args[3:]
    result_fd, max_artifacts, max_artifact_bytes, results_bytes, error_chars = map(int, args[:5])
    sys.path.extend(args[5:])  # -S skipped site; the runtime's site-packages come from the host.
    sys.meta_path.insert(0, _PyplotShowIsANoOp())
    if warm:
        _preload(ready_fd)
    source = sys.stdin.buffer.read().decode("utf-8", errors="replace")
    if warm:
        _limit_cpu_from_now(cpu_seconds)
    results = _Results(results_bytes)
    error = None
    try:
        value = _execute(source, _fresh_main_namespace())
        if value is not None:
            results.add(_format_value(value))
    except SystemExit as exc:
        if exc.code not in (None, 0):
            error = _describe(exc, source, error_chars)
    except BaseException as exc:  # the user's exception, whatever it is, is the result
        error = _describe(exc, source, error_chars)
    try:
        _add_open_figures(results)
    except Exception as exc:
        error = error or _describe(exc, source, error_chars)
    _flush_user_streams()
    try:
        artifacts = _collect_artifacts(max_artifacts, max_artifact_bytes)
    except Exception as exc:
        artifacts, error = [], error or _describe(exc, source, error_chars)
    _send(result_fd, {"results": results.final(), "error": error, "artifacts": artifacts})
    return 0


def _preload(ready_fd: int) -> None:
    """Import what nearly every analysis imports, then say so; the code arrives later on stdin."""
    import io
    import os

    import matplotlib.pyplot as pyplot  # through the hook above: show() becomes a no-op
    import pandas

    # One tiny CSV read and one rendered chart load what the first real ones would (the CSV parser,
    # pandas' plotting backend, fonts, the Agg canvas and the PNG writer); nothing of it stays open.
    frame = pandas.read_csv(io.StringIO("a,b\n1,2\n"))
    frame.plot(kind="bar").figure.savefig(io.BytesIO(), format="png")
    pyplot.close("all")
    os.write(ready_fd, b"R")
    os.close(ready_fd)


def _limit_cpu_from_now(cpu_seconds: int) -> None:
    """The host set RLIMIT_CPU with room for the imports; from here on the code gets its own cpu_seconds."""
    import os
    import resource

    used = sum(os.times()[:2])
    soft = int(used) + 1 + cpu_seconds
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard - 1)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))


def _execute(source: str, namespace: dict) -> object:
    """Run the code like a notebook cell: the value of a trailing expression is returned."""
    tree = compile(source, FILENAME, "exec", _ONLY_AST)
    last = None
    if tree.body and type(tree.body[-1]).__name__ == "Expr":
        import _ast

        last = _ast.Expression(tree.body.pop().value)
    exec(compile(tree, FILENAME, "exec"), namespace)
    if last is None:
        return None
    return eval(compile(last, FILENAME, "eval"), namespace)


def _fresh_main_namespace() -> dict:
    # A new module registered as __main__, so pickling and `if __name__ == "__main__"` behave as in a
    # script, while the runner's own globals stay out of the user's namespace.
    module = type(sys)("__main__")
    sys.modules["__main__"] = module
    return module.__dict__


def _remember_source(source: str) -> None:
    # Without this, tracebacks for "<analysis>" would show file/line but not the offending line.
    # Done only when formatting an error: linecache imports tokenize and re, too slow for every run.
    import linecache

    linecache.cache[FILENAME] = (len(source), None, source.splitlines(True), FILENAME)


class _PyplotShowIsANoOp:
    """Meta-path hook: when matplotlib.pyplot gets imported, replace `show` with a no-op.

    Under the Agg backend `plt.show()` would only warn; figures must stay open so that they can be
    collected after the run. Patching on import keeps matplotlib out of runs that never use it.
    """

    def find_spec(self, name: str, path: object, target: object = None) -> object:
        if name != "matplotlib.pyplot":
            return None
        sys.meta_path.remove(self)
        spec = _find_spec_elsewhere(name, path, target)
        if spec is not None and spec.loader is not None:
            exec_module = spec.loader.exec_module

            def exec_and_patch(module: object) -> None:
                exec_module(module)
                module.show = _show_nothing

            spec.loader.exec_module = exec_and_patch
        return spec


def _find_spec_elsewhere(name: str, path: object, target: object) -> object:
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        spec = find_spec(name, path, target) if find_spec else None
        if spec is not None:
            return spec
    return None


def _show_nothing(*args: object, **kwargs: object) -> None:
    """plt.show(): figures are collected after the run, so there is nothing to do here."""


class _Results:
    """The run's results, kept while they fit in `cap` bytes of stored JSON (as base.results_size counts)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.items: list[dict] = []
        self.size = 2  # []
        self.dropped = 0

    def add(self, item: dict) -> None:
        room = self.cap - _NOTE_ROOM - self.size - 1  # 1: the comma before it
        if not self.dropped and list(item) == ["text"] and _json_size(item) > room:
            cut = _cut(item["text"], room - len('{"text":}'))
            item = {"text": cut} if cut else item  # a text is cut to what is left rather than left out
        if self.dropped or _json_size(item) > room:
            self.dropped += 1  # once one is left out, so is every later one: the note says how many
            return
        self.items.append(item)
        self.size += _json_size(item) + 1

    def final(self) -> list[dict]:
        if not self.dropped:
            return self.items
        megabytes = self.cap // (1024 * 1024)
        limit = f"{megabytes} MB" if megabytes else f"{self.cap} bytes"
        note = f"[... {self.dropped} more result(s) not kept: a run's results are limited to {limit} ...]"
        return [*self.items, {"text": note}]


def _cut(text: str, room: int) -> str:
    """The start of `text` and the truncation marker, in at most `room` bytes of JSON ("" if none fit)."""
    keep = max(room - len(TRUNCATED) - 2, 0)
    while keep > 0:
        cut = text[:keep] + TRUNCATED
        size = _json_size(cut)
        if size <= room:
            return cut
        keep = min(keep - 1, keep * room // size)  # in proportion: a few steps, even for 4-byte characters
    return ""


def _add_open_figures(results: _Results) -> None:
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:  # the code never used pyplot: do not pay for importing matplotlib
        return
    import base64
    import io

    numbers = pyplot.get_fignums()
    for index, number in enumerate(numbers):
        if results.dropped:  # full: the rest would not fit either, so do not spend time rendering them
            results.dropped += len(numbers) - index
            break
        buffer = io.BytesIO()
        pyplot.figure(number).savefig(buffer, format="png", bbox_inches="tight")
        results.add({"png": base64.b64encode(buffer.getvalue()).decode("ascii")})
    pyplot.close("all")


def _collect_artifacts(max_count: int, max_bytes: int) -> list[dict]:
    # posix and _stat, not os and stat: both are built in, while importing os costs ~2 ms per run.
    import posix
    from _stat import S_ISREG

    names = sorted(posix.listdir(OUTPUT))
    if not names:
        return []
    import base64

    artifacts: list[dict] = []
    total = 0
    for name in names:
        info = posix.lstat(f"{OUTPUT}/{name}")
        reason = None
        if not S_ISREG(info.st_mode):
            reason = "not a regular file (symlinks, directories and devices are never returned)"
        elif sum("data" in a for a in artifacts) >= max_count:
            reason = f"more than {max_count} files"
        elif total + info.st_size > max_bytes:
            reason = f"over {max_bytes} bytes in total"
        data = _read_regular(f"{OUTPUT}/{name}", max_bytes - total) if reason is None else None
        if reason is None and data is None:
            reason = "changed while it was read"
        if reason is not None:
            artifacts.append({"name": name, "reason": reason})
            continue
        total += len(data)
        artifacts.append({"name": name, "data": base64.b64encode(data).decode("ascii")})
    return artifacts


def _read_regular(path: str, limit: int) -> bytes | None:
    """The file's bytes, opened without following a symlink swapped in since lstat; None if not regular."""
    import posix
    from _stat import S_ISREG

    fd = posix.open(path, posix.O_RDONLY | posix.O_NOFOLLOW | posix.O_NONBLOCK)
    try:
        if not S_ISREG(posix.fstat(fd).st_mode):
            return None
        chunks, size = [], 0
        while size <= limit:
            chunk = posix.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
        return None  # grew past the cap
    finally:
        posix.close(fd)


def _format_value(value: object) -> dict:
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(value, (pandas.DataFrame, pandas.Series)):
        # Its first rows only, whatever the display options say: a million-row frame stays small. A Series
        # is shown as the one-column table it is (the page turns the HTML into a table, analysis/tables.py).
        frame = value.to_frame() if isinstance(value, pandas.Series) else value
        shown = frame.head(FRAME_ROWS)
        html = shown.to_html(max_cols=FRAME_COLUMNS)
        text = shown.to_string(max_cols=FRAME_COLUMNS)
        if len(frame) > FRAME_ROWS:
            note = f"showing the first {FRAME_ROWS} of {len(frame)} rows"
            html, text = f"{html}\n<p>{note}</p>", f"{text}\n[{note}]"
        return {"html": _storable(html), "text": _storable(text)}
    return {"text": _storable(repr(value))}


def _describe(exc: BaseException, source: str, max_chars: int) -> dict:
    """name/value/traceback, keeping only frames of the user's code (no runner, no library frames)."""
    import traceback

    _remember_source(source)
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == FILENAME]
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)] if frames else []
    lines += traceback.format_exception_only(type(exc), exc)
    return {
        "name": _storable(type(exc).__name__[:200]),
        "value": _storable(_capped(str(exc), max_chars)),
        "traceback": _storable(_capped("".join(lines), max_chars)),
    }


def _capped(text: str, max_chars: int) -> str:
    return text[:max_chars] + TRUNCATED if len(text) > max_chars else text


def _storable(text: str) -> str:
    """No NUL (PostgreSQL refuses it in text and JSON) and no lone surrogate (not UTF-8)."""
    if "\0" in text:
        text = text.replace("\0", "\ufffd")
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _flush_user_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass  # the user may have closed or replaced it; their output, their loss


def _send(result_fd: int, payload: dict) -> None:
    with open(result_fd, "wb") as channel:
        channel.write(_to_json(payload).encode("ascii"))


def _plain(text: str) -> bool:
    """Whether JSON writes `text` as it is, between quotes."""
    return text.isascii() and text.isprintable() and '"' not in text and "\\" not in text


def _quote(text: str) -> str:
    """A JSON string; keys and plain ASCII need no escaping, and then no import of _json either."""
    if _plain(text):
        return f'"{text}"'
    from _json import encode_basestring_ascii

    return encode_basestring_ascii(text)


def _json_size(value: object) -> int:
    """Bytes of `value` as compact UTF-8 JSON, as the host counts them (json.dumps, ensure_ascii=False)."""
    if value is None:
        return 4
    if isinstance(value, str):
        if _plain(value):
            return len(value) + 2
        from _json import encode_basestring

        return len(encode_basestring(value).encode("utf-8"))
    if isinstance(value, list):
        return 2 + sum(map(_json_size, value)) + max(len(value) - 1, 0)
    if isinstance(value, dict):
        pairs = sum(_json_size(str(key)) + 1 + _json_size(item) for key, item in value.items())
        return 2 + pairs + max(len(value) - 1, 0)
    return _json_size(repr(value))


def _to_json(value: object) -> str:
    """JSON for what a payload holds (dicts, lists, strings, None).

    Not `json.dumps`: importing json pulls in re and enum, a third of a trivial run's time.
    """
    if value is None:
        return "null"
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, list):
        return "[" + ",".join(map(_to_json, value)) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_quote(str(key))}:{_to_json(item)}" for key, item in value.items()) + "}"
    return _quote(repr(value))


if __name__ == "__main__":
    status = main()
    # The result is sent and the user's streams are flushed: skip the interpreter's teardown, which with
    # pandas and matplotlib loaded takes longer than a small analysis (the sandbox ends with this process).
    import posix

    posix._exit(status)
