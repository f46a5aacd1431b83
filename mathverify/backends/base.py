"""The ``Policy`` protocol every generation backend implements, and step-wise continuation.

A backend turns prompts into completions; it knows nothing of problems, steps or grading.
Step-wise generation (what search needs) is a plain ``complete`` call that stops at the
step separator, wrapped by :func:`next_steps` into "one more step, finished or not".

Determinism contract: a backend seeds its sampler from ``seed`` at the start of every
``complete`` call, so the same prompts with the same options give the same completions
(on the same hardware and library versions). Sampled results may depend on the whole
call, not only on one prompt: which prompts share a batch, and in what order, decides
which random numbers each row draws. Callers that want results independent of how work is
split (for example across ``--resume`` restarts) must keep the calls themselves fixed;
:mod:`mathverify.generation` does so by cutting problems into fixed chunks, each with its
own derived seed. A backend may reuse work across calls (the hf backend keeps the previous
call's prompt keys and values): a call then equals a fresh one up to float rounding in its
log-probabilities, and so its samples can differ only where two tokens tie to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from mathverify.errors import MathverifyError

# finish_reason values: "stop" (hit a stop string, which is not included in text),
# "eos" (the model ended the sequence), "length" (max_tokens reached).
FINISH_REASONS = ("stop", "eos", "length")


@dataclass(frozen=True)
class Completion:
    """One generated continuation of a prompt.

    ``text`` excludes the stop string and the end-of-sequence token; ``n_tokens`` counts
    the generated tokens up to and including them. ``logprob`` is the sum of the model's
    own log-probabilities (before temperature or top-p) of those ``n_tokens`` tokens.
    """

    text: str
    n_tokens: int
    finish_reason: str
    logprob: float | None = None


def check_sampling(*, n: int, temperature: float, top_p: float, max_tokens: int) -> None:
    """Refuse sampling options no backend can honour, with a message naming the option."""
    if n < 1:
        raise MathverifyError(f"n must be at least 1, got {n}")
    if temperature < 0:
        raise MathverifyError(f"temperature must be >= 0 (0 means greedy), got {temperature}")
    if not 0 < top_p <= 1:
        raise MathverifyError(f"top_p must be in (0, 1], got {top_p}")
    if max_tokens < 1:
        raise MathverifyError(f"max_tokens must be at least 1, got {max_tokens}")


def stop_strings(stop: list[str] | None) -> list[str]:
    """The caller's stop strings, empty ones dropped and repeats removed, in order."""
    return list(dict.fromkeys(s for s in (stop or []) if s))


@runtime_checkable
class Policy(Protocol):
    """A text generator. ``complete`` returns ``n`` completions per prompt, in prompt order.

    ``temperature == 0`` means greedy decoding (then the ``n`` completions are equal);
    ``stop`` strings end a completion at their first occurrence in the generated text.
    """

    name: str

    def complete(
        self,
        prompts: list[str],
        *,
        n: int = 1,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_tokens: int = 256,
        stop: list[str] | None = None,
        seed: int = 0,
    ) -> list[list[Completion]]: ...


@dataclass(frozen=True)
class StepCompletion:
    """One proposed next step: its text, whether the solution ended with it, and its cost."""

    step: str
    finished: bool
    n_tokens: int
    logprob: float | None
    finish_reason: str


def policy_settings(policy: Policy) -> dict[str, Any]:
    """The engine settings a policy reports (``settings()``), or ``{}`` if it has none.

    Recorded beside generated solutions so a record says how it was made (dtype, device,
    server, engine version); a settings method is optional, not part of :class:`Policy`.
    """
    settings = getattr(policy, "settings", None)
    return dict(settings()) if callable(settings) else {}


def next_steps(
    policy: Policy,
    prefixes: list[str],
    *,
    separator: str,
    n: int = 1,
    temperature: float = 0.0,
    top_p: float = 1.0,
    max_tokens: int = 256,
    seed: int = 0,
) -> list[list[StepCompletion]]:
    """Continue each prefix by one step (``n`` samples each), stopping at ``separator``.

    A step is finished when the model ended the sequence or ran out of tokens; a step that
    stopped at the separator leaves the solution open for another step.
    """
    outputs = policy.complete(
        prefixes,
        n=n,
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        stop=[separator],
        seed=seed,
    )
    return [
        [
            StepCompletion(
                step=completion.text.strip(),
                finished=completion.finish_reason != "stop",
                n_tokens=completion.n_tokens,
                logprob=completion.logprob,
                finish_reason=completion.finish_reason,
            )
            for completion in per_prompt
        ]
        for per_prompt in outputs
    ]
