"""Code generation: a plain-language question plus dataset context in, one Python script out."""

from __future__ import annotations

from django.conf import settings

from .base import CodeGenerator, DatasetContext, GenerationError, GenerationInput, GenerationOutput, Turn

__all__ = [
    "CodeGenerator",
    "DatasetContext",
    "GenerationError",
    "GenerationInput",
    "GenerationOutput",
    "Turn",
    "get_generator",
]


def get_generator() -> CodeGenerator:
    """Mistral when an API key is configured, else the deterministic offline rules."""
    if settings.MISTRAL_API_KEY.strip():
        # Imported here so the offline path never loads the SDK.
        from .mistral import MistralGenerator

        return MistralGenerator.from_settings()
    from .offline import OfflineGenerator

    return OfflineGenerator()
