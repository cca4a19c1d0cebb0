"""Langfuse tracing: one trace per analysis request, off unless both Langfuse keys are set.

The trace id is derived from the request id, so the generate worker (the generation observation)
and, later, the execute worker (the execution span) add to the same trace. Every observation carries
the asker's user id, the session id and the request id (`propagate_attributes`). Without keys every
helper here yields a no-op handle: nothing is sent, nothing can fail.

Other code adds its own steps with `span(...)`, inside whatever trace is current:

    with tracing.span("policy-check", input={"rules": 12}) as step:
        ...
        step.update(output={"findings": 0})
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

TRACE_NAME = "analysis-request"

_clients: dict[tuple[str, str, str], Any] = {}
_clients_lock = threading.Lock()


class _NoOp:
    """Stands in for an observation when tracing is off."""

    def update(self, **_fields: Any) -> None:
        return None


NOOP = _NoOp()


def enabled() -> bool:
    return bool(settings.LANGFUSE_PUBLIC_KEY.strip() and settings.LANGFUSE_SECRET_KEY.strip())


def get_client():
    """The Langfuse client for the configured keys, or None when tracing is off."""
    if not enabled():
        return None
    key = (
        settings.LANGFUSE_PUBLIC_KEY.strip(),
        settings.LANGFUSE_SECRET_KEY.strip(),
        settings.LANGFUSE_BASE_URL.strip().rstrip("/"),
    )
    with _clients_lock:
        if key not in _clients:
            _clients[key] = _new_client(public_key=key[0], secret_key=key[1], base_url=key[2])
        return _clients[key]


def _new_client(*, public_key: str, secret_key: str, base_url: str):
    # Imported here so a deployment without tracing never loads the SDK and OpenTelemetry.
    from langfuse import Langfuse
    from opentelemetry.sdk.trace import TracerProvider

    # A provider of our own: Langfuse never becomes the process-wide OpenTelemetry provider.
    return Langfuse(
        public_key=public_key, secret_key=secret_key, base_url=base_url, tracer_provider=TracerProvider()
    )


def flush() -> None:
    """Send what is buffered now (end of a worker task, or a test)."""
    for client in list(_clients.values()):
        try:
            client.flush()
        except Exception:  # tracing must never break the work it observes
            logger.warning("Langfuse flush failed", exc_info=True)


def trace_id_for(*, request) -> str:
    from langfuse import Langfuse

    return Langfuse.create_trace_id(seed=str(request.pk))


@contextmanager
def request_trace(*, request, name: str) -> Iterator[Any]:
    """Open (or continue) the request's trace with user, session and request id on every observation."""
    client = get_client()
    if client is None:
        yield NOOP
        return
    from langfuse import propagate_attributes

    request_id = str(request.pk)
    with (
        client.start_as_current_observation(
            trace_context={"trace_id": trace_id_for(request=request)},
            name=name,
            as_type="span",
            metadata={"request_id": request_id},
        ) as root,
        propagate_attributes(
            user_id=str(request.user_id),
            session_id=str(request.session_id),
            metadata={"request_id": request_id},
            trace_name=TRACE_NAME,
        ),
    ):
        yield root


@contextmanager
def span(name: str, *, input: Any = None, metadata: dict | None = None) -> Iterator[Any]:
    """A step inside the current trace (e.g. the policy check); a no-op without keys."""
    client = get_client()
    if client is None:
        yield NOOP
        return
    with client.start_as_current_observation(
        name=name, as_type="span", input=input, metadata=metadata
    ) as observation:
        yield observation


@contextmanager
def generation(name: str, *, model: str, input: Any, provider: str) -> Iterator[Any]:
    """The LLM call(s): update it with output, usage_details and cost_details when they are known."""
    client = get_client()
    if client is None:
        yield NOOP
        return
    with client.start_as_current_observation(
        name=name, as_type="generation", model=model, input=input, metadata={"provider": provider}
    ) as observation:
        yield observation


@contextmanager
def execution_span(*, request, backend: str) -> Iterator[Any]:
    """The sandbox run of a request, in the request's trace; update it with status and duration."""
    with (
        request_trace(request=request, name="execute"),
        span("execution", metadata={"backend": backend}) as step,
    ):
        yield step


def execution_span_finish(*, span: Any, status: str, duration_ms: int) -> None:
    failed = status != "succeeded"
    span.update(
        output={"status": status, "duration_ms": duration_ms},
        metadata={"status": status, "duration_ms": duration_ms},
        level="ERROR" if failed else "DEFAULT",
        status_message=f"execution {status}" if failed else None,
    )


def shutdown() -> None:
    """Flush and close every client (worker shutdown, tests); the next use starts afresh."""
    with _clients_lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        try:
            client.shutdown()
        except Exception:
            logger.warning("Langfuse shutdown failed", exc_info=True)


def policy_span_finish(*, span: Any, request) -> None:
    """What the code policy decided about the generated code (approvals.policy runs it)."""
    span.update(
        output={
            "status": request.status,
            "risk_level": request.risk_level,
            "findings": [finding.get("rule") for finding in request.findings],
        },
        level="WARNING" if request.status == "policy_blocked" else "DEFAULT",
    )
