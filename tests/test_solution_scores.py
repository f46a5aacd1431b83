"""One rule for a solution's score (``step_scores.aggregate_or_none``), used by the ``score``
stage (``scoring.solutions``) and by search; where the two differ, on purpose."""

from __future__ import annotations

import pytest

from mathverify.errors import MathverifyError
from mathverify.records import Problem, Solution
from mathverify.scoring.solutions import score_solutions
from mathverify.search.common import Sampled, Stats
from mathverify.search.common import score_solutions as score_sampled
from mathverify.step_scores import aggregate_or_none


@pytest.mark.parametrize(
    ("step_scores", "how", "expected"),
    [
        ([0.9, 0.2, 0.7], "min", 0.2),
        ([0.5, 0.5], "product", 0.25),
        ([0.9, 0.2, 0.7], "last", 0.7),
        ([None, 0.4], "min", 0.4),  # a step with no score is skipped
        ([None, None, 0.8], "last", 0.8),  # an ORM scores the last step only
        ([], "min", None),  # no steps: no score
        ([None, None], "mean", None),  # no step scored (past the scorer's max length)
    ],
)
def test_aggregate_or_none(step_scores: list, how: str, expected: float | None) -> None:
    assert aggregate_or_none(step_scores, how) == expected


class FixedScorer:
    """Scores step ``i`` as ``0.1 * (i + 1)``; None where ``none_from`` says."""

    name = "fixed"

    def __init__(self, none_from: int | None = None, extra: int = 0) -> None:
        self.none_from, self.extra = none_from, extra
        self.calls: list[list[list[str]]] = []

    def score(self, problems: list[str], steps: list[list[str]]) -> list[list[float | None]]:
        self.calls.append(steps)
        return [
            [
                None if self.none_from is not None and i >= self.none_from else 0.1 * (i + 1)
                for i in range(len(solution) + self.extra)
            ]
            for solution in steps
        ]


PROBLEMS = {"p": Problem(id="p", problem="1 + 1", answer="2")}


def test_the_score_stage_scores_every_solution_and_stores_no_score_as_null() -> None:
    solutions = [
        Solution(problem_id="p", sample_id=0, steps=["= 2", "\\boxed{2}"]),
        Solution(problem_id="p", sample_id=1, steps=[]),
    ]
    scored = score_solutions(solutions, PROBLEMS, FixedScorer(), "min")
    assert [s.step_scores for s in scored] == [[0.1, 0.2], []]
    assert [s.meta["score"] for s in scored] == [0.1, None]
    assert {s.meta["aggregate"] for s in scored} == {"min"} and scored[0].scorer == "fixed"
    unscored = score_solutions(solutions[:1], PROBLEMS, FixedScorer(none_from=0), "last")
    assert unscored[0].meta["score"] is None


def test_search_leaves_a_solution_with_no_steps_unscored_and_uses_the_same_rule() -> None:
    sampled = [
        Sampled(0, "", ["= 2", "\\boxed{2}"], "2", 4, "eos"),
        Sampled(1, "", [], None, 1, "eos"),
    ]
    scorer = FixedScorer()
    score_sampled([PROBLEMS["p"]], [sampled], scorer, Stats(), "min")
    assert scorer.calls == [[["= 2", "\\boxed{2}"]]]  # the empty one is not sent
    assert (sampled[0].step_scores, sampled[0].score) == ([0.1, 0.2], 0.1)
    assert (sampled[1].step_scores, sampled[1].score) == (None, None)
    assert "score" not in sampled[1].to_candidate()


def test_a_scorer_answering_the_wrong_number_of_scores_is_an_error() -> None:
    solutions = [Solution(problem_id="p", sample_id=0, steps=["= 2"])]
    with pytest.raises(MathverifyError, match="scorer fixed: solution 0 has 1 steps but 2 scores"):
        score_solutions(solutions, PROBLEMS, FixedScorer(extra=1), "min")


def test_a_solution_of_an_unknown_problem_is_an_error() -> None:
    solutions = [Solution(problem_id="q", sample_id=0, steps=["= 2"])]
    with pytest.raises(MathverifyError, match="solution q#0: problem id 'q' is not in"):
        score_solutions(solutions, PROBLEMS, FixedScorer(), "min")
