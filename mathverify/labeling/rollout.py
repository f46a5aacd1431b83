"""Monte-Carlo step labels (Math-Shepherd): complete each step prefix K times and grade.

For step i of a solution, K completions continue ``prompt + steps[:i+1]`` to the end; the
step's soft label is the fraction whose final answer equals the gold answer, its hard label
1 if any does. The last step needs no rollout: the solution's own answer decides it.

All prefixes of all solutions at the same depth go to the backend in one call. With
``cut_after_first_wrong`` labeling walks the steps depth by depth and stops a solution at its
first step estimated wrong (the later steps stay ``None``), which is the "first-error cut"
that "Let's Verify" trains on and saves most of the cost on wrong solutions.

Resuming: a solution's rollouts depend on the other prefixes in the same backend call (the
HF backend seeds per batch of sequences), so :func:`write_rollout_labels` runs the input in
fixed chunks (:func:`mathverify.stages.run_chunks`): cut the same on every run, a partly
written chunk labeled whole; a resumed run then writes exactly the rows an uninterrupted run
would.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mathverify import progress
from mathverify.backends.base import Policy
from mathverify.errors import MathverifyError
from mathverify.grading import GradingPool
from mathverify.labeling.outcome import gold_answer
from mathverify.prompting import PromptFormat
from mathverify.records import Problem, RecordWriter, Solution
from mathverify.stages import Chunk, run_chunks
from mathverify.steps import extract_answer


@dataclass(frozen=True)
class RolloutConfig:
    k: int = 8
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 256
    seed: int = 0
    hard: bool = True
    cut_after_first_wrong: bool = False

    def check(self) -> None:
        """Refuse settings that cannot give a label (errors name the ``label`` options)."""
        if self.k < 1:
            raise MathverifyError(
                f"--rollouts must be at least 1 (completions per prefix), got {self.k}"
            )
        if self.temperature < 0:
            raise MathverifyError(
                f"--temperature must be >= 0 (0 means greedy), got {self.temperature}"
            )
        if not 0 < self.top_p <= 1:
            raise MathverifyError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise MathverifyError(f"--max-tokens must be at least 1, got {self.max_tokens}")


@dataclass
class RolloutStats:
    prefixes: int = 0
    completions: int = 0
    generated_tokens: int = 0


def label_rollouts(
    solutions: Sequence[Solution],
    problems: Mapping[str, Problem],
    policy: Policy,
    prompt_format: PromptFormat,
    pool: GradingPool,
    config: RolloutConfig,
    stats: RolloutStats | None = None,
) -> list[Solution]:
    """Return ``solutions`` with ``step_labels`` (hard or soft) and ``first_wrong_step`` set."""
    stats = stats if stats is not None else RolloutStats()
    soft: list[list[float | None]] = [[None] * len(s.steps) for s in solutions]
    tokens = [0] * len(solutions)
    alive = [bool(s.steps) for s in solutions]
    golds = [gold_answer(problems, s.problem_id) for s in solutions]
    max_depth = max((len(s.steps) for s in solutions), default=0)

    # The last step of a solution is judged by its own final answer.
    final_verdicts = pool.grade_many([(s.answer, g) for s, g in zip(solutions, golds, strict=True)])

    depths: list[list[int]] = (
        [[d] for d in range(max_depth)]
        if config.cut_after_first_wrong
        else [list(range(max_depth))]
    )
    for group, depth_group in enumerate(depths, start=1):
        if len(depths) > 1:  # cut after the first wrong step: one backend call per depth
            progress.note(depth=f"{group}/{len(depths)}")
        jobs = [
            (index, depth)
            for depth in depth_group
            for index, solution in enumerate(solutions)
            if alive[index] and depth < len(solution.steps) - 1
        ]
        finals = [
            (index, depth)
            for depth in depth_group
            for index, solution in enumerate(solutions)
            if alive[index] and depth == len(solution.steps) - 1
        ]
        for index, depth in finals:
            soft[index][depth] = 1.0 if final_verdicts[index].equal else 0.0
        if jobs:
            prompts = [
                prompt_format.prefix(
                    problems[solutions[i].problem_id].problem, solutions[i].steps[: d + 1]
                )
                for i, d in jobs
            ]
            outputs = policy.complete(
                prompts,
                n=config.k,
                temperature=config.temperature,
                top_p=config.top_p,
                max_tokens=config.max_tokens,
                seed=config.seed,
            )
            pairs = [
                (extract_answer(c.text), golds[i])
                for (i, _), completions in zip(jobs, outputs, strict=True)
                for c in completions
            ]
            verdicts = iter(pool.grade_many(pairs))
            for (i, d), completions in zip(jobs, outputs, strict=True):
                correct = sum(next(verdicts).equal for _ in completions)
                soft[i][d] = correct / len(completions)
                tokens[i] += sum(c.n_tokens for c in completions)
                stats.completions += len(completions)
                stats.generated_tokens += sum(c.n_tokens for c in completions)
            stats.prefixes += len(jobs)
        if config.cut_after_first_wrong:
            for i, d in jobs + finals:
                if soft[i][d] == 0.0:
                    alive[i] = False

    progress.note(depth="")
    labeled = []
    for solution, values, spent, final in zip(solutions, soft, tokens, final_verdicts, strict=True):
        labels = [None if v is None else (float(v > 0) if config.hard else v) for v in values]
        first_wrong = next((i for i, v in enumerate(values) if v == 0.0), None)
        solution.step_labels = labels
        solution.first_wrong_step = first_wrong
        solution.outcome = final.equal
        solution.label_source = f"rollout-{'hard' if config.hard else 'soft'}-k{config.k}"
        solution.meta = {**solution.meta, "rollout_tokens": spent}
        labeled.append(solution)
    return labeled


def write_rollout_labels(
    solutions: Iterable[Solution],
    problems: Mapping[str, Problem],
    policy: Policy,
    prompt_format: PromptFormat,
    pool: GradingPool,
    config: RolloutConfig,
    writer: RecordWriter,
    *,
    chunk: int,
    stats: RolloutStats | None = None,
    meta: Mapping[str, Any] | None = None,
) -> None:
    """Label ``solutions`` ``chunk`` at a time (all of a chunk's prefixes in one backend call
    per depth group) and write each chunk as it is labeled; ``meta`` joins each labeled
    solution's meta. Resumes in fixed chunks (see the module docstring)."""

    def work(group: Chunk[Solution]) -> list[Solution]:
        labeled = label_rollouts(group.items, problems, policy, prompt_format, pool, config, stats)
        for solution in labeled:
            solution.meta.update(meta or {})
        return labeled

    run_chunks(solutions, work, writer, size=chunk, keys=lambda solution: [solution.key()])
