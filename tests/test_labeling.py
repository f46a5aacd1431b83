"""Rollout labels (Math-Shepherd) and active-learning selection, on scripted inputs."""

from __future__ import annotations

import pytest

from mathverify.backends.base import Completion
from mathverify.errors import MathverifyError
from mathverify.grading import GradingPool
from mathverify.labeling.rollout import RolloutConfig, RolloutStats, label_rollouts
from mathverify.labeling.select import select_solutions
from mathverify.prompting import PromptFormat
from mathverify.records import Problem, Solution


class ScriptedPolicy:
    """Completes a prefix with the right answer unless a step in it says BAD.

    A prefix containing MAYBE succeeds on every other sample, so soft labels are 0.5.
    """

    name = "scripted"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def complete(
        self, prompts, *, n=1, temperature=0.0, top_p=1.0, max_tokens=256, stop=None, seed=0
    ):
        self.calls.append(len(prompts))
        out = []
        for prompt in prompts:
            gold = prompt.split("gold=")[1].split()[0]
            completions = []
            for j in range(n):
                wrong = "BAD" in prompt or ("MAYBE" in prompt and j % 2)
                answer = f"{gold}9" if wrong else gold
                completions.append(Completion(f"so \\boxed{{{answer}}}", 3, "eos"))
            out.append(completions)
        return out


PROBLEMS = {
    "p": Problem(id="p", problem="gold=7 ?", answer="7"),
    "q": Problem(id="q", problem="gold=5 ?", answer="5"),
}


def sol(pid: str, sid: int, steps: list[str], answer: str) -> Solution:
    return Solution(problem_id=pid, sample_id=sid, steps=steps, answer=answer)


@pytest.fixture(scope="module")
def pool():
    with GradingPool(workers=1, timeout=5.0) as p:
        yield p


def test_rollout_hard_and_soft_labels(pool):
    solutions = [
        sol("p", 0, ["ok", "ok", "\\boxed{7}"], "7"),
        sol("p", 1, ["ok", "BAD", "still", "\\boxed{79}"], "79"),
        sol("q", 0, ["MAYBE", "\\boxed{5}"], "5"),
    ]
    policy = ScriptedPolicy()
    stats = RolloutStats()
    soft = label_rollouts(
        [s for s in solutions],
        PROBLEMS,
        policy,
        PromptFormat(),
        pool,
        RolloutConfig(k=4, hard=False),
        stats,
    )
    assert [s.step_labels for s in soft] == [[1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0], [0.5, 1.0]]
    assert [s.first_wrong_step for s in soft] == [None, 1, None]
    assert [s.outcome for s in soft] == [True, False, True]
    # without the cut everything goes to the backend in one call
    assert policy.calls == [2 + 3 + 1]
    assert stats.completions == 4 * 6 and stats.generated_tokens == 3 * 4 * 6
    hard = label_rollouts(
        solutions, PROBLEMS, ScriptedPolicy(), PromptFormat(), pool, RolloutConfig(k=4)
    )
    assert hard[2].step_labels == [1.0, 1.0]


def test_rollout_first_error_cut_saves_calls(pool):
    solutions = [
        sol("p", 0, ["BAD", "x", "y", "\\boxed{79}"], "79"),
        sol("p", 1, ["ok", "ok", "ok", "\\boxed{7}"], "7"),
    ]
    policy = ScriptedPolicy()
    stats = RolloutStats()
    labeled = label_rollouts(
        solutions,
        PROBLEMS,
        policy,
        PromptFormat(),
        pool,
        RolloutConfig(k=2, cut_after_first_wrong=True),
        stats,
    )
    assert labeled[0].step_labels == [0.0, None, None, None]
    assert labeled[1].step_labels == [1.0, 1.0, 1.0, 1.0]
    # one call per depth, and the wrong solution leaves after depth 0
    assert policy.calls == [2, 1, 1]
    assert stats.prefixes == 4


def scored(pid, sid, scores, outcome):
    s = sol(pid, sid, ["a"] * len(scores), "1")
    s.step_scores = scores
    s.outcome = outcome
    return s


def test_select_convincing_wrong_picks_high_scoring_wrong_answers():
    solutions = [
        scored("p", 0, [0.9, 0.8], False),
        scored("p", 1, [0.99, 0.99], True),
        scored("p", 2, [0.9, 0.1], False),
        scored("p", 3, [0.95, 0.9], False),
        scored("q", 0, [0.2], False),
        scored("q", 1, [0.9], True),
    ]
    picked = select_solutions(solutions, per_problem=2)
    assert [s.key() for s in picked] == ["p#0", "p#3", "q#0", "q#1"]
    # the fill-up when a problem has too few wrong answers is random but seeded
    again = select_solutions(solutions, per_problem=2)
    assert [s.key() for s in again] == [s.key() for s in picked]


def test_select_random_share_and_errors():
    solutions = [scored("p", i, [i / 10], False) for i in range(10)]
    picked = select_solutions(solutions, per_problem=4, random_share=0.5, seed=1)
    keys = {s.key() for s in picked}
    assert len(keys) == 4 and {"p#9", "p#8"} <= keys
    with pytest.raises(MathverifyError, match="no outcome"):
        select_solutions([scored("p", 0, [0.5], None)])
    unscored = sol("p", 0, ["a"], "1")
    unscored.outcome = False
    with pytest.raises(MathverifyError, match="no step_scores"):
        select_solutions([unscored])
