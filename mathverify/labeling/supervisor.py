"""Supervisor labels: a trained PRM labels the steps of other solutions ("Let's Verify").

The paper's small-scale synthetic setting: a large PRM trained on good labels stands in for
human labelers and supervises smaller verifiers. Hard labels threshold its step score;
soft labels keep the score itself.

:func:`write_supervisor_labels` is the ``label --method supervisor`` stage: a label depends
on its solution alone, so a resume labels only the rows not written
(:func:`mathverify.stages.run_chunks`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from mathverify.errors import MathverifyError
from mathverify.records import Problem, RecordWriter, Solution
from mathverify.stages import run_chunks
from mathverify.step_scores import Scorer


def check_threshold(threshold: float) -> None:
    """A step score is a probability, so a threshold outside [0, 1] labels every step alike."""
    if not 0.0 <= threshold <= 1.0:
        raise MathverifyError(
            f"--threshold must be in [0, 1] (step scores are probabilities), got {threshold}"
        )


def label_supervisor(
    solutions: Sequence[Solution],
    problems: Mapping[str, Problem],
    scorer: Scorer,
    *,
    hard: bool = True,
    threshold: float = 0.5,
) -> list[Solution]:
    check_threshold(threshold)
    missing = [s.problem_id for s in solutions if s.problem_id not in problems]
    if missing:
        raise MathverifyError(f"problem id {missing[0]!r} is not in the problems file")
    scores = scorer.score(
        [problems[s.problem_id].problem for s in solutions], [s.steps for s in solutions]
    )
    for solution, step_scores in zip(solutions, scores, strict=True):
        if any(score is None for score in step_scores):
            raise MathverifyError(
                f"scorer {scorer.name} does not score every step (an ORM?); "
                "supervisor labels need a PRM"
            )
        values = [float(score) for score in step_scores]  # type: ignore[arg-type]
        labels = [float(v >= threshold) for v in values] if hard else values
        solution.step_labels = labels
        solution.first_wrong_step = next((i for i, v in enumerate(values) if v < threshold), None)
        solution.label_source = f"supervisor-{'hard' if hard else 'soft'}:{scorer.name}"
    return solutions


def write_supervisor_labels(
    solutions: Iterable[Solution],
    problems: Mapping[str, Problem],
    scorer: Scorer,
    writer: RecordWriter,
    *,
    chunk: int,
    hard: bool = True,
    threshold: float = 0.5,
) -> None:
    """Label the ``solutions`` not in ``writer``'s output yet, ``chunk`` per scorer call,
    and write each chunk as it is labeled."""
    run_chunks(
        solutions,
        lambda group: label_supervisor(
            group.items, problems, scorer, hard=hard, threshold=threshold
        ),
        writer,
        size=chunk,
        keys=lambda solution: [solution.key()],
        whole_chunks=False,
    )
