"""Which options each search method reads: the table in ``mathverify.search.config``, the
config a result records, and the refusal of a setting a method would ignore."""

from __future__ import annotations

import re

import pytest
from test_search import ScriptedPolicy, ScriptedScorer, make_problems

from mathverify.errors import MathverifyError
from mathverify.search import SEARCHES, SearchConfig, run_search
from mathverify.search.config import METHOD_FIELDS, check_options

# method, with a scorer? -> the fields its results record (besides "method").
RECORDED = [
    ("greedy", False, {"prompt", "temperature", "max_depth", "max_step_tokens", "batch_problems"}),
    ("majority", False, {"prompt", "temperature", "top_p", "seed", "max_depth", "max_step_tokens",
                         "batch_problems", "n", "group_by"}),
    ("best-of-n", True, {"prompt", "temperature", "top_p", "seed", "max_depth", "max_step_tokens",
                         "batch_problems", "n", "aggregate"}),
    ("weighted-vote", True, {"prompt", "temperature", "top_p", "seed", "max_depth",
                             "max_step_tokens", "batch_problems", "n", "aggregate", "group_by"}),
    ("sbs", True, {"prompt", "temperature", "top_p", "seed", "max_depth", "max_step_tokens",
                   "batch_problems", "b1", "b2", "aggregate", "vote", "runs", "distinct",
                   "group_by"}),
    ("sbs", False, {"prompt", "temperature", "top_p", "seed", "max_depth", "max_step_tokens",
                    "batch_problems", "b1", "b2", "vote", "runs", "distinct", "group_by"}),
    ("mcts", True, {"prompt", "temperature", "top_p", "seed", "max_depth", "max_step_tokens",
                    "batch_problems", "b2", "simulations", "c_puct", "mcts_budget", "distinct",
                    "leaves_per_call", "gold_reward", "rollout_mix"}),
    ("mcts", False, {"prompt", "temperature", "top_p", "seed", "max_depth", "max_step_tokens",
                     "batch_problems", "b2", "simulations", "c_puct", "mcts_budget", "distinct",
                     "leaves_per_call", "gold_reward", "rollout"}),
    ("offline", False, {"trees", "rule", "prune", "b1", "b2", "max_depth", "distinct", "vote",
                        "group_by"}),
]  # fmt: skip


def test_every_method_has_a_row():
    assert set(METHOD_FIELDS) == set(SEARCHES)


@pytest.mark.parametrize(("method", "has_scorer", "fields"), RECORDED)
def test_a_config_records_only_the_fields_its_method_reads(method, has_scorer, fields):
    recorded = SearchConfig().to_dict(method, has_scorer=has_scorer)
    assert set(recorded) == {"method", *fields}


def test_greedy_records_the_temperature_it_ran_at():
    assert SearchConfig(temperature=0.7).to_dict("greedy")["temperature"] == 0.0


class SeedRecordingPolicy(ScriptedPolicy):
    """The scripted policy, noting the seed and top-p of every call."""

    def __init__(self) -> None:
        super().__init__()
        self.sampling: list[tuple[int, float]] = []

    def complete(self, prompts, *, seed=0, top_p=1.0, **options):
        self.sampling.append((seed, top_p))
        return super().complete(prompts, seed=seed, top_p=top_p, **options)


def test_greedy_reads_no_seed_and_no_top_p():
    problems = make_problems(3)
    runs = []
    for seed, top_p in ((1, 1.0), (2, 0.5)):
        policy = SeedRecordingPolicy()
        results = SEARCHES["greedy"](problems, policy, None, SearchConfig(seed=seed, top_p=top_p))
        runs.append((policy.sampling, [r.to_dict() for r in results]))
    assert runs[0][0] == runs[1][0]  # the backend sees the same call whatever the seed
    assert [r["config"] for r in runs[0][1]] == [r["config"] for r in runs[1][1]]


@pytest.mark.parametrize(
    ("method", "settings", "has_scorer", "message"),
    [
        # a field the method does not read is refused before its value is looked at
        ("greedy", {"simulations": 0}, False, "--simulations applies to mcts, not greedy"),
        ("greedy", {"temperature": 1.0}, False, "--temperature applies to majority"),
        ("greedy", {"seed": 4}, False, "--seed applies to majority"),
        ("greedy", {"c_puct": -5.0}, False, "--c-puct applies to mcts, not greedy"),
        ("greedy", {"rule": "bogus"}, False, "--rule applies to offline, not greedy"),
        ("majority", {"aggregate": "min"}, False, "--aggregate applies to best-of-n"),
        ("best-of-n", {"group_by": "string"}, True, "--group-by applies to majority"),
        ("sbs", {"trees": "t.jsonl"}, True, "--trees applies to offline, not sbs"),
        ("sbs", {"b1": 1, "aggregate": "min"}, False, "--aggregate applies to sbs only with"),
        ("mcts", {"rollout": False}, True, "--rollout applies to mcts only without a scorer"),
        ("mcts", {"group_by": "string"}, True, "--group-by applies to"),
        ("offline", {"trees": "t", "runs": 2}, False, "--runs applies to sbs, not offline"),
        ("offline", {"trees": "t", "seed": 1}, False, "--seed applies to"),
    ],
)
def test_a_setting_the_method_would_ignore_is_refused(method, settings, has_scorer, message):
    with pytest.raises(MathverifyError, match=re.escape(message)):
        SearchConfig(**settings).check(method, has_scorer=has_scorer)


def test_an_option_given_at_its_default_value_is_refused_too():
    with pytest.raises(MathverifyError, match="--simulations applies to mcts, not greedy"):
        check_options("greedy", ["max_depth", "simulations"], has_scorer=False)
    with pytest.raises(MathverifyError, match="--policy applies to greedy, .*, not offline"):
        check_options("offline", ["trees", "policy"], has_scorer=False)
    check_options("mcts", ["simulations", "problems", "output"], has_scorer=True)


def test_run_search_records_what_the_method_read_given_the_scorer():
    problems = make_problems(2)
    sink: list = []
    unscored = run_search(
        "sbs", problems, ScriptedPolicy(), None, SearchConfig(b1=1, b2=2), tree_sink=sink
    )
    assert all("aggregate" not in r.config for r in [*unscored, *sink]) and len(sink) == 2
    scored = run_search("sbs", problems, ScriptedPolicy(), ScriptedScorer(), SearchConfig())
    assert all(r.config["aggregate"] == "last" for r in scored)


def test_offline_prune_reads_neither_depth_nor_distinct():
    # The released get_solution walks the pruned tree to its answers at any depth and ranks
    # each node on its own: --max-depth and --distinct would be settings it ignores.
    released = SearchConfig(prune=True, rule="q", b1=1)
    assert not {"max_depth", "distinct"} & set(released.to_dict("offline"))
    for bad in (SearchConfig(prune=True, max_depth=5), SearchConfig(prune=True, distinct=True)):
        with pytest.raises(MathverifyError, match="does not apply to offline --prune"):
            bad.check("offline", has_scorer=False)
