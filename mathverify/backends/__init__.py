"""Generation backends behind one :class:`~mathverify.backends.base.Policy` protocol.

:func:`load_policy` picks a backend by name. Each backend module is imported only when
asked for, so choosing ``hf`` never imports vLLM and vice versa.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mathverify.backends.base import (
    FINISH_REASONS,
    Completion,
    Policy,
    StepCompletion,
    check_sampling,
    next_steps,
)
from mathverify.errors import MathverifyError


def _load_hf(path_or_name: str, **options: Any) -> Policy:
    from mathverify.backends.hf import HFPolicy

    return HFPolicy.load(path_or_name, **options)


def _load_vllm(path_or_name: str, **options: Any) -> Policy:
    from mathverify.backends.vllm import VLLMPolicy

    return VLLMPolicy.load(path_or_name, **options)


def _load_openai(model: str, **options: Any) -> Policy:
    from mathverify.backends.openai import OpenAIPolicy

    return OpenAIPolicy.connect(model, **options)


# backend name -> loader(path_or_name, **options). One line per backend.
BACKENDS: dict[str, Callable[..., Policy]] = {
    "hf": _load_hf,
    "vllm": _load_vllm,
    "openai": _load_openai,
}


def load_policy(backend: str, path_or_name: str, **options: Any) -> Policy:
    """Load a policy model with the named backend; ``options`` go to that backend's loader."""
    try:
        loader = BACKENDS[backend]
    except KeyError:
        raise MathverifyError(
            f"unknown backend {backend!r}; choose from {', '.join(sorted(BACKENDS))}"
        ) from None
    return loader(path_or_name, **options)


__all__ = [
    "BACKENDS",
    "FINISH_REASONS",
    "Completion",
    "Policy",
    "StepCompletion",
    "check_sampling",
    "load_policy",
    "next_steps",
]
