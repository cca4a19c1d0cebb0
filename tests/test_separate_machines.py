"""Web and workers on machines that share no disk, started from the Procfile with honcho.

Two "machines": each a directory of its own (working directory, media root, dataset cache, audit head
file), the web process (gunicorn) on one and the generate and execute workers on the other. They share
only PostgreSQL (the test database), a private Redis, and a bucket of a local S3 server speaking the real
wire protocol (moto's server mode); the code comes from the fake Mistral server. Everything goes through
the web's HTTP API as an analyst and a reviewer would, and synchronises on the processes' own log lines.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
from pathlib import Path

import pytest
import requests

from analysis.models import Dataset
from billing.models import Membership
from tests.conftest import api_token
from tests.factories import TeamFactory, member
from tests.fakes.mistral_server import FakeMistralServer, ScriptedResponse
from tests.processes import Output, free_port
from tests.reliability.conftest import PrivateRedis
from tests.uploads import made_by_pandas
from tests.worker import database_url

ROOT = Path(__file__).resolve().parent.parent
KEY = "mistral-test-key"
CODE = """import pandas as pd

df = pd.read_csv("/data/visits.csv")
totals = df.groupby("city")["visits"].sum()
totals.to_csv("/output/by_city.csv")
print(totals.to_string())
"""
CSV = b"city,visits\nLyon,3\nNantes,5\nLyon,4\n"


class Machine:
    """Procfile processes started by honcho in a directory of their own, as on a machine of their own."""

    def __init__(self, root: Path, processes: list[str], env: dict[str, str], port: int = 5000):
        self.root = root
        for folder in ("media", "dataset-cache", "var"):
            (root / folder).mkdir(parents=True)
        env = {
            **env,
            "SANDGATE_MEDIA_ROOT": str(root / "media"),
            "SANDGATE_DATASET_CACHE_DIR": str(root / "dataset-cache"),
            "AUDIT_HEAD_FILE": str(root / "var" / "audit-heads.log"),
        }
        command = [str(ROOT / ".venv" / "bin" / "honcho"), "--no-colour", "-f", str(ROOT / "Procfile")]
        self.proc = subprocess.Popen(
            [*command, "start", "-p", str(port), *processes],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.output = Output(self.proc.stdout, name=root.name)

    def wait_for(self, *patterns: str, timeout: float = 120) -> None:
        """Block until the processes have logged a line matching each pattern (in any order)."""
        self.output.wait_for(*patterns, timeout=timeout)

    def files(self, folder: str) -> list[str]:
        return sorted(p.name for p in (self.root / folder).rglob("*") if p.is_file())

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # honcho, gunicorn, celery and their children
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture
def private_redis():
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


def settings_of_every_machine(*, redis_url: str, s3_env: dict, mistral_url: str) -> dict[str, str]:
    """What an operator sets on every machine: the same database, broker, bucket and secret key."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SANDGATE_", "AWS_"))},
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),  # the code is installed once per machine; each runs from its own directory
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(60),
        "DJANGO_SECURE_SSL_REDIRECT": "false",  # plain HTTP on 127.0.0.1 here; a proxy terminates TLS there
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": redis_url,
        **s3_env,
        "MISTRAL_API_KEY": KEY,
        "MISTRAL_SERVER_URL": mistral_url,
        "HOST": "127.0.0.1",
        "WEB_CONCURRENCY": "2",
        "GENERATE_CONCURRENCY": "1",
        "EXECUTE_CONCURRENCY": "1",
    }


def test_web_and_workers_that_share_no_disk_work_through_the_database_redis_and_a_bucket(
    transactional_db, tmp_path, s3_server, private_redis, prices
):
    bucket = s3_server.new_bucket()
    team = TeamFactory(high_risk_quorum=1)
    analyst = member(team, Membership.Role.ANALYST, user__username="ann")
    reviewer = member(team, Membership.Role.REVIEWER, user__username="rita")
    as_analyst, as_reviewer = requests.Session(), requests.Session()
    as_analyst.headers["Authorization"] = f"Token {api_token(analyst)}"
    as_reviewer.headers["Authorization"] = f"Token {api_token(reviewer)}"

    with FakeMistralServer(api_key=KEY) as mistral:
        answer = json.dumps(
            {"plan": "Sums the visits of each city in visits.csv and saves them.", "code": CODE}
        )
        mistral.always(ScriptedResponse(content=answer, prompt_tokens=90, completion_tokens=60))
        env = settings_of_every_machine(
            redis_url=private_redis.url, s3_env=s3_server.settings(bucket), mistral_url=mistral.url
        )
        port = free_port()
        web = Machine(tmp_path / "web-machine", ["web"], env, port=port)
        workers = Machine(tmp_path / "worker-machine", ["generate", "execute"], env)
        try:
            web.wait_for(rf"Listening at: http://127\.0\.0\.1:{port}")
            workers.wait_for(r"generate@\S+ ready\.", r"execute@\S+ ready\.")
            api = f"http://127.0.0.1:{port}/api"
            flow(api, as_analyst, as_reviewer, web, workers, s3_server, bucket, tmp_path)
        finally:
            web.stop()
            workers.stop()


def flow(api, as_analyst, as_reviewer, web, workers, s3_server, bucket, tmp_path) -> None:
    # 1. Upload through the web: the file goes to the bucket, not the web machine's disk.
    uploaded = as_analyst.post(f"{api}/datasets", files={"file": ("visits.csv", CSV)}, timeout=30)
    assert uploaded.status_code == 201, uploaded.text
    dataset = uploaded.json()
    keys = {item["Key"] for item in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]}
    assert any(key.endswith(f"/{dataset['id']}/visits.csv") for key in keys)
    xlsx = made_by_pandas(tmp_path, "towns.xlsx", "to_excel")
    towns = as_analyst.post(f"{api}/datasets", files={"file": ("towns.xlsx", xlsx)}, timeout=30)
    assert towns.status_code == 202, towns.text
    workers.wait_for(r"Task analysis\.tasks\.profile_dataset\[.*\] succeeded")
    towns = as_analyst.get(f"{api}/datasets/{towns.json()['id']}", timeout=30).json()
    assert (towns["status"], towns["rowCount"]) == ("ready", 3), towns  # profiled from the bucket

    # 2. Ask, approve, run on the worker, download the artifact through the web.
    execution = ask_approve_run(api, as_analyst, as_reviewer, workers, dataset["id"])
    assert execution["status"] == "succeeded", execution
    assert "Lyon      7" in execution["stdout"]
    (artifact,) = execution["artifacts"]
    download = as_analyst.get(f"{api.removesuffix('/api')}{artifact['url']}", timeout=30)
    assert download.status_code == 200
    assert download.content == b"city,visits\nLyon,7\nNantes,5\n"
    assert download.headers["Content-Disposition"] == 'attachment; filename="by_city.csv"'
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert web.files("media") == [] and workers.files("media") == []  # neither machine stored a file
    stored = Dataset.objects.get(pk=dataset["id"])
    assert stored.sha256 in workers.files("dataset-cache") and web.files("dataset-cache") == []

    # 3. The object is changed in the bucket after the approval: the run is refused, saying why.
    request_id = ask_and_approve(api, as_analyst, as_reviewer, workers, dataset["id"])
    s3_server.client().put_object(
        Bucket=bucket, Key=stored.file.name, Body=CSV.replace(b"Nantes,5", b"Nantes,500")
    )
    refused = run(api, as_analyst, workers, request_id)
    assert refused["status"] == "failed", refused
    assert refused["error"]["name"] == "IntegrityError"
    assert "“visits.csv” in storage is not the one approved" in refused["error"]["value"]
    assert refused["artifacts"] == [] and refused["stdout"] == ""


def ask_and_approve(api, as_analyst, as_reviewer, workers, dataset_id: str) -> str:
    body = {"query": "Total visits by city, saved as a CSV", "datasetIds": [dataset_id]}
    asked = as_analyst.post(f"{api}/analyze", json=body, timeout=30)
    assert asked.status_code == 202, asked.text
    request_id = asked.json()["requestId"]
    workers.wait_for(r"Task analysis\.tasks\.generate_code\[.*\] succeeded")
    detail = as_reviewer.get(f"{api}/requests/{request_id}", timeout=30).json()
    assert detail["status"] == "pending_review", json.dumps(detail)[:2000]
    approve = {"requestId": request_id, "approved": True, "codeSha256": detail["codeSha256"]}
    decided = as_reviewer.post(f"{api}/approve", json=approve, timeout=30)
    assert decided.status_code == 200 and decided.json()["status"] == "approved", decided.text
    return request_id


def run(api, as_analyst, workers, request_id: str) -> dict:
    started = as_analyst.post(f"{api}/execute", json={"requestId": request_id}, timeout=30)
    assert started.status_code == 202, started.text
    workers.wait_for(r"Task analysis\.tasks\.run_execution\[.*\] succeeded")
    return as_analyst.get(f"{api}/executions/{started.json()['executionId']}", timeout=30).json()


def ask_approve_run(api, as_analyst, as_reviewer, workers, dataset_id: str) -> dict:
    return run(api, as_analyst, workers, ask_and_approve(api, as_analyst, as_reviewer, workers, dataset_id))
