"""The Mistral provider, through the real `mistralai` SDK, against a local fake Mistral server.

Nothing in the SDK is mocked: requests go over HTTP to tests/fakes/mistral_server.py, which answers
with scripted bodies and status codes and records what it received. Retries use a tiny backoff;
where the wait itself matters, a recording `sleep` is passed in instead of waiting for real.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from analysis.llm import get_generator
from analysis.llm.answer import parse_answer
from analysis.llm.base import (
    CallUsage,
    DatasetContext,
    GenerationConfigurationError,
    GenerationError,
    GenerationInput,
    Revision,
    Turn,
)
from analysis.llm.extract import ExtractionError, extract_code
from analysis.llm.mistral import MistralGenerator, RetryPolicy
from tests.fakes.mistral_server import FakeMistralServer, ScriptedResponse

API_KEY = "test-key-5f2c9a"  # a made-up key; the fake server only accepts this one
MODEL = "mistral-large-latest"
FAST_RETRY = RetryPolicy(max_retries=3, initial_backoff_seconds=0.01, max_total_wait_seconds=0.5)

GOOD_CODE = """import pandas as pd

df = pd.read_csv("/data/sales.csv")
print(df.groupby("region")["revenue"].sum())
"""
GOOD_PLAN = "Adds up `revenue` for each `region` in sales.csv and prints the totals."
GOOD_ANSWER = json.dumps({"plan": GOOD_PLAN, "code": GOOD_CODE})

SALES = DatasetContext(
    name="sales.csv",
    path="/data/sales.csv",
    row_count=1200,
    columns=[
        {"name": "date", "dtype": "datetime64[ns]"},
        {"name": "region", "dtype": "object"},
        {"name": "revenue", "dtype": "float64"},
    ],
)
QUESTION = GenerationInput(query="total revenue by region", datasets=[SALES])


@pytest.fixture
def server() -> Iterator[FakeMistralServer]:
    with FakeMistralServer(api_key=API_KEY) as fake:
        yield fake


@pytest.fixture
def mistral_settings(settings: object, server: FakeMistralServer) -> object:
    settings.MISTRAL_API_KEY = API_KEY
    settings.MISTRAL_MODEL = MODEL
    settings.MISTRAL_SERVER_URL = server.url
    settings.MISTRAL_TIMEOUT_SECONDS = 2.0
    return settings


@pytest.fixture
def generator(mistral_settings: object) -> MistralGenerator:
    return MistralGenerator.from_settings(retry=FAST_RETRY)


def _messages(server: FakeMistralServer, index: int = -1) -> list[dict]:
    return server.requests[index].json["messages"]


# --- success -------------------------------------------------------------------------------------


def test_returns_the_code_and_counts_tokens(generator: MistralGenerator, server: FakeMistralServer) -> None:
    server.reply(content=GOOD_ANSWER, prompt_tokens=812, completion_tokens=64)

    output = generator.generate(QUESTION)

    assert output.code == GOOD_CODE
    assert output.plan == GOOD_PLAN
    assert output.clarification is None
    assert output.provider == "mistral"
    assert output.model == MODEL
    assert (output.input_tokens, output.output_tokens) == (812, 64)
    assert output.raw_text == GOOD_ANSWER


def test_request_carries_model_contract_and_dataset_columns(
    generator: MistralGenerator, server: FakeMistralServer
) -> None:
    server.reply(content=GOOD_ANSWER)

    generator.generate(QUESTION)

    [request] = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    body = request.json
    assert body["model"] == MODEL
    assert body["temperature"] == pytest.approx(0.1)
    assert body["response_format"] == {"type": "json_object"}  # Mistral's JSON mode
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    system = body["messages"][0]["content"]
    for fragment in (
        "/data/<file name>",
        "read-only",
        "pandas, numpy, matplotlib, scipy, seaborn, openpyxl, pyarrow",
        "no pip",
        "no network access",
        "/output",
        "leave the figures open",
        "last expression of the script a pandas DataFrame",
        '{"plan": "...", "code": "..."}',
        "one to four plain sentences",
        "in backticks",
        '{"clarification": {"understood"',
        "Dataset 1: sales.csv",
        "path: /data/sales.csv",
        "rows: 1,200",
        "- date: datetime64[ns]",
        "- region: object",
        "- revenue: float64",
        "sample rows: not shared",
    ):
        assert fragment in system, fragment
    assert body["messages"][-1] == {"role": "user", "content": "total revenue by region"}
    assert API_KEY not in request.text  # the key travels in the header only, never in the prompt


def test_sample_rows_are_sent_only_when_shared(
    generator: MistralGenerator, server: FakeMistralServer
) -> None:
    shared = DatasetContext(
        name="sales.csv",
        path="/data/sales.csv",
        row_count=2,
        columns=SALES.columns,
        sample_rows=[{"date": "2024-01-01", "region": "Nordland-7731", "revenue": 12.5}],
    )
    server.reply(content=GOOD_ANSWER)
    server.reply(content=GOOD_ANSWER)

    generator.generate(GenerationInput(query="q", datasets=[shared]))
    generator.generate(GenerationInput(query="q", datasets=[SALES]))

    with_samples, without = (_messages(server, i)[0]["content"] for i in (0, 1))
    assert '"region": "Nordland-7731"' in with_samples
    assert "Nordland-7731" not in without


def test_history_becomes_earlier_chat_turns(generator: MistralGenerator, server: FakeMistralServer) -> None:
    history = [Turn(query="how many rows?", code="print(len(df))", result_summary="1200 rows")]
    server.reply(content=GOOD_ANSWER)

    generator.generate(GenerationInput(query="and by region?", datasets=[SALES], history=history))

    messages = _messages(server)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"] == "how many rows?"
    assert "```python\nprint(len(df))\n```" in messages[2]["content"]
    assert "1200 rows" in messages[2]["content"]
    assert messages[3]["content"] == "and by region?"


def test_without_datasets_the_prompt_says_so(generator: MistralGenerator, server: FakeMistralServer) -> None:
    server.reply(content=GOOD_ANSWER)

    generator.generate(GenerationInput(query="total revenue by region"))

    assert "No dataset is selected" in _messages(server)[0]["content"]


def test_server_url_copied_with_v1_still_works(mistral_settings: object, server: FakeMistralServer) -> None:
    mistral_settings.MISTRAL_SERVER_URL = server.url + "/v1/"
    server.reply(content=GOOD_ANSWER)

    output = MistralGenerator.from_settings(retry=FAST_RETRY).generate(QUESTION)

    assert output.code == GOOD_CODE
    assert server.requests[0].path == "/v1/chat/completions"


def test_get_generator_picks_mistral_when_a_key_is_set(mistral_settings: object) -> None:
    generator = get_generator()

    assert isinstance(generator, MistralGenerator)
    assert generator.provider == "mistral"
    assert generator.model == MODEL
    assert API_KEY not in repr(generator)


# --- repair round --------------------------------------------------------------------------------


def test_answer_without_code_is_repaired_once_and_tokens_add_up(
    generator: MistralGenerator, server: FakeMistralServer
) -> None:
    server.reply(
        content="You could group by region and sum revenue.", prompt_tokens=500, completion_tokens=20
    )
    server.reply(content=GOOD_ANSWER, prompt_tokens=560, completion_tokens=70)

    output = generator.generate(QUESTION)

    assert output.code == GOOD_CODE
    assert (output.input_tokens, output.output_tokens) == (1060, 90)
    first, second = _messages(server, 0), _messages(server, 1)
    assert second[: len(first)] == first
    answered = second[len(first)]
    assert (answered["role"], answered["content"]) == (
        "assistant",
        "You could group by region and sum revenue.",
    )
    repair = second[len(first) + 1]
    assert repair["role"] == "user"
    assert "no ```python code block" in repair["content"]
    assert '{"plan": "...", "code": "..."}' in repair["content"]


def test_a_json_answer_without_a_plan_is_repaired(
    generator: MistralGenerator, server: FakeMistralServer
) -> None:
    server.reply(content=json.dumps({"code": GOOD_CODE}))
    server.reply(content=GOOD_ANSWER)

    output = generator.generate(QUESTION)

    assert (output.code, output.plan) == (GOOD_CODE, GOOD_PLAN)
    assert 'the JSON answer had no "plan"' in _messages(server, 1)[-1]["content"]


def test_a_malformed_json_answer_is_repaired(generator: MistralGenerator, server: FakeMistralServer) -> None:
    server.reply(content='{"plan": "Sums revenue.", "code": "print(1)"')  # cut short: not JSON
    server.reply(content=GOOD_ANSWER)

    output = generator.generate(QUESTION)

    assert output.code == GOOD_CODE
    assert len(server.requests) == 2
    assert "no ```python code block" in _messages(server, 1)[-1]["content"]


def test_a_clarification_instead_of_code_writes_no_code(
    generator: MistralGenerator, server: FakeMistralServer
) -> None:
    asked = {
        "understood": "a question about the weather",
        "missing": "sales.csv has no weather data",
        "examples": ["Total revenue by region", "Monthly revenue", "Top 3 regions by revenue", "A fourth"],
    }
    server.reply(content=json.dumps({"clarification": asked}))

    output = generator.generate(QUESTION)

    assert output.code == "" and output.plan == ""
    assert output.clarification is not None
    assert output.clarification.missing == "sales.csv has no weather data"
    assert output.clarification.examples == (
        "Total revenue by region",
        "Monthly revenue",
        "Top 3 regions by revenue",
    )
    assert len(server.requests) == 1


def test_each_call_is_reported_for_billing_also_when_both_fail(
    generator: MistralGenerator, server: FakeMistralServer
) -> None:
    server.reply(content="no code", prompt_tokens=500, completion_tokens=20)
    server.reply(content="still none", prompt_tokens=540, completion_tokens=25)

    with pytest.raises(GenerationError) as caught:
        generator.generate(QUESTION)

    assert caught.value.calls == [
        CallUsage(feature="generation", model=MODEL, input_tokens=500, output_tokens=20),
        CallUsage(feature="repair", model=MODEL, input_tokens=540, output_tokens=25),
    ]


def test_a_revision_ends_with_the_rejected_code_and_the_feedback(
    generator: MistralGenerator, server: FakeMistralServer
) -> None:
    server.reply(content=GOOD_ANSWER)
    revision = Revision(previous_code="print(df)", feedback="Plot it as bars.", version=3)

    generator.generate(GenerationInput(query="revenue by region", datasets=[SALES], revision=revision))

    messages = _messages(server)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[2]["content"] == "```python\nprint(df)\n```"
    assert "Plot it as bars." in messages[3]["content"]
    assert "version 3" in messages[3]["content"]


def test_syntax_error_twice_gives_up_with_the_reason(
    generator: MistralGenerator, server: FakeMistralServer
) -> None:
    broken = "```python\nprint('unclosed'\n```"
    server.reply(content=broken)
    server.reply(content=broken)

    with pytest.raises(
        GenerationError, match=r"even after being asked to correct it: .*syntax error on line"
    ):
        generator.generate(QUESTION)

    assert len(server.requests) == 2  # one repair round, no more
    assert "syntax error on line 1" in _messages(server, 1)[-1]["content"]


def test_cut_off_answer_says_so(generator: MistralGenerator, server: FakeMistralServer) -> None:
    cut = "```python\nimport pandas as pd\ndf = pd.read_csv("
    server.reply(content=cut, finish_reason="length")
    server.reply(content=cut, finish_reason="length")

    with pytest.raises(GenerationError, match="never closed .* hit the length limit"):
        generator.generate(QUESTION)


# --- HTTP errors, retries, timeouts --------------------------------------------------------------


def test_rejected_key_is_reported_without_retrying(
    mistral_settings: object, server: FakeMistralServer
) -> None:
    mistral_settings.MISTRAL_API_KEY = "wrong-key"

    with pytest.raises(GenerationError) as caught:
        MistralGenerator.from_settings(retry=FAST_RETRY).generate(QUESTION)

    assert str(caught.value) == "Mistral rejected the API key (check MISTRAL_API_KEY)."
    assert isinstance(caught.value, GenerationConfigurationError)
    assert caught.value.calls == []
    assert len(server.requests) == 1


def test_rate_limit_then_success(generator: MistralGenerator, server: FakeMistralServer) -> None:
    server.fail(status=429, headers={"Retry-After": "0"})
    server.reply(content=GOOD_ANSWER, prompt_tokens=10, completion_tokens=5)

    output = generator.generate(QUESTION)

    assert output.code == GOOD_CODE
    assert (output.input_tokens, output.output_tokens) == (10, 5)  # a refused call costs nothing
    assert len(server.requests) == 2


def test_retry_after_is_honoured(mistral_settings: object, server: FakeMistralServer) -> None:
    waits: list[float] = []
    # Record the waits instead of waiting.
    generator = MistralGenerator.from_settings(
        retry=RetryPolicy(max_total_wait_seconds=5.0), sleep=waits.append
    )
    server.fail(status=429, headers={"Retry-After": "1.5"})
    server.fail(status=503, headers={"retry-after-ms": "250"})
    server.reply(content=GOOD_ANSWER)

    generator.generate(QUESTION)

    assert waits == [1.5, 0.25]


def test_retry_after_beyond_the_budget_gives_up_at_once(
    mistral_settings: object, server: FakeMistralServer
) -> None:
    waits: list[float] = []
    generator = MistralGenerator.from_settings(
        retry=RetryPolicy(max_total_wait_seconds=5.0), sleep=waits.append
    )
    server.fail(status=429, headers={"Retry-After": "120"})

    with pytest.raises(GenerationError, match=r"rate limiting requests \(HTTP 429\)"):
        generator.generate(QUESTION)

    assert waits == []  # retrying before the server's time would only be refused again
    assert len(server.requests) == 1


def test_server_error_storm_gives_up_after_capped_retries(
    generator: MistralGenerator, server: FakeMistralServer
) -> None:
    server.always(ScriptedResponse(status=500))
    started = time.monotonic()

    with pytest.raises(GenerationError, match=r"server trouble \(HTTP 500\)"):
        generator.generate(QUESTION)

    assert len(server.requests) == FAST_RETRY.max_retries + 1
    assert time.monotonic() - started < 2


def test_backoff_grows_and_respects_the_total_cap(
    mistral_settings: object, server: FakeMistralServer
) -> None:
    waits: list[float] = []
    policy = RetryPolicy(max_retries=5, initial_backoff_seconds=1.0, max_total_wait_seconds=4.0)
    generator = MistralGenerator.from_settings(retry=policy, sleep=waits.append)
    server.always(ScriptedResponse(status=502))

    with pytest.raises(GenerationError, match=r"HTTP 502"):
        generator.generate(QUESTION)

    assert waits == [1.0, 2.0]  # the next wait (4.0) would exceed the 4-second budget
    assert len(server.requests) == 3


def test_bad_request_shows_mistral_message(generator: MistralGenerator, server: FakeMistralServer) -> None:
    server.fail(status=400, message="Invalid model: mistral-huge")

    with pytest.raises(GenerationError, match=r"^Mistral rejected the request \(HTTP 400\): Invalid model"):
        generator.generate(QUESTION)

    assert len(server.requests) == 1


def test_timeout_is_a_generation_error(mistral_settings: object, server: FakeMistralServer) -> None:
    mistral_settings.MISTRAL_TIMEOUT_SECONDS = 0.3
    server.hang()

    with pytest.raises(GenerationError, match=r"did not answer within 0.3 seconds"):
        MistralGenerator.from_settings(retry=FAST_RETRY).generate(QUESTION)


def test_unreachable_server_is_a_generation_error(mistral_settings: object) -> None:
    with FakeMistralServer() as gone:
        url = gone.url  # a port that was just released: nothing listens there any more
    mistral_settings.MISTRAL_SERVER_URL = url

    with pytest.raises(GenerationError, match="Could not reach Mistral"):
        MistralGenerator.from_settings(retry=FAST_RETRY).generate(QUESTION)


# --- extraction ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        json.dumps({"plan": "Counts rows.", "code": "x = 1\n"}),
        "```json\n" + json.dumps({"plan": "Counts rows.", "code": "x = 1"}) + "\n```",
        "Here it is: " + json.dumps({"plan": "Counts rows.", "code": "```python\nx = 1\n```"}),
        "Plan: Counts rows.\n\n```python\nx = 1\n```",  # the two-part form: a plan, then one block
    ],
)
def test_the_plan_and_the_code_are_read_from_any_reasonable_form(answer: str) -> None:
    parsed = parse_answer(answer)
    assert (parsed.plan, parsed.code, parsed.clarification) == ("Counts rows.", "x = 1\n", None)


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (json.dumps({"plan": "Counts rows."}), 'no "code"'),
        (json.dumps({"plan": "", "code": "x = 1"}), 'no "plan"'),
        (json.dumps({"plan": "Counts rows.", "code": "for x in y\n  pass"}), "syntax error on line 1"),
        (json.dumps({"clarification": {"understood": "a joke"}}), 'no "missing"'),
        ("```python\nx = 1\n```", "no plan"),
    ],
)
def test_an_incomplete_structured_answer_gets_a_readable_reason(answer: str, reason: str) -> None:
    with pytest.raises(ExtractionError, match=reason):
        parse_answer(answer)


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ("```python\nx = 1\n```", "x = 1\n"),
        ("Sure.\n\n```Python\nx = 1\nprint(x)\n```\nThat prints 1.", "x = 1\nprint(x)\n"),
        ("```py\nx = 1\n```", "x = 1\n"),
        ("```\nx = 1\n```", "x = 1\n"),  # an untagged fence, when it is the only block
        ("```python\nx = 1\n```\nOutput:\n```text\n1\n```", "x = 1\n"),
        ("````python\ns = '```'\n````", "s = '```'\n"),  # a longer fence may contain backticks
    ],
)
def test_extracts_the_single_python_block(answer: str, code: str) -> None:
    assert extract_code(answer) == code


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("", "the answer was empty"),
        ("Group by region and sum.", "no ```python code block"),
        ("```text\nhello\n```", "no ```python code block"),
        ("```python\nx = 1\n```\n```python\ny = 2\n```", "2 ```python code blocks; exactly one is needed"),
        ("```python\nx = 1\n", "never closed"),
        ("```python\n\n```", "was empty"),
        ("```python\nfor x in range(3)\n    print(x)\n```", "syntax error on line 1"),
    ],
)
def test_unusable_answers_get_a_readable_reason(answer: str, reason: str) -> None:
    with pytest.raises(ExtractionError) as caught:
        extract_code(answer)
    assert reason in str(caught.value)
    assert isinstance(caught.value, GenerationError)
