"""Code generation with Mistral's chat completions API, through the official `mistralai` SDK."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx2  # the HTTP client the mistralai SDK is built on; its exceptions surface unchanged
from django.conf import settings
from mistralai.client import Mistral, errors
from mistralai.client.models import TextChunk
from mistralai.client.utils import BackoffStrategy, RetryConfig

from .answer import Answer, parse_answer
from .base import CallUsage, GenerationConfigurationError, GenerationError, GenerationInput, GenerationOutput
from .extract import ExtractionError
from .prompt import build_messages, build_repair_messages

TEMPERATURE = 0.1
JSON_MODE = {"type": "json_object"}
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# A rejected key or a key without access: no retry helps, an administrator has to act.
CONFIGURATION_STATUSES = frozenset({401, 403})
# The SDK's own retries sleep for whatever Retry-After says, uncapped; we retry ourselves instead.
_NO_SDK_RETRIES = RetryConfig("none", BackoffStrategy(0, 0, 1.0, 0), retry_connection_errors=False)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries for 429/5xx: a few attempts and a hard cap on the total time spent waiting."""

    max_retries: int = 3
    initial_backoff_seconds: float = 0.5
    max_total_wait_seconds: float = 10.0


@dataclass(frozen=True)
class _Completion:
    text: str
    model: str
    input_tokens: int
    output_tokens: int
    finish_reason: str


class MistralGenerator:
    provider = "mistral"

    def __init__(
        self,
        *,
        api_key: str,
        model: str,
        server_url: str | None = None,
        timeout_seconds: float = 60.0,
        max_output_tokens: int = 2048,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._api_key = api_key
        self.model = model
        # Each call's answer is cut here (`max_tokens`): with the prompt's size, it bounds what a call costs.
        self.max_output_tokens = max_output_tokens
        self._server_url = _server_root(url=server_url)
        self._timeout_seconds = timeout_seconds
        self._retry = retry or RetryPolicy()
        self._sleep = sleep

    @classmethod
    def from_settings(
        cls, *, retry: RetryPolicy | None = None, sleep: Callable[[float], None] = time.sleep
    ) -> MistralGenerator:
        return cls(
            api_key=settings.MISTRAL_API_KEY.strip(),
            model=settings.MISTRAL_MODEL,
            server_url=settings.MISTRAL_SERVER_URL,
            timeout_seconds=float(settings.MISTRAL_TIMEOUT_SECONDS),
            max_output_tokens=settings.MISTRAL_MAX_OUTPUT_TOKENS,
            retry=retry,
            sleep=sleep,
        )

    def __repr__(self) -> str:  # never show the key in logs or tracebacks
        return f"MistralGenerator(model={self.model!r}, server_url={self._server_url!r})"

    def generate(self, inp: GenerationInput) -> GenerationOutput:
        completions: list[_Completion] = []
        try:
            return self._generate(inp=inp, completions=completions)
        except GenerationError as error:
            # Calls that answered are billed even when no usable code came out of them.
            error.calls = _usages(completions=completions)
            raise

    def _generate(self, *, inp: GenerationInput, completions: list[_Completion]) -> GenerationOutput:
        messages = build_messages(inp=inp)
        with self._client() as client:
            first = self._complete(client=client, messages=messages)
            completions.append(first)
            try:
                return self._output(answer=parse_answer(first.text), completions=completions)
            except ExtractionError as problem:
                reason = _reason(problem=problem, completion=first)
            # One repair round: show the model its answer and what was wrong with it.
            repair = build_repair_messages(messages=messages, answer=first.text, reason=reason)
            second = self._complete(client=client, messages=repair)
            completions.append(second)
            try:
                return self._output(answer=parse_answer(second.text), completions=completions)
            except ExtractionError as problem:
                raise GenerationError(
                    "Mistral did not return usable code, even after being asked to correct it: "
                    f"{_reason(problem=problem, completion=second)}."
                ) from problem

    # --- one chat completion, with bounded retries -----------------------------------------------
    def _client(self) -> Mistral:
        return Mistral(
            api_key=self._api_key,
            server_url=self._server_url,
            timeout_ms=max(1, int(self._timeout_seconds * 1000)),
            retry_config=_NO_SDK_RETRIES,
        )

    def _complete(self, *, client: Mistral, messages: list[dict[str, str]]) -> _Completion:
        waited = 0.0
        for attempt in range(self._retry.max_retries + 1):
            try:
                response = client.chat.complete(
                    model=self.model,
                    messages=messages,
                    temperature=TEMPERATURE,
                    response_format=JSON_MODE,  # the plan and the code as one JSON object
                    max_tokens=self.max_output_tokens,
                )
            except errors.ResponseValidationError as error:
                raise GenerationError("Mistral sent a response that could not be read; try again.") from error
            except errors.MistralError as error:
                delay = self._retry_delay(error=error, attempt=attempt, waited=waited)
                if delay is None:
                    raise _status_error(error=error, model=self.model) from error
                self._sleep(delay)
                waited += delay
                continue
            except httpx2.TimeoutException as error:
                raise GenerationError(
                    f"Mistral did not answer within {self._timeout_seconds:g} seconds; try again later "
                    "(or raise MISTRAL_TIMEOUT_SECONDS)."
                ) from error
            except (httpx2.TransportError, errors.NoResponseError) as error:
                raise GenerationError(
                    "Could not reach Mistral (network error); check the connection or MISTRAL_SERVER_URL."
                ) from error
            return _completion(response=response, requested_model=self.model)
        raise AssertionError("unreachable: the last attempt either returns or raises")

    def _retry_delay(self, *, error: errors.MistralError, attempt: int, waited: float) -> float | None:
        """Seconds to wait before retrying, or None when this error should not be retried."""
        if error.status_code not in RETRYABLE_STATUSES or attempt >= self._retry.max_retries:
            return None
        backoff = self._retry.initial_backoff_seconds * (2**attempt)
        delay = _retry_after_seconds(headers=error.headers)
        # Honour Retry-After; if it asks for more than the remaining budget, give up now
        # rather than retry early (which would only be refused again).
        delay = backoff if delay is None else delay
        if waited + delay > self._retry.max_total_wait_seconds:
            return None
        return delay

    def _output(self, *, answer: Answer, completions: list[_Completion]) -> GenerationOutput:
        last = completions[-1]
        return GenerationOutput(
            code=answer.code,
            plan=answer.plan,
            clarification=answer.clarification,
            provider=self.provider,
            model=last.model,
            # Both calls are billed when a repair round was needed.
            input_tokens=sum(c.input_tokens for c in completions),
            output_tokens=sum(c.output_tokens for c in completions),
            raw_text=last.text,
            calls=_usages(completions=completions),
        )


def _usages(*, completions: list[_Completion]) -> list[CallUsage]:
    """The first call is billed as generation, the repair round as repair."""
    return [
        CallUsage(
            feature="generation" if number == 0 else "repair",
            model=c.model,
            input_tokens=c.input_tokens,
            output_tokens=c.output_tokens,
        )
        for number, c in enumerate(completions)
    ]


def _server_root(*, url: str | None) -> str | None:
    """None for the SDK default; the SDK adds /v1/... itself, so a copied ".../v1" is trimmed."""
    if not url or not url.strip():
        return None
    root = url.strip().rstrip("/")
    return root.removesuffix("/v1")


def _completion(*, response: object, requested_model: str) -> _Completion:
    choices = getattr(response, "choices", None) or []
    message = choices[0].message if choices else None
    usage = getattr(response, "usage", None)
    return _Completion(
        text=_message_text(content=getattr(message, "content", None)),
        model=getattr(response, "model", None) or requested_model,
        input_tokens=(getattr(usage, "prompt_tokens", 0) or 0),
        output_tokens=(getattr(usage, "completion_tokens", 0) or 0),
        finish_reason=str(choices[0].finish_reason) if choices else "",
    )


def _message_text(*, content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        # Reasoning models answer in chunks; only the text chunks carry the answer.
        return "".join(chunk.text for chunk in content if isinstance(chunk, TextChunk))
    return ""


def _reason(*, problem: ExtractionError, completion: _Completion) -> str:
    reason = str(problem)
    if completion.finish_reason in ("length", "model_length"):
        reason += " (the answer hit the length limit)"
    return reason


def _retry_after_seconds(*, headers: object) -> float | None:
    """Retry-After as seconds or an HTTP date, or Mistral's retry-after-ms; None when absent."""
    get = getattr(headers, "get", None)
    if get is None:
        return None
    millis = get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _status_error(*, error: errors.MistralError, model: str) -> GenerationError:
    message = _status_message(error=error, model=model)
    if error.status_code in CONFIGURATION_STATUSES:
        return GenerationConfigurationError(message)
    return GenerationError(message)


def _status_message(*, error: errors.MistralError, model: str) -> str:
    status = error.status_code
    detail = _error_detail(body=error.body)
    if status == 401:
        return "Mistral rejected the API key (check MISTRAL_API_KEY)."
    if status == 403:
        return f"Mistral refused the request for this API key (check that it may use the model {model!r})."
    if status == 404:
        return f"Mistral answered 404 Not Found (check MISTRAL_MODEL {model!r} and MISTRAL_SERVER_URL)."
    if status == 429:
        return "Mistral is rate limiting requests (HTTP 429), even after retrying; try again shortly."
    if status >= 500:
        return f"Mistral is having server trouble (HTTP {status}), even after retrying; try again later."
    return f"Mistral rejected the request (HTTP {status}){': ' + detail if detail else ''}."


def _error_detail(*, body: str) -> str:
    """The human part of an error body (`message` or `detail`), kept short."""
    try:
        payload = json.loads(body)
    except (TypeError, ValueError):
        return ""
    if not isinstance(payload, dict):
        return ""
    detail = payload.get("message") or payload.get("detail") or ""
    if not isinstance(detail, str):
        detail = json.dumps(detail, default=str)
    return detail[:200]
