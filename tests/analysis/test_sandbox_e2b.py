"""The E2B backend: the real e2b-code-interpreter SDK against a local fake speaking E2B's wire protocol."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from dataclasses import replace

import pytest

from analysis.models import Execution
from analysis.sandboxes import get_sandbox
from analysis.sandboxes.base import CodeIntegrityError, DatasetMount, Limits
from analysis.sandboxes.e2b import E2BSandbox
from analysis.sandboxes.local import TRUNCATION_MARKER
from analysis.services.execution import execution_run, execution_start
from approvals.services import approval_request_approve
from tests.factories import ApprovalRequestFactory, demo_dataset
from tests.fakes.e2b_server import FakeE2BServer
from tests.uploads import stored_bytes

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 32).decode()
CODE = "print('hello')\n"
LIMITS = Limits(wall_seconds=20, output_bytes=10_000)


@pytest.fixture
def e2b():
    with FakeE2BServer() as server:
        yield server


@pytest.fixture
def dataset(tmp_path) -> DatasetMount:
    path = tmp_path / "sales.csv"
    path.write_bytes(b"month,region,revenue\n2024-01,north,10\n")
    return DatasetMount(name="sales.csv", host_path=str(path))


def backend(server: FakeE2BServer, **overrides) -> E2BSandbox:
    options = {"api_key": server.api_key, "api_url": server.url, "sandbox_url": server.url, **overrides}
    return E2BSandbox(**options)


def run(server: FakeE2BServer, code: str = CODE, datasets=(), limits: Limits = LIMITS, **overrides):
    return backend(server, **overrides).run(
        code=code,
        code_sha256=hashlib.sha256(code.encode()).hexdigest(),
        datasets=list(datasets),
        limits=limits,
    )


def assert_every_sandbox_killed(server: FakeE2BServer) -> None:
    assert server.created, "no sandbox was created"
    assert server.killed == server.created


def test_success_returns_stdout_a_png_and_a_text_result_and_kills_the_sandbox(e2b, dataset):
    e2b.execution(
        stdout=["hello\n", "world\n"],
        stderr=["a warning\n"],
        results=[
            {"png": PNG, "text": "<Figure size 640x480 with 1 Axes>"},
            {"text": "42", "is_main_result": True},
            {"html": "<table></table>", "text": "   a\n0  1", "is_main_result": True},
        ],
    )

    result = run(e2b, datasets=[dataset])

    assert result.succeeded, result.error
    assert result.stdout == "hello\nworld\n" and result.stderr == "a warning\n"
    assert result.results == [{"png": PNG}, {"text": "42"}, {"html": "<table></table>", "text": "   a\n0  1"}]
    assert result.limits["backend"] == "e2b" and result.limits["network"] is False
    assert result.limits["memory_mb"] is None and result.limits["caveats"]
    assert_every_sandbox_killed(e2b)


def test_the_sandbox_is_created_without_internet_with_a_lifetime_and_the_approved_code_runs(e2b):
    run(e2b, template="my-template", lifetime_seconds=5)

    create = e2b.requests_to("POST", "/v2/sandboxes")[0]
    assert create.json["templateID"] == "my-template"
    assert create.json["allow_internet_access"] is False
    assert create.json["timeout"] == LIMITS.wall_seconds + 30  # never shorter than the run itself
    assert create.json.get("envVars") in ({}, None)
    execute = e2b.requests_to("POST", "/execute")[0]
    assert execute.json["code"] == CODE
    assert execute.headers["e2b-sandbox-port"] == "49999"


@pytest.mark.parametrize("envd_version", ["0.5.8", "0.4.1"], ids=["octet-stream", "multipart"])
def test_datasets_are_uploaded_to_data_before_the_code_runs(dataset, envd_version):
    with FakeE2BServer(envd_version=envd_version) as server:
        result = run(server, datasets=[dataset])

        assert result.succeeded, result.error
        assert server.files == {"/data/sales.csv": open(dataset.host_path, "rb").read()}
        paths = [r.path for r in server.requests]
        assert paths.index("/files") < paths.index("/execute")
        upload = server.requests_to("POST", "/files")[0]
        assert upload.query.get("username") == ["root"]
        assert_every_sandbox_killed(server)


def test_an_error_in_the_code_comes_back_as_name_value_and_a_plain_traceback(e2b):
    traceback = (
        "\x1b[0;31m---------------------------------------------------------------------------\x1b[0m\n"
        "\x1b[0;31mZeroDivisionError\x1b[0m                         Traceback (most recent call last)\n"
        "Cell \x1b[0;32mIn[1], line 1\x1b[0m\n"
        "\x1b[0;32m----> 1\x1b[0m \x1b[38;5;241m1\x1b[39m/\x1b[38;5;241m0\x1b[39m\n"
    )
    e2b.execution(
        stdout=["before\n"],
        error={"name": "ZeroDivisionError", "value": "division by zero", "traceback": traceback},
    )

    result = run(e2b, code="print('before')\n1/0\n")

    assert not result.succeeded and not result.timed_out
    assert result.error["name"] == "ZeroDivisionError" and result.error["value"] == "division by zero"
    assert "\x1b" not in result.error["traceback"] and "----> 1 1/0" in result.error["traceback"]
    assert result.stdout == "before\n"
    assert_every_sandbox_killed(e2b)


def test_output_over_the_limit_is_truncated_with_a_visible_marker(e2b):
    e2b.execution(stdout=["x" * 600, "y" * 600])

    result = run(e2b, limits=replace(LIMITS, output_bytes=1000))

    assert result.stdout == "x" * 600 + "y" * 400 + TRUNCATION_MARKER


def test_a_rejected_api_key_is_a_clear_execution_error_and_nothing_runs(e2b):
    result = run(e2b, api_key="e2b_wrong")

    assert result.error["name"] == "SandboxError"
    assert "rejected the API key" in result.error["value"] and "E2B_API_KEY" in result.error["value"]
    assert e2b.created == [] and e2b.requests_to("POST", "/execute") == []


def test_the_rate_limit_is_a_clear_execution_error_after_the_sdk_retries(e2b):
    for _ in range(4):  # the SDK's first try and its 3 retries (Retry-After: 0 keeps the test fast)
        e2b.fail_create(status=429, headers={"Retry-After": "0"})

    result = run(e2b)

    assert result.error["name"] == "SandboxError" and "rate limit" in result.error["value"]
    assert not result.timed_out
    assert len(e2b.requests_to("POST", "/v2/sandboxes")) == 4 and e2b.created == []


def test_code_running_past_the_wall_limit_times_out_and_the_sandbox_is_still_killed(e2b):
    e2b.execution(hang=True)

    result = run(e2b, limits=replace(LIMITS, wall_seconds=1))

    assert result.timed_out and result.error["name"] == "SandboxTimeout"
    assert "wall-clock limit of 1 s" in result.error["value"]
    assert_every_sandbox_killed(e2b)


def test_a_failing_upload_ends_the_run_as_an_error_and_the_sandbox_is_still_killed(e2b, dataset):
    e2b.upload_status = 507  # envd: not enough space

    result = run(e2b, datasets=[dataset])

    assert result.error["name"] == "SandboxError" and "upload" in result.error["value"]
    assert e2b.requests_to("POST", "/execute") == []
    assert_every_sandbox_killed(e2b)


# --- Artifacts: /output's regular files -----------------------------------------------------------------


def test_a_file_the_code_writes_under_output_comes_back_as_an_artifact_with_its_bytes(e2b):
    e2b.output_file("summary.csv", b"month,revenue\n2024-01,10\n")
    e2b.output_file("chart.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)))

    result = run(e2b)

    assert result.succeeded, result.error
    assert {a.name: a.content for a in result.artifacts} == {
        "chart.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
        "summary.csv": b"month,revenue\n2024-01,10\n",
    }
    assert result.skipped_artifacts == []
    assert result.limits["artifact_count"] == LIMITS.artifact_count
    assert result.limits["artifact_mb"] == LIMITS.artifact_mb
    assert not any("artifact" in caveat or "/output" in caveat for caveat in result.limits["caveats"])
    order = [(r.method, r.path) for r in e2b.requests]
    listed = order.index(("POST", "/filesystem.Filesystem/ListDir"))
    assert (
        order.index(("POST", "/execute")) < listed < order.index(("DELETE", f"/sandboxes/{e2b.created[0]}"))
    )
    assert_every_sandbox_killed(e2b)


def test_a_symlink_and_a_directory_under_output_are_skipped_and_never_read(e2b):
    e2b.output_file("secret", b"root:x:0:0")
    e2b.output_symlink("passwd", "/output/secret")
    e2b.output_dir("nested")
    e2b.output_file("ok.txt", b"fine")

    result = run(e2b)

    assert sorted(a.name for a in result.artifacts) == ["ok.txt", "secret"]
    skipped = {item["name"]: item["reason"] for item in result.skipped_artifacts}
    assert set(skipped) == {"nested", "passwd"}
    assert all("not a regular file" in reason for reason in skipped.values())
    downloads = [r.query["path"][0] for r in e2b.requests_to("GET", "/files")]
    assert sorted(downloads) == ["/output/ok.txt", "/output/secret"]
    assert_every_sandbox_killed(e2b)


def test_artifacts_over_the_count_cap_are_skipped_with_a_note_and_the_run_succeeds(e2b):
    for name in ("a.txt", "b.txt", "c.txt"):
        e2b.output_file(name, name.encode())

    result = run(e2b, limits=replace(LIMITS, artifact_count=2))

    assert result.succeeded, result.error
    assert [a.name for a in result.artifacts] == ["a.txt", "b.txt"]
    assert result.skipped_artifacts == [{"name": "c.txt", "reason": "more than 2 files"}]
    assert [r.query["path"][0] for r in e2b.requests_to("GET", "/files")] == [
        "/output/a.txt",
        "/output/b.txt",
    ]
    assert_every_sandbox_killed(e2b)


def test_artifacts_over_the_size_cap_are_skipped_without_being_downloaded(e2b):
    e2b.output_file("big.bin", b"x" * (1024 * 1024 + 1))
    e2b.output_file("small.txt", b"small")

    result = run(e2b, limits=replace(LIMITS, artifact_mb=1))

    assert result.succeeded, result.error
    assert [(a.name, a.content) for a in result.artifacts] == [("small.txt", b"small")]
    assert result.skipped_artifacts == [{"name": "big.bin", "reason": "artifacts over 1 MB in total"}]
    assert [r.query["path"][0] for r in e2b.requests_to("GET", "/files")] == ["/output/small.txt"]
    assert_every_sandbox_killed(e2b)


def test_a_file_larger_than_listed_is_abandoned_while_streaming_at_the_size_cap(e2b):
    e2b.output_file("grew.bin", b"x" * (1024 * 1024 + 1), listed_size=10)

    result = run(e2b, limits=replace(LIMITS, artifact_mb=1))

    assert result.succeeded, result.error
    assert result.artifacts == []
    assert result.skipped_artifacts == [{"name": "grew.bin", "reason": "artifacts over 1 MB in total"}]
    assert_every_sandbox_killed(e2b)


def test_no_output_directory_means_no_artifacts_and_no_caveat(e2b):
    result = run(e2b)

    assert result.succeeded and result.artifacts == [] and result.skipped_artifacts == []
    assert len(e2b.requests_to("POST", "/filesystem.Filesystem/ListDir")) == 1
    assert not any("/output" in caveat for caveat in result.limits["caveats"])


def test_a_failure_listing_output_keeps_the_runs_output_records_a_caveat_and_still_kills(e2b):
    e2b.execution(stdout=["still here\n"], results=[{"text": "42"}])
    e2b.output_file("a.txt", b"a")
    e2b.list_status = 500

    result = run(e2b)

    assert result.succeeded, result.error
    assert result.stdout == "still here\n" and result.results == [{"text": "42"}]
    assert result.artifacts == []
    assert any("could not be listed" in caveat for caveat in result.limits["caveats"])
    assert_every_sandbox_killed(e2b)


def test_a_timed_out_run_collects_no_artifacts_and_the_sandbox_is_still_killed(e2b):
    e2b.output_file("a.txt", b"a")
    e2b.execution(hang=True)

    result = run(e2b, limits=replace(LIMITS, wall_seconds=1))

    assert result.timed_out and result.artifacts == []
    assert e2b.requests_to("POST", "/filesystem.Filesystem/ListDir") == []
    assert_every_sandbox_killed(e2b)


def test_a_code_hash_mismatch_is_refused_before_any_network_call(e2b):
    with pytest.raises(CodeIntegrityError):
        backend(e2b).run(code=CODE, code_sha256="0" * 64, datasets=[], limits=LIMITS)

    assert e2b.requests == []


def test_get_sandbox_returns_the_e2b_backend_when_configured(settings):
    settings.SANDBOX_BACKEND = "e2b"

    assert isinstance(get_sandbox(), E2BSandbox)


# --- Through the service layer ------------------------------------------------------------------------


@pytest.fixture
def approved(analyst, reviewer, team):
    request = ApprovalRequestFactory(user=analyst, team=team, risk_level="low")
    request.datasets.set([demo_dataset(team, rows=20)])
    return approval_request_approve(request=request, reviewer=reviewer)


def test_an_execution_runs_on_e2b_through_the_service_and_is_recorded(approved, analyst, e2b, settings):
    settings.SANDBOX_BACKEND = "e2b"
    settings.E2B_API_KEY, settings.E2B_API_URL, settings.E2B_SANDBOX_URL = e2b.api_key, e2b.url, e2b.url
    e2b.execution(stdout=["hello from e2b\n"], results=[{"png": PNG}])
    execution, _ = execution_start(request=approved, user=analyst)

    execution = execution_run(execution_id=execution.pk)

    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    assert execution.backend == "e2b" and execution.stdout == "hello from e2b\n"
    assert execution.results == [{"png": PNG}] and execution.limits["backend"] == "e2b"
    (dataset,) = approved.datasets.all()
    assert e2b.files == {f"/data/{dataset.name}": stored_bytes(dataset)}
    assert e2b.requests_to("POST", "/execute")[0].json["code"] == approved.code
    assert_every_sandbox_killed(e2b)


def test_an_e2b_artifact_is_stored_by_the_service_like_a_local_one(approved, analyst, e2b, settings):
    settings.SANDBOX_BACKEND = "e2b"
    settings.E2B_API_KEY, settings.E2B_API_URL, settings.E2B_SANDBOX_URL = e2b.api_key, e2b.url, e2b.url
    e2b.output_file("report.csv", b"region,total\nnorth,10\n")
    execution, _ = execution_start(request=approved, user=analyst)

    execution = execution_run(execution_id=execution.pk)

    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    (artifact,) = execution.artifacts.all()
    assert artifact.name == "report.csv"
    with artifact.file.open("rb") as handle:
        assert handle.read() == b"region,total\nnorth,10\n"
    assert artifact.sha256 == hashlib.sha256(b"region,total\nnorth,10\n").hexdigest()
    assert_every_sandbox_killed(e2b)


def test_what_the_code_prints_reaches_the_output_sink_while_the_kernel_still_works(e2b):
    e2b.execution(stdout=["first\n", "second\n"], stderr=["a warning\n"], pause_after=1)
    printed: list[tuple[str, str]] = []
    finished = threading.Event()
    outcome = {}

    def run_it() -> None:
        outcome["result"] = backend(e2b).run(
            code=CODE,
            code_sha256=hashlib.sha256(CODE.encode()).hexdigest(),
            datasets=[],
            limits=LIMITS,
            on_output=lambda stream, text: printed.append((stream, text)),
        )
        finished.set()

    threading.Thread(target=run_it, daemon=True).start()
    deadline = time.monotonic() + 20
    while not printed and time.monotonic() < deadline:
        finished.wait(0.01)

    assert printed == [("stdout", "first\n")]
    assert not finished.is_set()  # the streamed response is still open: the code is still "running"
    e2b.resume()
    assert finished.wait(20)
    assert printed == [("stdout", "first\n"), ("stdout", "second\n"), ("stderr", "a warning\n")]
    assert outcome["result"].stdout == "first\nsecond\n" and outcome["result"].stderr == "a warning\n"
    assert_every_sandbox_killed(e2b)
