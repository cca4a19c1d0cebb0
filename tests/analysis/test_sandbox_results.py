"""The result channel, for real: what a sandbox reports is checked, bounded and storable, or the run fails.

The runner writes one JSON document on a pipe of its own, but the code runs in the runner's process and can
write there too. Anything that is not the runner's shapes within their caps ends the run failed with a
clear error (never a worker crash that leaves it `running`), and honest results are bounded: a run's
results are at most `results_mb` as stored JSON, which is what the API returns.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from analysis.models import Execution
from analysis.sandboxes.base import (
    TRUNCATION_MARKER,
    Limits,
    MalformedResult,
    check_error,
    check_results,
    results_size,
)
from analysis.services.execution import execution_run, execution_start
from approvals.services import approval_request_approve
from tests.analysis.test_sandbox_e2b import PNG, assert_every_sandbox_killed
from tests.analysis.test_sandbox_e2b import run as run_e2b
from tests.analysis.test_sandbox_local import run
from tests.factories import ApprovalRequestFactory
from tests.fakes.e2b_server import FakeE2BServer

MB = 1024 * 1024

# The result channel's descriptor, as the runner got it on its command line (a warm runner's comes after
# `--warm READY_FD CPU_SECONDS`).
CHANNEL = 'fd = int(sys.argv[sys.argv.index("--warm") + 3] if "--warm" in sys.argv else sys.argv[1])\n'


def forging(message: bytes, then: str = "os._exit(0)") -> str:
    return f"import os, sys\n{CHANNEL}os.write(fd, {message!r})\n{then}\n"


@pytest.fixture
def e2b():
    with FakeE2BServer() as server:
        yield server


# --- A forged or flooded channel ends the run failed ----------------------------------------------------


@pytest.mark.parametrize(
    ("message", "says"),
    [
        (b'{"results": "x", "error": "boom", "artifacts": []}', "results are a str, not a list"),
        (b"not json at all", "did not carry one JSON document"),
        (b'{"results": [], "error": null}', "not results, error and artifacts"),
        (b'{"results": [{"text": "a", "script": "b"}], "error": null, "artifacts": []}', "results[0] is not"),
        (b'{"results": [{"png": "PHN2Zz4="}], "error": null, "artifacts": []}', "not a base64 PNG"),
        (b'{"results": [{"text": 42}], "error": null, "artifacts": []}', "results[0].text is a int"),
        (b'{"results": [{"text": "a\\u0000b"}], "error": null, "artifacts": []}', "NUL"),
        (b'{"results": [{"text": "\\udc80"}], "error": null, "artifacts": []}', "lone surrogate"),
        (b'{"results": [], "error": {"name": "X"}, "artifacts": []}', "error is not a name, a value"),
        (b'{"results": [], "error": null, "artifacts": ["x"]}', "artifacts[0] is not"),
    ],
    ids=["types", "json", "keys", "result-keys", "png", "text-type", "nul", "surrogate", "error", "artifact"],
)
def test_a_forged_result_message_ends_the_run_failed_saying_what_was_wrong(message, says):
    result = run(forging(message), wall_seconds=60)

    assert not result.succeeded and not result.timed_out
    assert result.error["name"] == "MalformedResult", result.error
    assert says in result.error["value"] and "refused" in result.error["value"]
    assert result.results == [] and result.artifacts == []
    assert result.duration_ms < 10_000  # at once, not at the wall limit


def test_a_forged_message_followed_by_the_runners_own_is_refused():
    result = run(forging(b'{"results": [{"text": "forged"}], "error": null, "artifacts": []}', then="pass"))

    assert result.error["name"] == "MalformedResult" and "one JSON document" in result.error["value"]
    assert "forged" not in repr(result.results)


def test_a_forged_message_over_the_results_cap_is_refused():
    text = "x" * (2 * MB)
    message = json.dumps({"results": [{"text": text}], "error": None, "artifacts": []}).encode()

    result = run(forging(message), results_mb=1)

    assert result.error["name"] == "MalformedResult" and "over the limit of 1 MB" in result.error["value"]


def test_flooding_the_result_channel_stops_the_run_at_once():
    result = run(
        f"""
        import os, sys, time
        {CHANNEL}
        chunk = b"x" * (1024 * 1024)
        for _ in range(1000):
            os.write(fd, chunk)
        time.sleep(60)
        """,
        results_mb=1,
        output_bytes=10_000,
        artifact_mb=1,
        wall_seconds=60,
    )

    assert result.error["name"] == "MalformedResult", result.error
    assert "result channel carried more than" in result.error["value"]
    assert not result.timed_out and result.duration_ms < 30_000


# --- Honest results are bounded ------------------------------------------------------------------------


def test_a_250k_row_dataframe_shows_its_first_rows_with_a_note_saying_so():
    result = run("""
        import pandas as pd
        pd.set_option("display.max_rows", None)  # what the display options say does not matter
        pd.DataFrame({"row": range(250_000), "label": ["some text"] * 250_000})
    """)

    assert result.succeeded, result.error
    [table] = result.results
    assert table["html"].count("</tr>") == 101  # the header and 100 rows
    assert table["html"].endswith("<p>showing the first 100 of 250000 rows</p>")
    assert table["text"].endswith("[showing the first 100 of 250000 rows]")
    assert len(table["text"].splitlines()) == 102  # the header, 100 rows and the note
    assert results_size(result.results) < 50_000


def test_a_small_dataframe_is_shown_whole_without_a_note():
    result = run("import pandas as pd\npd.DataFrame({'a': range(100)})")

    [table] = result.results
    assert table["html"].count("</tr>") == 101 and "showing" not in table["html"] + table["text"]


def test_many_large_charts_keep_what_fits_in_the_cap_and_say_how_many_were_left_out():
    result = run(
        """
        import numpy as np
        import matplotlib.pyplot as plt
        rng = np.random.default_rng(0)
        for _ in range(12):
            plt.figure(figsize=(6, 6))
            plt.imshow(rng.random((500, 500)))  # noise: each PNG is about 1 MB
        print("drawn")
        """,
        results_mb=3,
    )

    assert result.succeeded, result.error
    charts = [item for item in result.results if "png" in item]
    assert 1 <= len(charts) < 12
    left_out = 12 - len(charts)
    assert result.results[-1] == {
        "text": f"[... {left_out} more result(s) not kept: a run's results are limited to 3 MB ...]"
    }
    assert results_size(result.results) <= 3 * MB
    assert check_results(result.results, replace(Limits(), results_mb=3))  # the host's own check passes
    assert all(item["png"].startswith("iVBORw0KGgo") for item in charts)


def test_a_huge_text_value_is_cut_to_the_cap_with_the_truncation_marker():
    result = run("'é' * (3 * 1024 * 1024)", results_mb=1)  # two bytes each in UTF-8

    assert result.succeeded, result.error
    [value] = result.results
    assert value["text"].startswith("'éé") and value["text"].endswith(TRUNCATION_MARKER)
    assert 0.9 * MB < results_size(result.results) <= MB


def test_a_huge_exception_message_is_cut_and_stays_the_users_error():
    result = run("raise ValueError('x' * 5_000_000)", output_bytes=10_000)

    assert result.error["name"] == "ValueError"
    assert result.error["value"] == "x" * 10_000 + TRUNCATION_MARKER
    assert len(result.error["traceback"]) <= 10_000 + len(TRUNCATION_MARKER)


def test_nul_characters_in_output_and_results_become_replacement_characters():
    result = run("""
        import pandas as pd
        print("a\\0b")
        pd.DataFrame({"cell": ["x\\0y"]})
    """)

    assert result.succeeded, result.error
    assert result.stdout == "a\ufffdb\n"
    assert "x\ufffdy" in result.results[0]["html"] and "x\ufffdy" in result.results[0]["text"]


def test_the_host_checks_accept_the_runners_shapes_only():
    limits = Limits(results_mb=1, output_bytes=100)
    ok = [{"png": PNG}, {"html": "<table></table>", "text": "t"}, {"text": "v"}]

    assert check_results(ok, limits) == ok
    assert check_error({"name": "E", "value": "v" * 100, "traceback": ""}, limits)
    with pytest.raises(MalformedResult, match="longer than 100"):
        check_error({"name": "E", "value": "v" * 200, "traceback": ""}, limits)
    with pytest.raises(MalformedResult, match="not a list"):
        check_results({"text": "v"}, limits)


# --- Through the service, the worker and the API ----------------------------------------------------------


def run_approved(*, analyst, reviewer, team, code: str) -> Execution:
    request = ApprovalRequestFactory(user=analyst, team=team, code=code)
    approval_request_approve(request=request, reviewer=reviewer)
    execution, _ = execution_start(request=request, user=analyst)
    return execution_run(execution_id=execution.pk)


FLOOD = """
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
rng = np.random.default_rng(0)
for _ in range(10):
    plt.figure(figsize=(6, 6))
    plt.imshow(rng.random((500, 500)))
pd.set_option("display.max_rows", None)
pd.DataFrame({"row": range(250_000), "value": rng.random(250_000)})
"""


def test_the_api_never_returns_more_results_than_the_cap(settings, analyst, reviewer, team, as_user):
    settings.SANDBOX_BACKEND = "local"
    settings.SANDBOX_LIMITS = {**settings.SANDBOX_LIMITS, "results_mb": 2, "wall_seconds": 60}

    execution = run_approved(analyst=analyst, reviewer=reviewer, team=team, code=FLOOD)

    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    response = as_user(analyst).get(f"/api/executions/{execution.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body["results"][0]["text"].endswith("[showing the first 100 of 250000 rows]")
    assert body["results"][-1]["text"].startswith("[... ") and body["limits"]["results_mb"] == 2
    assert len(json.dumps(body["results"], ensure_ascii=False, separators=(",", ":")).encode()) <= 2 * MB
    assert len(response.content) <= 2 * MB + 64 * 1024  # the rest: ids, limits, empty stdout


def test_unstorable_output_is_stored_and_the_run_succeeds(settings, analyst, reviewer, team):
    settings.SANDBOX_BACKEND = "local"
    code = "import pandas as pd\nprint('a\\0b')\npd.DataFrame({'cell': ['x\\0y']})\n"

    execution = run_approved(analyst=analyst, reviewer=reviewer, team=team, code=code)

    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    assert execution.stdout == "a\ufffdb\n" and "x\ufffdy" in execution.results[0]["text"]


def test_a_forged_message_ends_the_execution_failed_in_the_real_worker(
    celery_worker_process, analyst, reviewer, team
):
    code = forging(b'{"results": "x", "error": "boom", "artifacts": []}')
    request = ApprovalRequestFactory(user=analyst, team=team, code=code, risk_level="low")
    request = approval_request_approve(request=request, reviewer=reviewer)

    execution, _ = execution_start(request=request, user=analyst)
    celery_worker_process.wait_for_task("analysis.tasks.run_execution", str(execution.pk))

    execution.refresh_from_db()
    assert execution.status == Execution.Status.FAILED
    assert execution.error["name"] == "MalformedResult" and "not a list" in execution.error["value"]
    assert execution.limits["warm"] is True  # the worker's warm pool: the channel sits elsewhere in argv
    request.refresh_from_db()
    assert request.status == "failed"


# --- E2B obeys the same cap and checks --------------------------------------------------------------------


def test_e2b_results_over_the_cap_are_left_out_with_a_note(e2b):
    big = "A" * (600 * 1024)
    e2b.execution(results=[{"png": PNG}, {"text": big}, {"text": big}, {"html": big, "text": "t"}])

    result = run_e2b(e2b, limits=Limits(wall_seconds=20, results_mb=1))

    assert result.succeeded, result.error
    assert result.results[:2] == [{"png": PNG}, {"text": big}]
    assert result.results[2]["text"].startswith("[... 2 more result(s) not kept")
    assert results_size(result.results) <= MB and result.limits["results_mb"] == 1
    assert_every_sandbox_killed(e2b)


def test_e2b_results_of_the_wrong_type_end_the_run_failed_and_unstorable_text_is_cleaned(e2b):
    e2b.execution(results=[{"png": "PHN2Zz4="}], stdout=["a\0b\n"])

    result = run_e2b(e2b)

    assert result.error["name"] == "MalformedResult" and "not a base64 PNG" in result.error["value"]
    assert result.results == [] and result.stdout == "a\ufffdb\n"
    assert_every_sandbox_killed(e2b)


def test_e2b_error_value_and_traceback_are_capped_and_cleaned(e2b):
    e2b.execution(error={"name": "ValueError", "value": "v\0" * 10_000, "traceback": "t" * 50_000})

    result = run_e2b(e2b, limits=Limits(wall_seconds=20, output_bytes=1000))

    assert result.error["name"] == "ValueError"
    assert result.error["value"] == "v\ufffd" * 500 + TRUNCATION_MARKER
    assert result.error["traceback"] == "t" * 1000 + TRUNCATION_MARKER


def test_an_e2b_flood_is_stored_within_the_cap_through_the_service(settings, analyst, reviewer, team, e2b):
    settings.SANDBOX_BACKEND = "e2b"
    settings.E2B_API_KEY, settings.E2B_API_URL, settings.E2B_SANDBOX_URL = e2b.api_key, e2b.url, e2b.url
    settings.SANDBOX_LIMITS = {**settings.SANDBOX_LIMITS, "results_mb": 1}
    e2b.execution(results=[{"text": "B" * (400 * 1024)} for _ in range(5)])

    execution = run_approved(analyst=analyst, reviewer=reviewer, team=team, code="print('flood')\n")

    assert execution.status == Execution.Status.SUCCEEDED, execution.error
    assert results_size(execution.results) <= MB
    assert execution.results[-1]["text"].startswith("[... 3 more result(s) not kept")
    assert_every_sandbox_killed(e2b)
