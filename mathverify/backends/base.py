"""The ``Policy`` protocol every generation backend implements, and step-wise continuation.

A backend turns prompts into completions; it knows nothing of problems, steps or grading.
Step-wise generation (what search needs) is a plain ``complete`` call that stops at the
step separator, wrapped by :func:`next_steps` into "one more step, finished or not".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

# finish_reason values: "stop" (hit a stop string, which is not included in text),
# "eos" (the model ended the sequence), "length" (max_tokens reached).
FINISH_REASONS = ("stop", "eos", "length")


@dataclass(frozen=True)
class Completion:
    text: str
    n_tokens: int
    finish_reason: str
    logprob: float | None = None  # cumulative log-probability of the generated tokens


@dataclass(frozen=True)
class SamplingConfig:
    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 256
    stop: tuple[str, ...] | None = None
    seed: int = 0


@runtime_checkable
class Policy(Protocol):
    """A text generator. ``complete`` returns ``n`` completions per prompt, in prompt order."""

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
