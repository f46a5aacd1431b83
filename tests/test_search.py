"""Search methods on a scripted policy and scorer: exact beam bookkeeping, batching, and the
equalities the methods promise (SBS(1,1) = greedy, offline = online)."""

from __future__ import annotations

import inspect
import random
import re

import pytest

from mathverify.backends.base import Completion
from mathverify.errors import MathverifyError
from mathverify.grading import GradingPool
from mathverify.prompting import PromptFormat
from mathverify.records import Problem, RecordWriter, Tree
from mathverify.search import SEARCHES, SearchConfig, cluster_answers
from mathverify.search.sbs import Finished, decide, pick
from mathverify.steps import split_steps

FORMAT = PromptFormat()


def parse_prompt(prompt: str) -> tuple[str, list[str]]:
    """The problem text and the steps already written, from a default-format prompt."""
    head, _, rest = prompt.partition("\nSolution:\n")
    return head.removeprefix("Problem: "), split_steps(rest, FORMAT.separator)


def gold_chain(problem: str) -> list[str]:
    """The correct steps for ``Compute a+b+...``: add the first two numbers, then box."""
    numbers = [int(x) for x in re.findall(r"\d+", problem)]
    steps = []
    while len(numbers) > 1:
        numbers = [numbers[0] + numbers[1], *numbers[2:]]
        steps.append("= " + "+".join(map(str, numbers)))
    steps.append(f"\\boxed{{{numbers[0]}}}")
    return steps


class ScriptedPolicy:
    """Adds the first two numbers per step and boxes the last one; samples err at random.

    At temperature 0 every step is right. At temperature > 0 a step is off by one with
    probability ``error_rate`` (drawn from the seed, the prompt and the sample index), and
    with ``early_box`` an erring step instead boxes the current first number at once.
    A step costs its length plus one token; a right step has logprob -0.05 per token, a
    wrong one -0.5.
    """

    name = "scripted"

    def __init__(self, error_rate: float = 0.3, early_box: bool = False) -> None:
        self.error_rate = error_rate
        self.early_box = early_box
        self.calls: list[tuple[int, int, tuple[str, ...]]] = []

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
        self.calls.append((len(prompts), n, tuple(stop or ())))
        out = []
        for prompt in prompts:
            problem, steps = parse_prompt(prompt)
            row = []
            for i in range(n):
                rng = random.Random(f"{seed}/{prompt}/{i}") if temperature > 0 else None
                row.append(self._continue(problem, steps, rng, one_step=bool(stop)))
            out.append(row)
        return out

    def _continue(
        self, problem: str, steps: list[str], rng: random.Random | None, *, one_step: bool
    ) -> Completion:
        source = steps[-1] if steps else problem
        numbers = [int(x) for x in re.findall(r"\d+", source)]
        texts: list[str] = []
        tokens = 0
        logprob = 0.0
        while True:
            wrong = rng is not None and rng.random() < self.error_rate
            if len(numbers) == 1 or (wrong and self.early_box):
                step = f"\\boxed{{{numbers[0]}}}"
                texts.append(step)
                tokens += len(step) + 1
                logprob += (-0.5 if wrong else -0.05) * (len(step) + 1)
                reason = "eos"
                break
            total = numbers[0] + numbers[1] + (1 if wrong else 0)
            numbers = [total, *numbers[2:]]
            step = "= " + "+".join(map(str, numbers))
            texts.append(step)
            tokens += len(step) + 1
            logprob += (-0.5 if wrong else -0.05) * (len(step) + 1)
            if one_step:
                reason = "stop"
                break
        return Completion(FORMAT.separator.join(texts), tokens, reason, logprob)


class ScriptedScorer:
    """A perfect PRM: 0.9 for a step on the gold chain (all earlier ones too), else 0.1.

    With ``prefer_boxed`` every boxed step scores 0.95, so finished solutions win the beam.
    """

    name = "scripted-prm"

    def __init__(self, prefer_boxed: bool = False) -> None:
        self.prefer_boxed = prefer_boxed
        self.calls: list[int] = []

    def score(self, problems: list[str], steps: list[list[str]]) -> list[list[float | None]]:
        self.calls.append(len(steps))
        out = []
        for problem, solution in zip(problems, steps, strict=True):
            gold = gold_chain(problem)
            scores: list[float | None] = []
            ok = True
            for k, step in enumerate(solution):
                ok = ok and k < len(gold) and step == gold[k]
                score = 0.9 if ok else 0.1
                if self.prefer_boxed and step.startswith("\\boxed"):
                    score = 0.95
                scores.append(score)
            out.append(scores)
        return out


def make_problems(count: int, n_numbers: int = 4, seed: int = 0) -> list[Problem]:
    rng = random.Random(seed)
    problems = []
    for i in range(count):
        numbers = [rng.randint(1, 40) for _ in range(n_numbers)]
        answer = str(sum(numbers))
        text = "Compute " + "+".join(map(str, numbers)) + "."
        problems.append(Problem(id=f"p{i:03d}", problem=text, answer=answer))
    return problems


def config(**overrides) -> SearchConfig:
    base = {"group_by": "string", "temperature": 1.0, "max_depth": 10}
    base.update(overrides)
    return SearchConfig(**base)


# --------------------------------------------------------------------------------------
# Registry


def test_every_method_has_the_same_signature():
    signatures = {name: list(inspect.signature(fn).parameters) for name, fn in SEARCHES.items()}
    expected = ["problems", "policy", "scorer", "config", "pool", "tree_sink"]
    assert signatures == {name: expected for name in SEARCHES}
    assert set(SEARCHES) == {
        "greedy",
        "majority",
        "best-of-n",
        "weighted-vote",
        "sbs",
        "offline",
        "mcts",
    }


# --------------------------------------------------------------------------------------
# SBS bookkeeping and batching


def test_sbs_counts_nodes_scores_and_finished_exactly():
    problems = make_problems(3)
    results = SEARCHES["sbs"](problems, ScriptedPolicy(), ScriptedScorer(), config(b1=3, b2=5))
    for result in results:
        # 4 numbers: 3 rewrites + the box = 4 depths; the root proposes 3 x 5 first steps,
        # then 3 beams x 5 three times.
        assert result.meta["n_nodes"] == 15 * 4
        assert result.meta["n_scored"] == 60
        assert result.meta["n_finished"] == [3]
        assert len(result.candidates) == 60
        assert sum(c["selected"] for c in result.candidates) == 3 * 4
        assert result.n_generated_tokens == sum(c["n_tokens"] for c in result.candidates)


def test_sbs_with_a_perfect_scorer_follows_the_gold_chain():
    problems = make_problems(8)
    results = SEARCHES["sbs"](
        problems, ScriptedPolicy(error_rate=0.4), ScriptedScorer(), config(b1=3, b2=5)
    )
    for problem, result in zip(problems, results, strict=True):
        assert result.steps == gold_chain(problem.problem)
        assert result.answer == problem.answer


def test_sbs_sends_all_beams_of_all_problems_in_one_call_per_depth():
    problems = make_problems(12)
    policy, scorer = ScriptedPolicy(), ScriptedScorer()
    SEARCHES["sbs"](problems, policy, scorer, config(b1=3, b2=5, batch_problems=100))
    assert policy.calls == [(12, 15, ("\n\n",))] + [(36, 5, ("\n\n",))] * 3
    assert scorer.calls == [180, 180, 180, 180]


def test_batch_problems_bounds_each_call():
    problems = make_problems(12)
    policy, scorer = ScriptedPolicy(), ScriptedScorer()
    SEARCHES["sbs"](problems, policy, scorer, config(b1=3, b2=5, batch_problems=5))
    assert [calls for calls, _, _ in policy.calls] == [5, 15, 15, 15, 5, 15, 15, 15, 2, 6, 6, 6]
    assert len(scorer.calls) == 12


def test_finished_problems_leave_the_batch_and_depth_stops_at_the_longest():
    problems = make_problems(2, n_numbers=3) + make_problems(1, n_numbers=6, seed=1)
    policy = ScriptedPolicy()
    SEARCHES["sbs"](problems, policy, ScriptedScorer(), config(b1=2, b2=3))
    # 3 numbers: 3 depths; 6 numbers: 6 depths. Later calls carry only the long problem.
    assert [calls for calls, _, _ in policy.calls] == [3, 6, 6, 2, 2, 2]


def test_finished_solutions_narrow_the_beam():
    problems = make_problems(6, n_numbers=5)
    sink: list[Tree] = []
    SEARCHES["sbs"](
        problems,
        ScriptedPolicy(error_rate=0.1, early_box=True),
        ScriptedScorer(prefer_boxed=True),
        config(b1=3, b2=4),
        tree_sink=sink,
    )
    narrowed = 0
    for tree in sink:
        nodes = tree.nodes
        width = 3
        depths = sorted({n["depth"] for n in nodes if n["depth"] > 0})
        for depth in depths:
            here = [n for n in nodes if n["depth"] == depth]
            selected = [n for n in here if n["visits"]]
            assert len(selected) == min(width, len(here))
            finished_now = sum(1 for n in selected if n["terminal"])
            width -= finished_now
            narrowed += finished_now and depth < depths[-1]
            # only selected, unfinished nodes have children at the next depth
            parents = {n["parent"] for n in nodes if n["depth"] == depth + 1}
            assert parents == {n["id"] for n in selected if not n["terminal"]}
        assert sum(1 for n in nodes if n["terminal"] and n["visits"]) <= 3
    assert narrowed > 0  # the early boxes did finish before the last depth somewhere


def test_max_depth_cuts_the_search():
    problems = make_problems(2, n_numbers=6)
    policy = ScriptedPolicy()
    results = SEARCHES["sbs"](problems, policy, ScriptedScorer(), config(b1=2, b2=2, max_depth=3))
    assert len(policy.calls) == 3
    assert all(r.answer is None and r.meta["n_finished"] == [0] for r in results)


# --------------------------------------------------------------------------------------
# Equalities


def test_sbs_1_1_without_scorer_equals_greedy_at_temperature_zero():
    problems = make_problems(5, n_numbers=3) + make_problems(5, n_numbers=5, seed=3)
    cfg = config(b1=1, b2=1, temperature=0.0)
    greedy = SEARCHES["greedy"](problems, ScriptedPolicy(), None, cfg)
    beam = SEARCHES["sbs"](problems, ScriptedPolicy(), None, cfg)
    assert [r.answer for r in beam] == [r.answer for r in greedy]
    assert [r.steps for r in beam] == [r.steps for r in greedy]
    assert [r.n_generated_tokens for r in beam] == [r.n_generated_tokens for r in greedy]
    assert all(r.answer == p.answer for r, p in zip(greedy, problems, strict=True))


def test_greedy_is_one_backend_call_per_batch():
    policy = ScriptedPolicy()
    SEARCHES["greedy"](make_problems(10), policy, None, config(batch_problems=4))
    assert policy.calls == [(4, 1, ()), (4, 1, ()), (2, 1, ())]


def _write_trees(path, trees):
    with RecordWriter(path, Tree) as writer:
        writer.write_all(trees)


@pytest.mark.parametrize(
    ("settings", "scored"),
    [
        ({"b1": 3, "b2": 5}, True),
        ({"b1": 2, "b2": 4, "vote": True}, True),
        ({"b1": 3, "b2": 3, "runs": 3, "vote": True}, True),
        ({"b1": 3, "b2": 5, "distinct": True}, True),
        ({"b1": 3, "b2": 4, "distinct": True, "vote": True}, True),
        ({"b1": 1, "b2": 4}, False),
    ],
)
def test_offline_reselection_gives_the_online_answer(tmp_path, settings, scored):
    problems = make_problems(10, n_numbers=5)
    cfg = config(**settings)
    scorer = ScriptedScorer(prefer_boxed=True) if scored else None
    sink: list[Tree] = []
    online = SEARCHES["sbs"](
        problems, ScriptedPolicy(error_rate=0.5, early_box=True), scorer, cfg, tree_sink=sink
    )
    assert len(sink) == len(problems) * cfg.runs
    path = tmp_path / "trees.jsonl"
    _write_trees(path, sink)
    rule = "value" if scored else "prior"
    offline = SEARCHES["offline"](
        problems, None, None, config(**settings, trees=str(path), rule=rule)
    )
    assert [r.answer for r in offline] == [r.answer for r in online]
    assert [r.steps for r in offline] == [r.steps for r in online]
    assert [r.meta["chosen_node"] for r in offline] == [r.meta["chosen_node"] for r in online]
    assert [r.meta["chosen_run"] for r in offline] == [r.meta["chosen_run"] for r in online]


def test_offline_with_a_narrower_beam_walks_only_saved_nodes(tmp_path):
    problems = make_problems(6)
    sink: list[Tree] = []
    SEARCHES["sbs"](
        problems, ScriptedPolicy(), ScriptedScorer(), config(b1=3, b2=5), tree_sink=sink
    )
    _write_trees(tmp_path / "t.jsonl", sink)
    results = SEARCHES["offline"](
        problems, None, None, config(b1=1, b2=5, trees=str(tmp_path / "t.jsonl"))
    )
    assert [r.answer for r in results] == [p.answer for p in problems]
    assert all(r.n_generated_tokens == 0 and r.meta["tree_tokens"] > 0 for r in results)


def test_offline_refuses_a_problem_without_a_tree(tmp_path):
    problems = make_problems(2)
    sink: list[Tree] = []
    SEARCHES["sbs"](problems[:1], ScriptedPolicy(), ScriptedScorer(), config(), tree_sink=sink)
    _write_trees(tmp_path / "t.jsonl", sink)
    with pytest.raises(MathverifyError, match="no tree for problem 'p001'"):
        SEARCHES["offline"](problems, None, None, config(trees=str(tmp_path / "t.jsonl")))


# --------------------------------------------------------------------------------------
# Final choice: best, vote within a run, vote across runs


def F(answer, value):  # noqa: N802 - a short constructor for the tables below
    return Finished(answer, value, [], None)


@pytest.mark.parametrize(
    ("items", "clusters", "expected"),
    [
        ([F("1", 0.2), F("2", 0.9), F("3", 0.5)], None, 1),  # best value
        ([F("1", 0.2), F(None, 0.9)], None, 0),  # an answer beats none
        (
            [F(None, 0.2), F(None, 0.9)],
            None,
            None,
        ),  # never an answerless one (step_beam.py:120-127)
        ([F("1", 0.5), F("1", 0.5)], None, 0),  # ties: first
        ([F("1", None), F("2", 0.1)], None, 1),  # no score ranks last
        ([F("1", 0.9), F("2", 0.5), F("2", 0.4)], [0, 1, 1], 1),  # majority, its best member
        ([F("1", 0.9), F("2", 0.5)], [0, 1], 0),  # a tie in votes: the better value
        ([F("1", 0.5), F("2", 0.5)], [0, 1], 0),  # full tie: first seen
        ([F(None, 0.9), F("2", 0.1)], [None, 0], 1),  # no answer, no vote
    ],
)
def test_pick(items, clusters, expected):
    assert pick(items, clusters) == expected


def test_decide_votes_across_runs_over_their_top_answers():
    runs = [
        [[F("7", 0.9), F("5", 0.1)], [F("5", 0.8)], [F("5", 0.7), F("7", 0.2)]],  # 7, 5, 5 -> 5
        [[F("4", 0.3)], [], [F("4", 0.6)]],  # an empty run does not vote
    ]
    decisions = decide(runs, vote_within_run=False, group_by="string", pool=None)
    assert (decisions[0].run, decisions[0].chosen.answer) == (1, "5")
    assert [f.answer for f in decisions[0].run_choices] == ["7", "5", "5"]
    assert (decisions[1].run, decisions[1].chosen.answer) == (2, "4")


def test_decide_votes_within_a_run():
    runs = [[[F("7", 0.9), F("5", 0.2), F("5", 0.1)]]]
    best = decide(runs, vote_within_run=False, group_by="string", pool=None)
    voted = decide(runs, vote_within_run=True, group_by="string", pool=None)
    assert best[0].chosen.answer == "7"
    assert voted[0].chosen.answer == "5" and voted[0].chosen.value == 0.2


def test_sbs_runs_vote_over_the_runs_answers():
    problems = make_problems(6, n_numbers=5)
    results = SEARCHES["sbs"](
        problems,
        ScriptedPolicy(error_rate=0.6, early_box=True),
        None,
        config(b1=1, b2=2, runs=5),
    )
    for result in results:
        answers = result.meta["run_answers"]
        assert len(answers) == 5
        counts = {a: answers.count(a) for a in answers if a is not None}
        assert counts[result.answer] == max(counts.values())


# --------------------------------------------------------------------------------------
# Whole-solution methods on canned completions


class CannedPolicy:
    """Returns fixed solution texts per problem text, in order (temperature ignored)."""

    name = "canned"

    def __init__(self, texts: dict[str, list[str]]) -> None:
        self.texts = texts
        self.calls = 0

    def complete(
        self, prompts, *, n=1, temperature=0.0, top_p=1.0, max_tokens=256, stop=None, seed=0
    ):
        self.calls += 1
        out = []
        for prompt in prompts:
            problem, _ = parse_prompt(prompt)
            texts = self.texts[problem]
            out.append([Completion(texts[i % len(texts)], 10, "eos", -1.0) for i in range(n)])
        return out


class AnswerScorer:
    """Scores every step of a solution with the score given for its boxed answer."""

    name = "answer-scorer"

    def __init__(self, by_answer: dict[str, float]) -> None:
        self.by_answer = by_answer
        self.calls = 0

    def score(self, problems, steps):
        self.calls += 1
        out = []
        for solution in steps:
            answer = re.search(r"\\boxed\{(.*)\}", solution[-1]).group(1)
            out.append([self.by_answer[answer]] * len(solution))
        return out


def boxed(*answers: str) -> list[str]:
    return [f"= work\n\n\\boxed{{{a}}}" for a in answers]


def test_majority_best_of_n_and_weighted_vote_choose_differently():
    problems = [Problem(id="q", problem="Q1", answer="5")]
    policy = CannedPolicy({"Q1": boxed("3", "5", "5", "8")})
    scorer = AnswerScorer({"3": 0.4, "5": 0.3, "8": 0.9})
    cfg = config(n=4)
    assert SEARCHES["majority"](problems, policy, None, cfg)[0].answer == "5"
    assert SEARCHES["best-of-n"](problems, policy, scorer, cfg)[0].answer == "8"
    # sums: 3 -> 0.4, 5 -> 0.6, 8 -> 0.9
    assert SEARCHES["weighted-vote"](problems, policy, scorer, cfg)[0].answer == "8"
    scorer.by_answer["8"] = 0.5
    result = SEARCHES["weighted-vote"](problems, policy, scorer, cfg)[0]
    assert result.answer == "5"
    assert result.meta["weight"] == pytest.approx(0.6)
    assert [c["cluster"] for c in result.candidates] == [0, 1, 1, 2]


def test_best_of_n_aggregations_are_applied():
    problems = [Problem(id="q", problem="Q1")]
    policy = CannedPolicy({"Q1": ["a\n\nb\n\n\\boxed{1}", "c\n\n\\boxed{2}"]})

    class StepScorer:
        name = "steps"

        def score(self, problems, steps):
            table = {"a": 0.2, "b": 1.0, "\\boxed{1}": 1.0, "c": 0.5, "\\boxed{2}": 0.5}
            return [[table[s] for s in solution] for solution in steps]

    chosen = {
        how: SEARCHES["best-of-n"](problems, policy, StepScorer(), config(n=2, aggregate=how))[0]
        for how in ("min", "last", "mean", "product")
    }
    assert chosen["min"].answer == "2"  # min 0.2 vs 0.5
    assert chosen["last"].answer == "1"  # 1.0 vs 0.5
    assert chosen["mean"].answer == "1"  # 0.733 vs 0.5
    assert chosen["product"].answer == "2"  # 0.2 vs 0.25


def test_batched_methods_call_backend_and_scorer_once_per_batch():
    problems = [Problem(id=f"q{i}", problem=f"Q{i}") for i in range(5)]
    policy = CannedPolicy({f"Q{i}": boxed("1", "2") for i in range(5)})
    scorer = AnswerScorer({"1": 0.5, "2": 0.6})
    results = SEARCHES["weighted-vote"](problems, policy, scorer, config(n=6))
    assert (policy.calls, scorer.calls) == (1, 1)
    assert all(r.answer == "2" and len(r.candidates) == 6 for r in results)


def test_weighted_vote_groups_equivalent_answers_with_the_grader():
    problems = [Problem(id="q", problem="Q1")]
    policy = CannedPolicy({"Q1": boxed("\\frac{1}{2}", "0.5", "0.7")})
    scorer = AnswerScorer({"\\frac{1}{2}": 0.3, "0.5": 0.3, "0.7": 0.5})
    by_string = SEARCHES["weighted-vote"](problems, policy, scorer, config(n=3))[0]
    assert by_string.answer == "0.7"
    with GradingPool(workers=1, timeout=10.0) as pool:
        by_grader = SEARCHES["weighted-vote"](
            problems, policy, scorer, config(n=3, group_by="grader"), pool=pool
        )[0]
        clusters = cluster_answers(
            [["1/2", None, "0.5", "2/4", "3", "3.0", "x"]], group_by="grader", pool=pool
        )
    assert by_grader.answer == "\\frac{1}{2}"
    assert clusters == [[0, None, 0, 0, 1, 1, 2]]


# --------------------------------------------------------------------------------------
# Bad settings


@pytest.mark.parametrize(
    ("method", "settings", "has_scorer", "message"),
    [
        ("sbs", {"b1": 6, "b2": 5}, True, "B1 must not exceed B2"),
        ("sbs", {"b1": 0}, True, "--b1 must be at least 1"),
        ("sbs", {"b1": 2}, False, "needs a scorer"),
        ("best-of-n", {}, False, "needs a scorer"),
        ("greedy", {"runs": 3}, False, "--runs applies to sbs"),
        ("sbs", {"aggregate": "max"}, True, "--aggregate 'max'"),
        ("offline", {}, False, "offline needs --trees"),
        ("offline", {"trees": "t.jsonl", "rule": "best"}, False, "--rule 'best'"),
        ("majority", {"n": 0}, False, "--n must be at least 1"),
    ],
)
def test_bad_settings_are_refused(method, settings, has_scorer, message):
    with pytest.raises(MathverifyError, match=re.escape(message)):
        SearchConfig(**settings).check(method, has_scorer=has_scorer)


def test_sbs_1_b2_without_scorer_is_allowed_and_ranks_by_prior():
    SearchConfig(b1=1, b2=4).check("sbs", has_scorer=False)
    problems = make_problems(6)
    results = SEARCHES["sbs"](problems, ScriptedPolicy(error_rate=0.5), None, config(b1=1, b2=4))
    for result in results:
        by_depth: dict[int, list[dict]] = {}
        for candidate in result.candidates:
            by_depth.setdefault(candidate["depth"], []).append(candidate)
        for candidates in by_depth.values():
            best = max(candidates, key=lambda c: c["prior"])  # first of the most probable
            assert [c["node"] for c in candidates if c["selected"]] == [best["node"]]
    # a right step is more probable than a wrong one: the gold chain wins whenever one of
    # the 4 samples of each depth is right, which here is most problems
    assert sum(r.answer == p.answer for r, p in zip(results, problems, strict=True)) >= 3


@pytest.mark.parametrize(
    ("values", "names", "width", "expected"),
    [
        ([0.9, 0.8, 0.7, 0.6], ["a", "a", "b", "c"], 2, [0, 2]),  # the copy gives way
        ([0.5, 0.9, 0.9, 0.1], ["a", "b", "b", "b"], 3, [1, 0]),  # fewer distinct than width
        ([0.2, None, 0.3], ["a", "b", "a"], 2, [2, 1]),  # None ranks last, best copy kept
        ([0.4, 0.4], ["a", "b"], 1, [0]),  # ties keep candidate order
    ],
)
def test_select_beam_distinct(values, names, width, expected):
    from mathverify.search.sbs import select_beam

    indices = list(range(len(values)))
    assert select_beam(indices, width, lambda i: values[i], lambda i: names[i]) == expected
    plain = select_beam(indices, width, lambda i: values[i])
    assert len(plain) == min(width, len(values))


def test_distinct_beam_keeps_different_paths():
    problems = make_problems(8, n_numbers=5)
    sink: list[Tree] = []
    SEARCHES["sbs"](
        problems,
        ScriptedPolicy(error_rate=0.5, early_box=True),
        ScriptedScorer(prefer_boxed=True),
        config(b1=3, b2=5, distinct=True),
        tree_sink=sink,
    )
    for tree in sink:
        by_id = {n["id"]: n for n in tree.nodes}

        def path(node, by_id=by_id):
            steps = []
            while node["parent"] is not None:
                steps.append(node["text"])
                node = by_id[node["parent"]]
            return tuple(reversed(steps))

        kept = [n for n in tree.nodes if n["visits"]]  # visits: 1 when kept in the beam
        depth = {}
        for n in kept:
            depth.setdefault(len(path(n)), []).append(path(n))
        assert all(len(set(paths)) == len(paths) for paths in depth.values())
