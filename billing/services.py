from __future__ import annotations

import logging
from decimal import Decimal

from .models import CostSpan
from .prices import (
    ESTIMATED_OUTPUT_TOKENS,
    ESTIMATED_PROMPT_OVERHEAD_TOKENS,
    LLM_PRICES_PER_MTOK,
    SANDBOX_USD_PER_GIB_SECOND,
    SANDBOX_USD_PER_VCPU_SECOND,
)

logger = logging.getLogger(__name__)
MILLION = Decimal(1_000_000)


def llm_cost(*, model: str, input_tokens: int, output_tokens: int) -> Decimal:
    price_in, price_out = LLM_PRICES_PER_MTOK.get(model, LLM_PRICES_PER_MTOK["mistral-large-latest"])
    return (price_in * input_tokens + price_out * output_tokens) / MILLION


def sandbox_cost(*, seconds: float, memory_mb: int, vcpus: int = 1) -> Decimal:
    secs = Decimal(str(round(seconds, 3)))
    gib = Decimal(memory_mb) / Decimal(1024)
    return secs * (SANDBOX_USD_PER_VCPU_SECOND * vcpus + SANDBOX_USD_PER_GIB_SECOND * gib)


def request_cost_estimate(*, query: str, model: str, wall_seconds: int, memory_mb: int) -> Decimal:
    """What a request may cost at most: one generation plus a full-length run."""
    prompt_tokens = ESTIMATED_PROMPT_OVERHEAD_TOKENS + len(query) // 4
    generation = llm_cost(model=model, input_tokens=prompt_tokens, output_tokens=ESTIMATED_OUTPUT_TOKENS)
    return generation + sandbox_cost(seconds=wall_seconds, memory_mb=memory_mb)


def cost_span_record_llm(
    *, request, user, provider: str, model: str, input_tokens: int, output_tokens: int, feature: str
) -> CostSpan:
    if model not in LLM_PRICES_PER_MTOK:
        # Never silently free: price an unknown model like the dearest one and say so.
        logger.warning("No price for model %s; priced as mistral-large-latest", model)
    return CostSpan.objects.create(
        provider=provider,
        model=model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=llm_cost(model=model, input_tokens=input_tokens, output_tokens=output_tokens),
        tenant=request.team,
        user=user,
        feature=feature,
        request=request,
    )


def cost_span_record_execution(*, request, backend: str, seconds: float, memory_mb: int) -> CostSpan:
    return CostSpan.objects.create(
        provider=backend,
        model="sandbox",
        seconds=seconds,
        cost_usd=sandbox_cost(seconds=seconds, memory_mb=memory_mb),
        tenant=request.team,
        user=request.user,
        feature=CostSpan.Feature.EXECUTION,
        request=request,
    )
