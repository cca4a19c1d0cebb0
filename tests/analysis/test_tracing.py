"""Langfuse tracing with the real langfuse SDK, exporting OTLP protobuf to a local fake receiver.

The SDK's exporter runs for real (HTTP, gzip, protobuf); tests flush explicitly and then read what
the receiver decoded. Code generation goes through the real mistralai SDK against the fake Mistral
server, and the execution runs in the real sandbox.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from analysis import tracing
from analysis.services.asking import analysis_submit
from analysis.services.execution import execution_run, execution_start
from analysis.services.generation import request_generate_code
from approvals.models import ApprovalRequest
from approvals.services import approval_request_approve
from billing.models import CostSpan
from tests.factories import demo_dataset
from tests.fakes.mistral_server import FakeMistralServer
from tests.fakes.otlp_server import TRACES_PATH, FakeOtlpServer

MISTRAL_KEY = "test-key-trace"
CODE = 'import pandas as pd\ndf = pd.read_csv("/data/sales.csv")\nprint(len(df), "rows")\n'
ANSWER = json.dumps({"plan": "Counts the rows of sales.csv.", "code": CODE})


@pytest.fixture
def receiver() -> Iterator[FakeOtlpServer]:
    with FakeOtlpServer() as fake:
        yield fake


@pytest.fixture
def mistral(settings) -> Iterator[FakeMistralServer]:
    with FakeMistralServer(api_key=MISTRAL_KEY) as fake:
        settings.MISTRAL_API_KEY = MISTRAL_KEY
        settings.MISTRAL_MODEL = "mistral-large-latest"
        settings.MISTRAL_SERVER_URL = fake.url
        settings.MISTRAL_TIMEOUT_SECONDS = 5.0
        yield fake


@pytest.fixture
def langfuse_on(settings, receiver: FakeOtlpServer) -> Iterator[FakeOtlpServer]:
    # A fresh public key per test: the SDK keeps one client per key for the whole process.
    settings.LANGFUSE_PUBLIC_KEY = f"pk-lf-test-{uuid.uuid4().hex[:8]}"
    settings.LANGFUSE_SECRET_KEY = "sk-lf-test"
    settings.LANGFUSE_BASE_URL = receiver.url
    yield receiver
    tracing.shutdown()


def _generated_request(*, analyst, team) -> ApprovalRequest:
    demo_dataset(team)
    request = analysis_submit(user=analyst, query="how many rows are in sales.csv?")
    return request_generate_code(request_id=request.pk)


def test_without_keys_nothing_is_sent_and_generation_still_works(
    settings, receiver: FakeOtlpServer, analyst, team
) -> None:
    settings.LANGFUSE_PUBLIC_KEY = ""
    settings.LANGFUSE_SECRET_KEY = ""
    settings.LANGFUSE_BASE_URL = receiver.url

    request = _generated_request(analyst=analyst, team=team)
    tracing.flush()

    assert request.status == ApprovalRequest.Status.PENDING_REVIEW
    assert tracing.get_client() is None
    assert receiver.requests == []


def test_generation_is_traced_with_user_session_request_model_usage_and_cost(
    langfuse_on: FakeOtlpServer, mistral: FakeMistralServer, analyst, team
) -> None:
    mistral.reply(content=ANSWER, prompt_tokens=900, completion_tokens=40)

    request = _generated_request(analyst=analyst, team=team)
    tracing.flush()

    assert request.status == ApprovalRequest.Status.PENDING_REVIEW
    assert {r.path for r in langfuse_on.requests} == {TRACES_PATH}
    assert langfuse_on.requests[0].headers["x-langfuse-public-key"].startswith("pk-lf-test-")
    [root] = langfuse_on.spans_named("generate")
    [generation] = langfuse_on.spans_named("code-generation")
    assert generation.trace_id == root.trace_id == tracing.trace_id_for(request=request)
    assert generation.parent_span_id == root.span_id
    for span in (root, generation):
        assert span.attributes["user.id"] == str(analyst.pk)
        assert span.attributes["session.id"] == str(request.session_id)
        assert json.loads(span.attributes["langfuse.trace.metadata.request_id"]) == str(request.pk)
    attributes = generation.attributes
    assert attributes["langfuse.observation.type"] == "generation"
    assert attributes["langfuse.observation.model.name"] == "mistral-large-latest"
    prompt = json.loads(attributes["langfuse.observation.input"])
    assert prompt[-1] == {"role": "user", "content": "how many rows are in sales.csv?"}
    assert "Dataset 1: sales.csv" in prompt[0]["content"]
    assert attributes["langfuse.observation.output"] == request.code  # strings are sent as they are
    assert json.loads(attributes["langfuse.observation.usage_details"]) == {"input": 900, "output": 40}
    [policy] = langfuse_on.spans_named("policy-check")
    assert policy.trace_id == root.trace_id
    checked = json.loads(policy.attributes["langfuse.observation.output"])
    assert (checked["status"], checked["risk_level"]) == (request.status, request.risk_level)
    [span] = CostSpan.objects.filter(request=request)
    cost = json.loads(attributes["langfuse.observation.cost_details"])["total"]
    assert cost == pytest.approx(float(span.cost_usd)) and cost > 0


def test_a_failed_generation_is_an_error_observation(
    langfuse_on: FakeOtlpServer, mistral: FakeMistralServer, analyst, team
) -> None:
    mistral.reply(content="no code here")
    mistral.reply(content="still no code")

    request = _generated_request(analyst=analyst, team=team)
    tracing.flush()

    assert request.status == ApprovalRequest.Status.GENERATION_FAILED
    [generation] = langfuse_on.spans_named("code-generation")
    assert generation.attributes["langfuse.observation.level"] == "ERROR"
    assert (
        "even after being asked to correct it" in generation.attributes["langfuse.observation.status_message"]
    )


def test_execution_joins_the_request_trace_with_backend_duration_and_status(
    langfuse_on: FakeOtlpServer, analyst, reviewer, team
) -> None:
    request = _generated_request(analyst=analyst, team=team)  # offline generator: no Mistral key
    approval_request_approve(request=request, reviewer=reviewer)
    execution, _ = execution_start(request=request, user=analyst)

    execution = execution_run(execution_id=execution.pk)
    tracing.flush()

    assert execution.status == "succeeded", execution.error
    [generation] = langfuse_on.spans_named("code-generation")
    assert generation.attributes["langfuse.observation.model.name"] == "offline-rules-v1"
    [root] = langfuse_on.spans_named("execute")
    [run] = langfuse_on.spans_named("execution")
    assert run.trace_id == root.trace_id == generation.trace_id  # one trace per analysis request
    assert run.parent_span_id == root.span_id
    assert run.attributes["session.id"] == str(request.session_id)
    assert run.attributes["user.id"] == str(analyst.pk)
    metadata = "langfuse.observation.metadata."
    assert json.loads(run.attributes[metadata + "backend"]) == "local"
    assert json.loads(run.attributes[metadata + "status"]) == "succeeded"
    assert json.loads(run.attributes[metadata + "duration_ms"]) == execution.duration_ms
    assert run.end_ns > run.start_ns


def test_other_steps_can_add_spans_to_the_current_trace(langfuse_on: FakeOtlpServer, analyst, team) -> None:
    request = _generated_request(analyst=analyst, team=team)

    with tracing.request_trace(request=request, name="review"):
        with tracing.span("notify-reviewers", input={"reviewers": 3}) as step:
            step.update(output={"notified": 2})
    tracing.flush()

    [step] = langfuse_on.spans_named("notify-reviewers")
    assert step.trace_id == tracing.trace_id_for(request=request)
    assert json.loads(step.attributes["langfuse.observation.output"]) == {"notified": 2}
    assert step.attributes["session.id"] == str(request.session_id)
