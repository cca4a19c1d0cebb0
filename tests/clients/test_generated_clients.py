"""Generated clients run the seed flow against a live server, a real worker and the real sandbox.

Each test generates a client from the schema the live server serves (`/api/schema/`), into the test's own
temporary folder (nothing generated is committed): the Python client with openapi-python-client, checked
with `mypy --strict`; the TypeScript types with openapi-typescript, used through openapi-fetch, checked with
`tsc --noEmit --strict`, compiled to JavaScript and run by node. The flow programs (python_flow.py,
flow.ts: the seed flow and a dataset upload) print what they saw; the test checks it and the rows. The npm
tools are tests/clients' own (package-lock.json), installed by `make install` (`npm ci`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from analysis.models import Execution
from approvals.labels import status_label

CLIENTS = Path(__file__).resolve().parent
ROOT = CLIENTS.parents[1]
NODE_BIN = CLIENTS / "node_modules" / ".bin"
# Type checks and generation are CPU-bound on a small machine; the flows wait for a real worker and sandbox.
STEP_TIMEOUT = 300
TSC_OPTIONS = ["--strict", "--target", "es2022", "--module", "nodenext", "--moduleResolution", "nodenext"]
TSC_OPTIONS += ["--types", "node", "--skipLibCheck"]


def run(command: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, (
        f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout


def seeded_tokens() -> dict[str, str]:
    """The demo (users, their API tokens, sales.csv), as `make up` seeds it on 127.0.0.1."""
    out = StringIO()
    call_command("seed_demo", "--json", "--allow-public", stdout=out)
    users = {user["username"]: user["token"] for user in json.loads(out.getvalue())["users"]}
    return {"ANALYST_TOKEN": users["analyst"], "REVIEWER_TOKEN": users["reviewer"]}


def schema_url(live_server) -> str:
    return f"{live_server.url}/api/schema/?format=json"


def assert_the_flow_went_through(seen: dict) -> None:
    assert seen["requestStatus"] == "pending_review", seen
    assert seen["statusLabel"] == status_label("pending_review")
    assert seen["plan"] and seen["cardPlan"]["text"] == seen["plan"] and seen["clarification"] is None
    assert "revenue" in seen["cardPlan"]["columns"] and seen["cardPlan"]["findings"] == []
    assert seen["riskLevel"] in ("low", "medium")
    assert seen["approvedBy"] == "reviewer" and seen["approvalStatus"] in ("approved", "queued", "running")
    assert seen["executionStatus"] == "succeeded" and seen["charts"] >= 1 and seen["stdout"]
    assert seen["csvHeader"] == "feature,costUsd,calls,inputTokens,outputTokens,seconds,unpricedCalls"
    assert seen["spendGroupBy"] == "feature" and {"generation", "execution"} <= set(seen["spendFeatures"])
    assert seen["upload"] == {
        "status": 201,
        "name": "visits.csv",
        "datasetStatus": "ready",
        "columns": ["city", "visits"],
    }
    bad = seen["badRequest"]
    assert (bad["status"], bad["code"], bad["fields"]) == (400, "invalid_input", ["query"]) and bad[
        "messages"
    ]
    assert seen["forbidden"] == {"status": 403, "code": "not_a_reviewer"}
    assert Execution.objects.get().status == Execution.Status.SUCCEEDED


def test_the_generated_python_client_runs_the_seed_flow(live_server, celery_worker_process, tmp_path):
    tokens = seeded_tokens()
    run(
        [
            str(Path(sys.executable).parent / "openapi-python-client"),
            "generate",
            "--url",
            schema_url(live_server),
            "--output-path",
            str(tmp_path / "sandgate_client"),
            "--meta",
            "none",
            "--config",
            str(CLIENTS / "openapi-python-client.yaml"),
        ],
        cwd=tmp_path,
    )
    flow = CLIENTS / "python_flow.py"
    checked = run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "mypy-cache"), str(flow)],
        cwd=ROOT,
        env={"MYPYPATH": str(tmp_path)},
    )
    assert checked.startswith("Success: no issues found")
    env = {"PYTHONPATH": str(tmp_path), "SANDGATE_URL": live_server.url, **tokens}
    assert_the_flow_went_through(json.loads(run([sys.executable, str(flow)], cwd=tmp_path, env=env)))


def test_the_generated_typescript_types_run_the_seed_flow(live_server, celery_worker_process, tmp_path):
    assert (NODE_BIN / "tsc").exists(), (
        "the npm tools are missing: run `make install` (npm ci in tests/clients)"
    )
    tokens = seeded_tokens()
    (tmp_path / "node_modules").symlink_to(CLIENTS / "node_modules")
    (tmp_path / "package.json").write_text('{"type": "module"}\n')
    (tmp_path / "flow.ts").write_text((CLIENTS / "flow.ts").read_text())
    run([str(NODE_BIN / "openapi-typescript"), schema_url(live_server), "-o", "schema.d.ts"], cwd=tmp_path)
    run([str(NODE_BIN / "tsc"), "--noEmit", *TSC_OPTIONS, "flow.ts"], cwd=tmp_path)
    # Checked above; this step only writes the JavaScript (node 20 cannot run TypeScript).
    run([str(NODE_BIN / "tsc"), "--noCheck", *TSC_OPTIONS, "--outDir", "build", "flow.ts"], cwd=tmp_path)
    env = {"SANDGATE_URL": live_server.url, **tokens}
    assert_the_flow_went_through(json.loads(run(["node", "build/flow.js"], cwd=tmp_path, env=env)))


def _code(text: str, comment: str) -> str:
    """The text without its comments and docstrings' prose, so words like "as" in them do not count."""
    text = re.sub(r'"""[\s\S]*?"""', "", text)
    return "\n".join(line.split(comment, 1)[0] for line in text.splitlines())


@pytest.mark.parametrize(
    ("flow", "comment", "forbidden"),
    [
        ("flow.ts", "//", [r"\bas\b", r"\bany\b", r"\bunknown\b", r"!\s*[.;)\]]", r"@ts-", r"JSON\.parse"]),
        (
            "python_flow.py",
            "#",
            [r"\bcast\b", r"\bAny\b", r"type:\s*ignore", r"\bgetattr\(", r"json\.loads", r"\.json\("],
        ),
    ],
)
def test_the_flows_use_no_casts_or_untyped_access(flow, comment, forbidden):
    code = _code((CLIENTS / flow).read_text(), comment)
    assert [pattern for pattern in forbidden if re.search(pattern, code)] == []
