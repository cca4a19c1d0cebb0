"""The process layouts: the Procfile valid for honcho with a worker for every routed queue, and `make up`'s
Procfile.local stopped whole by one Ctrl-C."""

import os
import re
import signal
import subprocess
from pathlib import Path

from django.conf import settings

from tests.processes import Output, free_port

ROOT = Path(__file__).resolve().parents[2]


def procfile() -> dict[str, str]:
    from honcho.environ import parse_procfile

    return dict(parse_procfile((ROOT / "Procfile").read_text()).processes)


def test_honcho_accepts_the_procfile_with_web_both_workers_and_beat():
    checked = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "honcho"), "check"], cwd=ROOT, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    assert list(procfile()) == ["web", "generate", "execute", "beat"]
    assert procfile()["web"].startswith("gunicorn config.wsgi ")
    assert procfile()["beat"].startswith("celery -A config beat ")


def test_every_queue_a_task_is_routed_to_is_consumed_by_a_procfile_worker():
    consumed = set()
    for command in procfile().values():
        if " worker " in command:
            consumed |= set(re.search(r"-Q (\S+)", command).group(1).split(","))
    suffix = settings.QUEUE_SUFFIX  # the test run's own queue names (config/settings/test.py)
    routed = {route["queue"].removesuffix(suffix) for route in settings.CELERY_TASK_ROUTES.values()}
    assert routed | {"celery"} <= consumed  # "celery": the periodic tasks' default queue
    assert "execute" not in re.search(r"-Q (\S+)", procfile()["generate"]).group(1)  # sandboxes stay apart


def running_with(marker: str) -> list[str]:
    """The command lines of the running processes whose environment holds `marker` (a zombie has ended:
    not every init reaps at once)."""
    running = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if state != "Z" and marker.encode() in (proc / "environ").read_bytes():
                running.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:  # it ended while being read
            continue
    return running


def test_make_up_starts_web_worker_and_beat_and_one_ctrl_c_stops_them_all_leaving_nothing_running(tmp_path):
    """The README's first command (installed already): Ctrl-C, SIGINT to the terminal's foreground process
    group, must stop the web server, the worker and beat, with none of their processes left behind."""
    port = free_port()
    database_url = f"sqlite:///{tmp_path / 'db.sqlite3'}"  # also marks this run's processes
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "CELERY_BROKER_URL")}
    env |= {"DATABASE_URL": database_url, "CELERY_BEAT_SCHEDULE_FILE": str(tmp_path / "celerybeat-schedule")}
    command = ["make", "--no-print-directory", "up", "HOST=127.0.0.1", f"PORT={port}"]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        Output(process.stdout, name="make up").wait_for(
            r"celery@\S+ ready",
            r"beat: Starting",
            rf"Starting development server at http://127.0.0.1:{port}/",
        )
        started = running_with(database_url)
        assert any("runserver" in c for c in started) and any(" worker " in c for c in started), started
        assert any(" beat " in c for c in started), started

        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)

    assert running_with(database_url) == []
