"""Active learning: choose which solutions to label next ("Let's Verify", section 4).

The paper labels *convincing wrong-answer* solutions: those the current verifier scores
highly although their final answer is wrong, mixed with a share of uniformly random ones.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable

from mathverify.errors import MathverifyError
from mathverify.records import Solution
from mathverify.step_scores import aggregate

STRATEGIES = ("convincing-wrong", "uniform")


def solution_score(solution: Solution, how: str) -> float:
    if solution.step_scores is None:
        raise MathverifyError(
            f"solution {solution.key()} has no step_scores: score it first (mathverify score)"
        )
    return aggregate(solution.step_scores, how)


def select_solutions(
    solutions: Iterable[Solution],
    *,
    strategy: str = "convincing-wrong",
    per_problem: int = 4,
    random_share: float = 0.0,
    aggregation: str = "min",
    seed: int = 0,
) -> list[Solution]:
    """Pick up to ``per_problem`` solutions per problem to label next.

    ``convincing-wrong``: the highest-scoring solutions whose outcome is wrong, with
    ``random_share`` of the picks drawn uniformly from the problem's other solutions.
    ``uniform``: a uniform random pick. The result keeps the input order.
    """
    if strategy not in STRATEGIES:
        raise MathverifyError(f"--strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")
    if not 0.0 <= random_share <= 1.0:
        raise MathverifyError("--random-share must be between 0 and 1")
    rng = random.Random(seed)
    by_problem: dict[str, list[tuple[int, Solution]]] = defaultdict(list)
    for index, solution in enumerate(solutions):
        by_problem[solution.problem_id].append((index, solution))

    chosen: list[tuple[int, Solution]] = []
    for problem_id in sorted(by_problem):
        items = by_problem[problem_id]
        if strategy == "uniform":
            chosen += rng.sample(items, min(per_problem, len(items)))
            continue
        n_random = round(per_problem * random_share)
        wrong = []
        for index, solution in items:
            if solution.outcome is None:
                raise MathverifyError(
                    f"solution {solution.key()} has no outcome: label it first "
                    "(mathverify label --method outcome)"
                )
            if not solution.outcome:
                wrong.append((solution_score(solution, aggregation), index, solution))
        wrong.sort(key=lambda item: (-item[0], item[1]))
        picked = [(index, solution) for _, index, solution in wrong[: per_problem - n_random]]
        picked_ids = {index for index, _ in picked}
        rest = [item for item in items if item[0] not in picked_ids]
        picked += rng.sample(rest, min(per_problem - len(picked), len(rest)))
        chosen += picked
    return [solution for _, solution in sorted(chosen, key=lambda item: item[0])]
