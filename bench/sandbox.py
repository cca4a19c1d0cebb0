"""Benchmark: the local sandbox's overhead, cold and with the warm pool, against bare Python.

    .venv/bin/python -m bench.sandbox [--repeat 15] [--pass-repeat 61]

In one process and one run, with the sandbox runtime's own interpreter everywhere:
  * `python -I -S -u -c pass` bare, and `pass` in a cold sandbox (the runner uses the same flags);
  * the demo analysis (load the 1,000-row demo CSV, group by month and region, plot, save a PNG) as a bare
    `python` process, in a cold sandbox, in a warm-pool sandbox (ready before the clock starts: in a
    worker, it was started after the previous run; the clock includes linking the dataset, collecting
    the PNG artifact, destroying the sandbox and launching its replacement), and as its first run in an
    already-warm Python process, one that has imported pandas and pyplot (the floor: only the analysis);
  * for the warm pool, also the time from handing the execution to the pool to the user's first line
    (CLOCK_MONOTONIC is shared with the sandbox: no time namespace).
Prints medians, ratios and the issue's targets as a markdown table. Needs no database.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from analysis.demo import sales_csv  # noqa: E402
from analysis.sandboxes.base import DatasetMount, Limits  # noqa: E402
from analysis.sandboxes.local import LocalSandbox, inspect_runtime  # noqa: E402
from analysis.sandboxes.warm import WarmPool  # noqa: E402

ANALYSIS = """\
print(__import__("time").monotonic())
import pandas as pd
import matplotlib.pyplot as plt

df = pd.read_csv({data!r}, parse_dates=["date"])
df["month"] = df["date"].dt.to_period("M").astype(str)
table = df.groupby(["month", "region"])["revenue"].sum().unstack("region")
ax = table.plot(kind="bar", figsize=(10, 5), title="Revenue by month and region")
ax.set_ylabel("revenue")
ax.figure.savefig({png!r}, format="png", bbox_inches="tight")
plt.close("all")
print(table.round(0).head(3))
"""

BWRAP_ALONE = "bubblewrap alone (its namespaces, /usr and the interpreter only), `pass`"

WARM_PROCESS = """\
import sys, time
import pandas, matplotlib.pyplot
code = compile(open(sys.argv[1]).read(), "<analysis>", "exec")
started = time.perf_counter()
exec(code, {"__name__": "__main__"})
print(time.perf_counter() - started, file=sys.stderr)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs of each analysis measurement")
    # `pass` is cheap and its differences are a few milliseconds: many more rounds, for a stable median.
    parser.add_argument("--pass-repeat", type=int, default=61, help="rounds of the three `pass` measurements")
    args = parser.parse_args()
    repeat = args.repeat
    runtime = Path(settings.SANDBOX_RUNTIME_DIR)
    python = str(runtime / "bin" / "python")
    env = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(runtime / "mplconfig"),  # the same prebuilt font list the sandbox gets
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    }
    limits = Limits.merged(settings.SANDBOX_LIMITS)
    with tempfile.TemporaryDirectory(prefix="sandgate-bench-") as scratch:
        work = Path(scratch)
        work.chmod(0o755)
        csv = work / "sales.csv"
        csv.write_bytes(sales_csv(rows=1000))
        csv.chmod(0o644)
        dataset = DatasetMount(name="sales.csv", host_path=str(csv))
        host_script = work / "analysis.py"
        host_script.write_text(ANALYSIS.format(data=str(csv), png=str(work / "chart.png")))
        sandboxed = ANALYSIS.format(data="/data/sales.csv", png="/output/chart.png")

        bare_pass, bwrap_pass, cold_pass = _pass_interleaved(python, env, limits, args.pass_repeat)
        rows = [
            ("bare `python -I -S -u -c pass`", bare_pass),
            (BWRAP_ALONE, bwrap_pass),
            ("cold sandbox, `pass`", cold_pass),
            ("analysis, bare `python analysis.py`", _bare([python, "-I", str(host_script)], env, repeat)),
            ("analysis, cold sandbox", _cold(sandboxed, [dataset], limits, repeat)),
            ("analysis, inside an already-warm Python", _warm_process(python, host_script, env, repeat)),
        ]
        warm_total, first_line = _warm_pool(sandboxed, [dataset], limits, repeat)
        rows += [("analysis, warm pool (hand-over to result)", warm_total)]
        rows += [("warm pool: hand-over to the user's first line", first_line)]
    _print_table(dict(rows), repeat, args.pass_repeat)


def _bare(command: list[str], env: dict, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return times


def _pass_interleaved(python: str, env: dict, limits: Limits, repeat: int) -> tuple[list, list, list]:
    """`pass` bare, under bubblewrap alone, and in a cold sandbox, taken in turns.

    The three are a few milliseconds apart; run one after the other, a drift in the machine's load (a
    shared VM) would show as a difference between them. In turns, each round sees the same load.
    """
    command = [python, "-I", "-S", "-u", "-c", "pass"]
    runtime = inspect_runtime(Path(settings.SANDBOX_RUNTIME_DIR))
    inside = f"/opt/python/{runtime.executable.relative_to(runtime.base_prefix)}"
    bwrap = [
        "bwrap", "--unshare-all", "--die-with-parent", "--new-session",
        "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
        "--ro-bind", str(runtime.base_prefix), "/opt/python",
        "--setenv", "LD_LIBRARY_PATH", "/opt/python/lib",
        inside, *command[1:],
    ]  # fmt: skip
    sandbox, digest = LocalSandbox(), hashlib.sha256(b"pass\n").hexdigest()
    sandbox.run(
        code="pass\n", code_sha256=digest, datasets=[], limits=limits
    )  # probes runtime and bwrap once
    bare, bwrapped, cold = [], [], []
    for _ in range(repeat):
        bare += _bare(command, env, 1)
        bwrapped += _bare(bwrap, {}, 1)
        started = time.perf_counter()
        result = sandbox.run(code="pass\n", code_sha256=digest, datasets=[], limits=limits)
        cold.append(time.perf_counter() - started)
        assert result.succeeded, result.error
    return bare, bwrapped, cold


def _cold(code: str, datasets: list, limits: Limits, repeat: int) -> list[float]:
    sandbox, digest, times = LocalSandbox(), hashlib.sha256(code.encode()).hexdigest(), []
    for _ in range(repeat + 1):  # the first run also probes the runtime and bwrap once per process
        started = time.perf_counter()
        result = sandbox.run(code=code, code_sha256=digest, datasets=datasets, limits=limits)
        times.append(time.perf_counter() - started)
        assert result.succeeded, result.error
    return times[1:]


def _warm_process(python: str, script: Path, env: dict, repeat: int) -> list[float]:
    """The script's first run in a process that has imported pandas and pyplot, as a warm sandbox has."""
    times = []
    for _ in range(repeat):
        command = [python, "-I", "-c", WARM_PROCESS, str(script)]
        completed = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
        times.append(float(completed.stderr.strip().splitlines()[-1]))
    return times


def _warm_pool(code: str, datasets: list, limits: Limits, repeat: int) -> tuple[list[float], list[float]]:
    pool = WarmPool(size=1, limits=limits)
    digest = hashlib.sha256(code.encode()).hexdigest()
    totals, first_lines = [], []
    try:
        for _ in range(repeat):
            pool.fill()
            assert pool._idle[0].launched.ready(timeout=60)  # in a worker: started after the previous run
            handed_over = time.monotonic()
            result = pool.run(code=code, code_sha256=digest, datasets=datasets, limits=limits)
            totals.append(time.monotonic() - handed_over)
            assert result.succeeded and result.limits.get("warm"), result.error
            first_lines.append(float(result.stdout.splitlines()[0]) - handed_over)
    finally:
        pool.close()
    return totals, first_lines


def _print_table(rows: dict[str, list[float]], repeat: int, pass_repeat: int) -> None:
    ms = {name: statistics.median(times) * 1000 for name, times in rows.items()}
    bare_pass, cold_pass = ms["bare `python -I -S -u -c pass`"], ms["cold sandbox, `pass`"]
    bare, cold = ms["analysis, bare `python analysis.py`"], ms["analysis, cold sandbox"]
    in_process, warm = (
        ms["analysis, inside an already-warm Python"],
        ms["analysis, warm pool (hand-over to result)"],
    )
    first_line = ms["warm pool: hand-over to the user's first line"]
    targets = {
        BWRAP_ALONE: (
            f"+{ms[BWRAP_ALONE] - bare_pass:.1f} ms",
            "(the floor)",
            None,
        ),
        "cold sandbox, `pass`": (
            f"+{cold_pass - bare_pass:.1f} ms",
            "≤ bare + 5 ms",
            cold_pass <= bare_pass + 5,
        ),
        "analysis, cold sandbox": (f"{cold / bare:.2f}× bare", "≤ 1.05× bare", cold <= 1.05 * bare),
        "analysis, warm pool (hand-over to result)": (
            f"{warm / in_process:.2f}× warm process",
            "≤ 1.3× warm process",
            warm <= 1.3 * in_process,
        ),
        "warm pool: hand-over to the user's first line": ("", "≤ 10 ms", first_line <= 10),
    }
    print(
        f"Sandbox benchmark, {date.today().isoformat()}, {os.cpu_count()} CPUs, medians of {pass_repeat} "
        f"rounds (`pass`) and {repeat} runs (analysis)\n"
    )
    print("| measurement | median | ratio | target | met |")
    print("|---|---:|---|---|---|")
    for name, median in ms.items():
        ratio, target, met = targets.get(name, ("", "", None))
        verdict = "" if met is None else ("yes" if met else "**no**")
        print(f"| {name} | {median:.1f} ms | {ratio} | {target} | {verdict} |")


if __name__ == "__main__":
    main()
