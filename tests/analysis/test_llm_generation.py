"""request_generate_code with the real mistralai SDK against the fake Mistral server: what is billed,
what the analyst reads, and what administrators are told."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from analysis.services.asking import analysis_submit
from analysis.services.generation import GENERATION_MISCONFIGURED_MESSAGE, request_generate_code
from approvals.models import ApprovalRequest
from audit.models import AuditEvent
from billing.models import CostSpan
from tests.factories import demo_dataset
from tests.fakes.mistral_server import FakeMistralServer, ScriptedResponse

KEY = "test-key-generation"
GOOD = json.dumps({"plan": "Prints ok.", "code": "print('ok')"})


@pytest.fixture
def mistral(settings) -> Iterator[FakeMistralServer]:
    with FakeMistralServer(api_key=KEY) as fake:
        settings.MISTRAL_API_KEY = KEY
        settings.MISTRAL_MODEL = "mistral-large-latest"
        settings.MISTRAL_SERVER_URL = fake.url
        settings.MISTRAL_TIMEOUT_SECONDS = 0.5
        yield fake


@pytest.fixture
def asked(analyst, team) -> ApprovalRequest:
    demo_dataset(team)
    return analysis_submit(user=analyst, query="total revenue by region in sales.csv")


def _spans(request: ApprovalRequest) -> list[tuple[str, int, int]]:
    spans = CostSpan.objects.filter(request=request, provider="mistral")
    return sorted((s.feature, s.input_tokens, s.output_tokens) for s in spans)  # generation < repair


def test_a_success_is_billed_with_the_tokens_mistral_reports(mistral: FakeMistralServer, asked) -> None:
    mistral.reply(content=GOOD, prompt_tokens=700, completion_tokens=30)

    request = request_generate_code(request_id=asked.pk)

    assert request.status == ApprovalRequest.Status.PENDING_REVIEW
    assert _spans(request) == [("generation", 700, 30)]
    assert CostSpan.objects.get(request=request, provider="mistral").cost_usd > 0


def test_a_repair_round_is_billed_as_its_own_span(mistral: FakeMistralServer, asked) -> None:
    mistral.reply(content="Sum revenue per region.", prompt_tokens=700, completion_tokens=10)
    mistral.reply(content=GOOD, prompt_tokens=760, completion_tokens=30)

    request = request_generate_code(request_id=asked.pk)

    assert request.status == ApprovalRequest.Status.PENDING_REVIEW
    assert _spans(request) == [("generation", 700, 10), ("repair", 760, 30)]


def test_when_both_calls_fail_both_are_still_billed(mistral: FakeMistralServer, asked) -> None:
    mistral.reply(content="```python\nprint('x'\n```", prompt_tokens=700, completion_tokens=12)
    mistral.reply(content="```python\nprint('y'\n```", prompt_tokens=780, completion_tokens=12)

    request = request_generate_code(request_id=asked.pk)

    assert request.status == ApprovalRequest.Status.GENERATION_FAILED
    assert "syntax error on line 1" in request.generation_error
    assert _spans(request) == [("generation", 700, 12), ("repair", 780, 12)]


def test_a_bad_key_is_a_configuration_error_for_admins(
    settings, mistral: FakeMistralServer, asked, caplog
) -> None:
    settings.MISTRAL_API_KEY = "a-wrong-key"

    with caplog.at_level(logging.ERROR, logger="analysis.services"):
        request = request_generate_code(request_id=asked.pk)

    assert request.status == ApprovalRequest.Status.GENERATION_FAILED
    assert request.generation_error == GENERATION_MISCONFIGURED_MESSAGE  # neutral for the analyst
    assert "MISTRAL_API_KEY" not in request.generation_error
    [event] = AuditEvent.objects.filter(action="generation.misconfigured", target_id=str(request.pk))
    assert event.details["reason"] == "Mistral rejected the API key (check MISTRAL_API_KEY)."
    assert any(r.levelno == logging.ERROR and "MISTRAL_API_KEY" in r.getMessage() for r in caplog.records)
    assert len(mistral.requests) == 1  # not retried
    assert _spans(request) == []  # a refused call is not billed by Mistral


def test_a_rate_limit_is_retried_and_then_succeeds(mistral: FakeMistralServer, asked) -> None:
    mistral.fail(status=429, headers={"Retry-After": "0"})
    mistral.reply(content=GOOD, prompt_tokens=10, completion_tokens=5)

    request = request_generate_code(request_id=asked.pk)

    assert request.status == ApprovalRequest.Status.PENDING_REVIEW
    assert len(mistral.requests) == 2
    assert _spans(request) == [("generation", 10, 5)]


def test_exhausted_retries_fail_with_a_reason_the_analyst_can_read(mistral: FakeMistralServer, asked) -> None:
    mistral.always(ScriptedResponse(status=503, headers={"Retry-After": "0"}))

    request = request_generate_code(request_id=asked.pk)

    assert request.status == ApprovalRequest.Status.GENERATION_FAILED
    assert request.generation_error == (
        "Mistral is having server trouble (HTTP 503), even after retrying; try again later."
    )


def test_a_timeout_fails_the_request_with_a_reason(mistral: FakeMistralServer, asked) -> None:
    mistral.hang()

    request = request_generate_code(request_id=asked.pk)

    assert request.status == ApprovalRequest.Status.GENERATION_FAILED
    assert "did not answer within 0.5 seconds" in request.generation_error


def test_sample_rows_reach_the_model_only_when_the_dataset_allows_it(
    mistral: FakeMistralServer, asked
) -> None:
    dataset = asked.datasets.get()
    first_row = dataset.file.open("rb").read().decode().splitlines()[1].split(",")
    mistral.reply(content=GOOD)
    request_generate_code(request_id=asked.pk)
    dataset.allow_sample_sharing = True
    dataset.save()
    shared = analysis_submit(user=asked.user, query="again, sales.csv")
    mistral.reply(content=GOOD)
    request_generate_code(request_id=shared.pk)

    private, public = (r.json["messages"][0]["content"] for r in mistral.requests)
    assert "sample rows: not shared" in private
    assert first_row[4] not in private  # the first row's revenue figure
    assert f'"revenue": "{first_row[4]}"' in public
