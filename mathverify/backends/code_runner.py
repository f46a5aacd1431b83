"""Code-interpreter steps for any policy: a :class:`Policy` wrapper that runs the code it writes.

:class:`ReactPolicy` wraps a backend (hf, vllm, openai, or a test double) and keeps the
:class:`~mathverify.backends.base.Policy` protocol, so generation, rollout labeling and
search (SBS, MCTS) get code steps without knowing about them (``--step-format react``).
One ``complete`` call becomes a loop of backend calls:

1. the backend generates with one more stop string, ``OUTPUT_FENCE`` (the MARIO / AlphaMath
   convention: a policy trained on the format writes `````output`` right after its code);
2. a completion that stopped with a closed python block not yet followed by an output block
   (:func:`mathverify.code_steps.pending_code`) gets the block run in the sandbox, with the code
   of earlier steps (in the prompt and in this completion) replayed first, and the output
   appended as a fenced ``output`` block;
3. the completion continues from there, in the same step, until it stops again: at the
   caller's stop strings (the step separator in step-wise search), the end of sequence, or
   its token budget. A policy in the MARIO format ends the step right after the output; the
   synthetic task's code variant writes the rewritten expression after it.

What a completion records: its text holds the code, the observation (the sandbox's failure
reason on its last line: ``TimeoutError: ...``, ``killed by signal ...``,
``sandbox.SandboxRefused: ...``), and what followed (a block that ends the completion at the
end of sequence or the budget still runs: its output is appended, nothing follows); ``n_tokens`` and ``logprob`` count the
generated tokens only (not the observations); ``finish_reason`` is that of the last backend
call. Past ``max_runs`` blocks in one completion, the next block is not run: its output
block says so and the completion ends (``length``). :class:`ReactStats` counts runs by
sandbox status for the command's summary.

Token budget: a continuation may generate at most the tokens left of ``max_tokens``. Rows
of one round are grouped by their budget rounded down to a multiple of ``BUDGET_STEP``, one
backend call per group, so a row never exceeds ``max_tokens`` and may stop (``length``)
up to ``BUDGET_STEP - 1`` tokens early.

The step separator never appears inside a code step, so splitting a solution at it keeps each
code step whole: inside a python block and in an observation it becomes a newline (for
Python a blank line is never significant outside string literals). In step-wise use, a
separator the model writes inside an open python block does not end the step: generation
goes on after a newline. A completion that stops at `````output`` without a python block
before it ends there (``finish_reason`` ``stop``).

Determinism: round ``r``'s backend calls get seeds derived from the call's seed, ``r`` and
the group, so the same call gives the same completions. Not for deciding *what* code is
safe to run: that is :mod:`mathverify.sandbox`'s job, with its documented limits.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from mathverify.backends.base import Completion, Policy, check_sampling, policy_settings
from mathverify.code_steps import (
    OUTPUT_FENCE,
    history_code,
    last_code_start,
    observation_text,
    open_code_start,
    pending_code,
    program_with_history,
)
from mathverify.errors import MathverifyError
from mathverify.sandbox import Sandbox, SandboxConfig, SandboxResult

__all__ = [
    "BUDGET_STEP",
    "STEP_FORMATS",
    "ReactConfig",
    "ReactPolicy",
    "ReactStats",
    "wrap_policy",
]

STEP_FORMATS = ("plain", "react")
BUDGET_STEP = 16


@dataclass(frozen=True)
class ReactConfig:
    """How code steps run; the ``help`` metadata is the CLI's help text."""

    sandbox: SandboxConfig = field(
        default_factory=SandboxConfig,
        metadata={"help": "Sandbox limits for each code block (timeout, memory, ...)."},
    )
    max_runs: int = field(
        default=8, metadata={"help": "Most code blocks run per completion (per step in search)."}
    )
    max_output_chars: int = field(
        default=1000, metadata={"help": "Observation length kept (head and tail)."}
    )
    workers: int = field(default=2, metadata={"help": "Code blocks run in parallel."})

    def __post_init__(self) -> None:
        if self.max_runs < 1:
            raise MathverifyError(f"react: max_runs must be at least 1, got {self.max_runs}")
        if self.max_output_chars < 10:
            raise MathverifyError(
                f"react: max_output_chars must be at least 10, got {self.max_output_chars}"
            )
        if self.workers < 1:
            raise MathverifyError(f"react: workers must be at least 1, got {self.workers}")


@dataclass
class ReactStats:
    """What the wrapper did so far: code blocks run (by sandbox status) and backend calls."""

    runs: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    backend_calls: int = 0
    not_run: int = 0  # blocks left unrun because a completion reached max_runs

    def summary(self) -> str:
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items())) or "none"
        extra = f", {self.not_run} over --max-code-runs not run" if self.not_run else ""
        return (
            f"react: {self.runs} code blocks run ({statuses}){extra}, "
            f"{self.backend_calls} backend calls"
        )


@dataclass(eq=False)
class _Row:
    """One completion being built: generated text so far and its cost."""

    prompt: str
    text: str = ""
    n_tokens: int = 0
    logprob: float | None = 0.0
    finish_reason: str = "stop"
    runs: int = 0

    def extend(self, piece: Completion) -> None:
        self.text += piece.text
        self.n_tokens += piece.n_tokens
        self.logprob = (
            None if self.logprob is None or piece.logprob is None else self.logprob + piece.logprob
        )
        self.finish_reason = piece.finish_reason

    def completion(self) -> Completion:
        return Completion(self.text, self.n_tokens, self.finish_reason, self.logprob)


def _round_seed(seed: int, round_index: int, group: int) -> int:
    return random.Random(f"react/{seed}/{round_index}/{group}").getrandbits(63)


def _budget_bucket(left: int) -> int:
    """The budget a continuation call gets: ``left`` rounded down to a multiple of BUDGET_STEP."""
    return left if left < BUDGET_STEP else left - left % BUDGET_STEP


class ReactPolicy:
    """A policy whose completions run their python blocks and read the output (module doc)."""

    def __init__(
        self,
        policy: Policy,
        *,
        separator: str,
        config: ReactConfig | None = None,
        sandbox: Sandbox | None = None,
    ) -> None:
        if not separator or separator == "\n":
            raise MathverifyError(
                "--step-format react needs a step separator other than a single newline "
                "(a code block spans several lines)"
            )
        self.policy = policy
        self.name = policy.name
        self.separator = separator
        self.config = config if config is not None else ReactConfig()
        self.sandbox = sandbox if sandbox is not None else Sandbox(self.config.sandbox)
        self.stats = ReactStats()

    def settings(self) -> dict[str, Any]:
        """The wrapped policy's settings, and that its code blocks run in the sandbox."""
        return {**policy_settings(self.policy), "step_format": "react"}

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
    ) -> list[list[Completion]]:
        check_sampling(n=n, temperature=temperature, top_p=top_p, max_tokens=max_tokens)
        stops = list(dict.fromkeys([*(stop or []), OUTPUT_FENCE]))
        options = {"temperature": temperature, "top_p": top_p, "stop": stops}
        first = self._call(prompts, n=n, max_tokens=max_tokens, seed=seed, **options)
        rows: list[list[_Row]] = []
        for prompt, completions in zip(prompts, first, strict=True):
            if len(completions) != n:
                raise MathverifyError(
                    f"policy {self.name}: returned {len(completions)} samples, expected {n}"
                )
            rows.append([_Row(prompt) for _ in completions])
            for row, piece in zip(rows[-1], completions, strict=True):
                row.extend(piece)
        # In step-wise use the caller stops at the separator; one that fires inside an open
        # python block is a blank line of code, not the end of the step.
        inside_code_stops = self.separator in stops
        live = [row for per_prompt in rows for row in per_prompt]
        # Each round adds text to every row it continues (an empty continuation ends a row),
        # so the loop ends; the cap only guards against a backend that returns nothing forever.
        for round_index in range(1, max_tokens + self.config.max_runs + 2):
            to_run, going = [], []
            for row in live:
                if pending_code(row.text) is not None:
                    if row.runs < self.config.max_runs:
                        to_run.append(row)
                    else:
                        self._refuse_run(row)
                elif (
                    inside_code_stops
                    and row.finish_reason == "stop"
                    and open_code_start(row.text) is not None
                ):
                    row.text += "" if row.text.endswith("\n") else "\n"
                    going.append(row)
            self._run_code(to_run)
            going += [row for row in to_run if row.finish_reason == "stop"]
            for row in going:
                if row.n_tokens >= max_tokens:
                    row.finish_reason = "length"
            live = [row for row in going if row.n_tokens < max_tokens]
            if not live:
                break
            live = self._continue(live, max_tokens, seed, round_index, options)
        return [[row.completion() for row in per_prompt] for per_prompt in rows]

    def _call(self, prompts: list[str], *, n: int, **options: object) -> list[list[Completion]]:
        self.stats.backend_calls += 1
        out = self.policy.complete(prompts, n=n, **options)  # type: ignore[arg-type]
        if len(out) != len(prompts):
            raise MathverifyError(
                f"policy {self.name}: returned {len(out)} results for {len(prompts)} prompts"
            )
        return out

    def _run_code(self, rows: Sequence[_Row]) -> None:
        """Run each row's pending block (earlier blocks replayed) and append the observation."""
        if not rows:
            return
        programs = []
        for row in rows:
            start = last_code_start(row.text)
            assert start is not None
            body = row.text[start:]
            while self.separator in body:  # each pass shortens it: the separator isn't "\n"
                body = body.replace(self.separator, "\n")
            row.text = row.text[:start] + body
            code = pending_code(row.text)
            assert code is not None
            programs.append(program_with_history(code, history_code([row.prompt + row.text])))
        workers = min(self.config.workers, len(programs))
        if workers == 1:
            results = [self.sandbox.run(program) for program in programs]
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(self.sandbox.run, programs))
        for row, result in zip(rows, results, strict=True):
            self._append(row, result)

    def _append(self, row: _Row, result: SandboxResult) -> None:
        observation = observation_text(result, max_chars=self.config.max_output_chars)
        while self.separator in observation:  # each pass shortens it: the separator isn't "\n"
            observation = observation.replace(self.separator, "\n")
        row.text = f"{row.text.rstrip()}\n{observation}"
        row.runs += 1
        self.stats.runs += 1
        self.stats.statuses[result.status] += 1

    def _refuse_run(self, row: _Row) -> None:
        row.text = (
            f"{row.text.rstrip()}\n```output\n"
            f"not run: more than {self.config.max_runs} code blocks in one completion\n```"
        )
        row.finish_reason = "length"
        self.stats.not_run += 1

    def _continue(
        self,
        rows: Sequence[_Row],
        max_tokens: int,
        seed: int,
        round_index: int,
        options: dict[str, object],
    ) -> list[_Row]:
        """Let rows generate on (one backend call per budget group); those that wrote text."""
        wrote: list[_Row] = []
        groups: dict[int, list[_Row]] = {}
        for row in rows:
            groups.setdefault(_budget_bucket(max_tokens - row.n_tokens), []).append(row)
        for group_index, (budget, members) in enumerate(sorted(groups.items())):
            outputs = self._call(
                [row.prompt + row.text for row in members],
                n=1,
                max_tokens=budget,
                seed=_round_seed(seed, round_index, group_index),
                **options,
            )
            for row, completions in zip(members, outputs, strict=True):
                if len(completions) != 1:
                    raise MathverifyError(
                        f"policy {self.name}: returned {len(completions)} samples, expected 1"
                    )
                row.extend(completions[0])
                if completions[0].text:
                    wrote.append(row)
        return wrote


def wrap_policy(
    policy: Policy,
    step_format: str,
    *,
    separator: str,
    config: ReactConfig | None = None,
) -> Policy:
    """``policy`` as it is for ``plain``, wrapped in :class:`ReactPolicy` for ``react``."""
    if step_format == "plain":
        return policy
    if step_format == "react":
        return ReactPolicy(policy, separator=separator, config=config)
    raise MathverifyError(f"--step-format {step_format!r}: choose one of {', '.join(STEP_FORMATS)}")
