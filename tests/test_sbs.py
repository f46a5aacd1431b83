"""SBS as AlphaMath released it (github MARIO-Math-Reasoning/Super_MARIO): the root's B1 x B2
proposals, sibling duplicates merged by default, finished solutions without an answer dropped,
and the released per-method defaults. Hand-built tables of steps and scores, counted by hand.

The rest of SBS (beam bookkeeping, batching, offline == online, votes) is in test_search.py.
"""

from __future__ import annotations

import math

import pytest
from test_search import ScriptedPolicy, ScriptedScorer, make_problems

from mathverify.backends.base import Completion
from mathverify.prompting import PromptFormat
from mathverify.records import Problem, Tree
from mathverify.search import SEARCHES, SearchConfig

FORMAT = PromptFormat()


class TablePolicy:
    """Proposes the steps of ``table`` for a prefix, cycling through them for ``n`` samples;
    every sample costs ``tokens`` tokens."""

    name = "table"

    def __init__(self, table: dict, tokens: int = 3) -> None:
        self.table = table
        self.tokens = tokens
        self.calls: list[tuple[int, int]] = []

    def complete(
        self, prompts, *, n=1, temperature=0.0, top_p=1.0, max_tokens=256, stop=None, seed=0
    ):
        self.calls.append((len(prompts), n))
        out = []
        for prompt in prompts:
            rest = prompt.split("\nSolution:\n", 1)[1]
            options = self.table[tuple(s for s in rest.split(FORMAT.separator) if s)]
            out.append(
                [
                    Completion(text, self.tokens, reason, math.log(0.5))
                    for text, reason in (options[i % len(options)] for i in range(n))
                ]
            )
        return out


class TableScorer:
    """Scores a step by its text."""

    name = "table-scorer"

    def __init__(self, scores: dict[str, float]) -> None:
        self.scores = scores
        self.calls: list[int] = []

    def score(self, problems, steps):
        self.calls.append(len(steps))
        return [[self.scores[s] for s in solution] for solution in steps]


def problem() -> Problem:
    return Problem(id="t0", problem="Compute 1+2.", answer="3")


def sbs_config(**overrides) -> SearchConfig:
    return SearchConfig.for_method("sbs", **{"group_by": "string", **overrides})


# --------------------------------------------------------------------------------------
# Defaults


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        # configs/sbs_sft.yaml: temperature 0.6 (line 4), max_depth 10 (line 5),
        # remove_duplicate True (line 15).
        ("sbs", {"temperature": 0.6, "max_depth": 10, "distinct": True}),
        # configs/mcts_sft.yaml: temperature 0.6 (line 4), max_depth 8 (line 12, which lets a
        # solution have 9 steps: mcts.py:179-182 cuts depth > 8), n_generate_sample 5 (13),
        # iterations 40 (15), c_puct 1.25 (16); remove_duplicate off (config.py:165-167).
        (
            "mcts",
            {
                "temperature": 0.6,
                "max_depth": 9,
                "distinct": False,
                "b2": 5,
                "simulations": 40,
                "c_puct": 1.25,
                "mcts_budget": "tree",
            },
        ),
        ("majority", {"temperature": 0.7, "max_depth": 16}),
        ("best-of-n", {"temperature": 0.7, "max_depth": 16}),
    ],
)
def test_released_defaults_per_method(method, expected):
    config = SearchConfig.for_method(method)
    assert {name: getattr(config, name) for name in expected} == expected


def test_given_values_beat_the_method_defaults():
    config = SearchConfig.for_method("sbs", temperature=1.0, distinct=False, max_depth=None)
    assert (config.temperature, config.distinct, config.max_depth) == (1.0, False, 10)


# --------------------------------------------------------------------------------------
# The root proposes B1 x B2 steps (released solver: solver.py:216-217)


def test_the_root_proposes_b1_times_b2_steps_then_each_beam_b2():
    problems = make_problems(4)
    policy = ScriptedPolicy(error_rate=0.3)
    SEARCHES["sbs"](problems, policy, ScriptedScorer(), sbs_config(b1=3, b2=5, temperature=1.0))
    # One root per problem samples n_generate_sample * step_beam_width = 5 * 3 at step 0;
    # later every live beam node samples 5.
    assert (policy.calls[0][0], policy.calls[0][1]) == (4, 15)
    assert all(n == 5 for _, n, _ in policy.calls[1:])


# --------------------------------------------------------------------------------------
# Duplicates: merged siblings by default (sbs_sft.yaml:15, step_beam.py:143-145)

ROOT_DUPS = {
    # Six samples at the root (B1 2 x B2 3): "= 3" three times (whitespace aside), "= 4"
    # twice, one "= 5".
    (): [
        ("= 3", "stop"),
        (" = 3 ", "stop"),
        ("= 4", "stop"),
        ("=  4", "stop"),
        ("= 3\n", "stop"),
        ("= 5", "stop"),
    ],
    ("= 3",): [("\\boxed{3}", "eos"), ("\\boxed{3}", "eos"), ("\\boxed{6}", "eos")],
    ("=  4",): [("\\boxed{4}", "eos")],
    ("= 4",): [("\\boxed{4}", "eos")],
    ("= 5",): [("\\boxed{5}", "eos")],
}
SCORES = {
    "= 3": 0.9,
    "= 4": 0.6,
    "=  4": 0.6,
    "= 5": 0.5,
    "\\boxed{3}": 0.8,
    "\\boxed{4}": 0.7,
    "\\boxed{5}": 0.4,
    "\\boxed{6}": 0.3,
}


def test_sbs_merges_identical_siblings_after_strip_and_counts_their_tokens():
    # Depth 1: 6 samples -> "= 3" (3 copies), "= 4" (1; "=  4" is another text), "=  4",
    #   "= 5": 4 children, 2 merged. Beam (B1 = 2): "= 3" (.9), then "= 4" (.6, before "=  4").
    # Depth 2: "= 3" -> boxed{3} x2 (1 merged), boxed{6}; "= 4" -> boxed{4} x3 (2 merged).
    #   Best two: boxed{3} (.8) and boxed{4} (.7): both finished. 6 + 6 samples, 5 merged.
    policy, scorer = TablePolicy(ROOT_DUPS), TableScorer(SCORES)
    sink: list[Tree] = []
    [result] = SEARCHES["sbs"]([problem()], policy, scorer, sbs_config(b1=2, b2=3), tree_sink=sink)
    texts = [n["text"] for n in sink[0].nodes[1:]]
    assert texts == ["= 3", "= 4", "=  4", "= 5", "\\boxed{3}", "\\boxed{6}", "\\boxed{4}"]
    assert [n["merged"] for n in sink[0].nodes[1:]] == [2, 0, 0, 0, 1, 0, 2]
    assert policy.calls == [(1, 6), (2, 3)]
    assert scorer.calls == [4, 3]  # merged copies are never scored
    assert result.meta["n_merged"] == 5 and result.meta["merged_tokens"] == 5 * 3
    assert result.n_generated_tokens == 12 * 3  # every sample, merged or not
    assert result.meta["n_finished"] == [2]
    assert (result.answer, result.meta["score"]) == ("3", 0.8)


def test_no_distinct_keeps_and_scores_every_copy():
    # Copies kept: depth 1 has 6 children and the beam takes two copies of "= 3" (.9 each);
    # depth 2: 2 x 3 children, the best two are both boxed{3}.
    policy, scorer = TablePolicy(ROOT_DUPS), TableScorer(SCORES)
    sink: list[Tree] = []
    [result] = SEARCHES["sbs"](
        [problem()], policy, scorer, sbs_config(b1=2, b2=3, distinct=False), tree_sink=sink
    )
    beam = [n for n in sink[0].nodes if n["depth"] == 1 and n["visits"]]
    assert [n["text"] for n in beam] == ["= 3", "= 3"]
    assert scorer.calls == [6, 6]
    assert result.meta["n_merged"] == 0
    assert result.n_generated_tokens == 12 * 3
    assert result.answer == "3"


def test_a_step_that_ends_the_solution_is_not_merged_with_one_that_does_not():
    # Our steps end by how the sample ended (finish reason), not by their text, so the same
    # text ending the solution and not ending it are two different steps.
    table = {(): [("\\boxed{3}", "eos"), ("\\boxed{3}", "stop")], ("\\boxed{3}",): [("x", "eos")]}
    sink: list[Tree] = []
    [result] = SEARCHES["sbs"](
        [problem()],
        TablePolicy(table),
        TableScorer({"\\boxed{3}": 0.9, "x": 0.1}),
        sbs_config(b1=1, b2=2),
        tree_sink=sink,
    )
    assert [n["terminal"] for n in sink[0].nodes[1:3]] == [True, False]
    assert result.answer == "3" and result.meta["n_merged"] == 0


def test_sbs_at_temperature_zero_merges_every_copy():
    # Greedy samples are all alike: each depth keeps one node, whatever B1 x B2.
    problems = make_problems(3)
    policy = ScriptedPolicy()
    results = SEARCHES["sbs"](
        problems, policy, ScriptedScorer(), sbs_config(b1=3, b2=5, temperature=0.0)
    )
    assert [(c[0], c[1]) for c in policy.calls] == [(3, 15), (3, 5), (3, 5), (3, 5)]
    for result, p in zip(results, problems, strict=True):
        assert result.meta["n_nodes"] == 4
        assert result.meta["n_merged"] == 14 + 3 * 4
        assert (
            result.n_generated_tokens
            == sum(c["n_tokens"] for c in result.candidates) + (result.meta["merged_tokens"])
        )
        assert result.answer == p.answer


# --------------------------------------------------------------------------------------
# A finished solution without an answer is dropped and narrows the beam (step_beam.py:120-127)

NO_ANSWER = {
    (): [("I give up.", "eos"), ("= 3", "stop"), ("= 4", "stop")],
    ("= 3",): [("\\boxed{3}", "eos"), ("\\boxed{9}", "eos"), ("= 3 again", "stop")],
    ("= 4",): [("\\boxed{4}", "eos"), ("\\boxed{4}", "eos"), ("\\boxed{4}", "eos")],
}
NO_ANSWER_SCORES = {
    "I give up.": 0.99,
    "= 3": 0.9,
    "= 4": 0.5,
    "\\boxed{3}": 0.8,
    "\\boxed{9}": 0.2,
    "= 3 again": 0.1,
    "\\boxed{4}": 0.3,
}


def test_a_finished_solution_without_an_answer_is_dropped_and_narrows_the_beam():
    # B1 2, B2 3: the root's 6 samples merge into 3. Kept: "I give up." (.99, finished, no
    # answer: dropped, width 1) and "= 3" (.9). Depth 2: one slot: boxed{3} (.8).
    sink: list[Tree] = []
    [result] = SEARCHES["sbs"](
        [problem()],
        TablePolicy(NO_ANSWER),
        TableScorer(NO_ANSWER_SCORES),
        sbs_config(b1=2, b2=3),
        tree_sink=sink,
    )
    nodes = {n["text"]: n for n in sink[0].nodes}
    assert nodes["I give up."]["visits"] == 1 and nodes["I give up."]["terminal"]
    assert [n["text"] for n in sink[0].nodes if n["depth"] == 2 and n["visits"]] == ["\\boxed{3}"]
    assert result.meta["n_finished"] == [1]
    assert (result.answer, result.steps) == ("3", ["= 3", "\\boxed{3}"])


def test_only_answerless_finished_solutions_give_no_answer():
    table = {(): [("I give up.", "eos"), ("= 3", "stop")], ("= 3",): [("nothing", "eos")]}
    scores = {"I give up.": 0.9, "= 3": 0.5, "nothing": 0.5}
    [result] = SEARCHES["sbs"](
        [problem()], TablePolicy(table), TableScorer(scores), sbs_config(b1=2, b2=2)
    )
    assert result.meta["n_finished"] == [0]
    assert (result.answer, result.steps, result.meta["chosen_node"]) == (None, [], None)
