"""The Procfile's process layout: valid for honcho, and every queue a task is routed to has a worker."""

import re
import subprocess
from pathlib import Path

from django.conf import settings

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
