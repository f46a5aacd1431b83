"""Sampling whole solutions for problems: prompts in, :class:`~mathverify.records.Solution` out.

Problems are cut into fixed chunks of ``batch_size // n`` problems (at least one), and
each chunk is one backend call with its own seed derived from the run seed and the chunk
index. Because a chunk's inputs and seed never depend on what is already written, a run
resumed after a crash regenerates its unfinished chunk exactly as the first run would have,
and the output equals that of an uninterrupted run (:func:`write_solutions`, through
:func:`mathverify.stages.run_chunks`). Changing ``batch_size``, ``--shard`` or ``--limit``
changes the chunks, and so the sampled text.

Not for step-wise generation (that is :func:`mathverify.backends.base.next_steps`), and
knows nothing of any particular backend or task.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from mathverify import progress
from mathverify.backends.base import Completion, Policy, check_sampling, policy_settings
from mathverify.errors import MathverifyError
from mathverify.iterutils import batched
from mathverify.models.prompts import model_prompt_format
from mathverify.prompting import PromptFormat
from mathverify.records import Problem, RecordWriter, Solution
from mathverify.stages import Chunk, run_chunks
from mathverify.steps import extract_answer, split_steps

# Samples per problem when none is named: the same in generate and search (SearchConfig.n).
DEFAULT_SAMPLES = 8


@dataclass(frozen=True)
class GenerationConfig:
    """Sampling options for :func:`write_solutions`, recorded in each solution's meta."""

    n: int = DEFAULT_SAMPLES
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 256
    seed: int = 0
    batch_size: int = 256  # sequences (problems x samples) per backend call

    def check(self) -> None:
        check_sampling(
            n=self.n, temperature=self.temperature, top_p=self.top_p, max_tokens=self.max_tokens
        )
        if self.batch_size < 1:
            raise MathverifyError(f"batch_size must be at least 1, got {self.batch_size}")

    def settings(self) -> dict[str, Any]:
        """Every field, for the provenance: each one changes the samples a run gives
        (``batch_size`` too, since it cuts the chunks whose seeds are derived, see above)."""
        return asdict(self)


def policy_prompt_format(
    path_or_name: str,
    *,
    requested: str = "auto",
    system: str | None = None,
    tokenizer: Any | None = None,
) -> PromptFormat:
    """The prompt format of a policy: its ``mathverify.json``'s, else one for a public model.

    A directory with a card must be a policy (or a value model, which is a policy with a
    value head); a directory without one (any Hugging Face model) and a hub name get the
    chat format when their tokenizer has a chat template, else the plain default
    (:func:`mathverify.models.prompts.model_prompt_format`, which explains the options).
    """
    return model_prompt_format(
        path_or_name,
        requested=requested,
        system=system,
        tokenizer=tokenizer,
        expect=("policy", "value"),
    )


def chunk_seed(seed: int, chunk_index: int) -> int:
    """A seed for one chunk, mixed so that nearby (seed, chunk) pairs do not share streams."""
    return random.Random(f"{seed}/{chunk_index}").getrandbits(63)


def chunk_problems(n: int, batch_size: int) -> int:
    """Problems per chunk: at most ``batch_size`` sequences, one problem if ``n`` is larger."""
    return max(1, batch_size // n)


def plan_chunks(problems: list[Problem], n: int, batch_size: int) -> list[list[Problem]]:
    """The fixed chunks of ``problems`` (:func:`chunk_problems` each)."""
    return list(batched(problems, chunk_problems(n, batch_size)))


def to_solution(
    problem: Problem,
    sample_id: int,
    completion: Completion,
    *,
    policy: Policy,
    prompt_format: PromptFormat,
    config: GenerationConfig,
    backend: str,
    backend_settings: dict[str, Any],
) -> Solution:
    """One completion as a solution record: steps split at the separator, answer extracted.

    ``backend_settings`` is the policy's :func:`policy_settings` (asked once per chunk)."""
    return Solution(
        problem_id=problem.id,
        sample_id=sample_id,
        steps=split_steps(completion.text, prompt_format.separator),
        answer=extract_answer(completion.text),
        text=completion.text,
        n_tokens=completion.n_tokens,
        policy=policy.name,
        meta={
            "seed": config.seed,
            "backend": backend,
            "temperature": config.temperature,
            "top_p": config.top_p,
            "max_tokens": config.max_tokens,
            "finish_reason": completion.finish_reason,
            "logprob": completion.logprob,
            "backend_settings": backend_settings,
            "prompt_format": prompt_format.to_dict(),
        },
    )


def generate_chunk(
    policy: Policy,
    problems: list[Problem],
    *,
    prompt_format: PromptFormat,
    config: GenerationConfig,
    chunk_index: int,
    backend: str,
) -> list[Solution]:
    """``config.n`` solutions for each problem of one chunk, in problem then sample order."""
    outputs = policy.complete(
        [prompt_format.prompt(problem.problem) for problem in problems],
        n=config.n,
        temperature=config.temperature,
        top_p=config.top_p,
        max_tokens=config.max_tokens,
        stop=None,
        seed=chunk_seed(config.seed, chunk_index),
    )
    if len(outputs) != len(problems):
        raise MathverifyError(
            f"backend {backend}: returned {len(outputs)} prompt results for {len(problems)} prompts"
        )
    settings = policy_settings(policy)
    solutions: list[Solution] = []
    for problem, completions in zip(problems, outputs, strict=True):
        if len(completions) != config.n:
            raise MathverifyError(
                f"backend {backend}: returned {len(completions)} samples, expected {config.n}"
            )
        for sample_id, completion in enumerate(completions):
            solutions.append(
                to_solution(
                    problem,
                    sample_id,
                    completion,
                    policy=policy,
                    prompt_format=prompt_format,
                    config=config,
                    backend=backend,
                    backend_settings=settings,
                )
            )
    return solutions


def write_solutions(
    policy: Policy,
    problems: list[Problem],
    writer: RecordWriter,
    *,
    prompt_format: PromptFormat,
    config: GenerationConfig,
    backend: str,
    meta: Mapping[str, Any] | None = None,
) -> int:
    """Generate ``config.n`` solutions per problem chunk by chunk and write each chunk as it
    is sampled; ``meta`` joins each solution's meta. Returns the tokens generated.

    A chunk whose problems are all in ``writer``'s output (on resume) is not generated; a
    partly written chunk is generated whole, with its own seed, so the samples match the
    ones already written (:func:`mathverify.stages.run_chunks`, fixed chunks).
    """
    config.check()
    started = time.perf_counter()
    tokens = 0

    def work(chunk: Chunk[Problem]) -> list[Solution]:
        solutions = generate_chunk(
            policy,
            chunk.items,
            prompt_format=prompt_format,
            config=config,
            chunk_index=chunk.index,
            backend=backend,
        )
        for solution in solutions:
            solution.meta.update(meta or {})
        return solutions

    def count(chunk: Chunk[Problem], solutions: list[Solution]) -> None:
        nonlocal tokens
        tokens += sum(s.n_tokens for s in solutions)
        rate = tokens / max(time.perf_counter() - started, 1e-9)
        progress.note(tokens=f"{rate:,.0f}/s")

    run_chunks(
        problems,
        work,
        writer,
        size=chunk_problems(config.n, config.batch_size),
        keys=lambda problem: [Solution.key_for(problem.id, i) for i in range(config.n)],
        on_chunk=count,
    )
    return tokens
