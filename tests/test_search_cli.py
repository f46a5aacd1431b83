"""``mathverify search`` end to end: scripted models through the CLI, then a tiny random-init
Hugging Face model through the real backend."""

from __future__ import annotations

import json

import pytest
from test_search import ScriptedPolicy, ScriptedScorer, make_problems
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.models.card import ModelCard
from mathverify.prompting import PromptFormat
from mathverify.records import Problem, RecordWriter, SearchResult, Tree, read_all

runner = CliRunner()
FAST = ["--grade-workers", "1"]
# For the methods that vote (majority, weighted-vote, sbs, offline): no grader pool round trips.
BY_STRING = ["--group-by", "string"]


def write_problems(path, problems: list[Problem]) -> str:
    with RecordWriter(path, Problem) as writer:
        writer.write_all(problems)
    return str(path)


class Loaded(list):
    """The scripted policies the CLI opened (a list), and the paths it opened models from."""

    def __init__(self) -> None:
        super().__init__()
        self.policy_paths: list[str] = []
        self.scorer_paths: list[str] = []


@pytest.fixture
def scripted(monkeypatch):
    """The CLI's model loaders replaced by the scripted policy and scorer.

    The scorer names its source and format as :func:`mathverify.scoring.load_scorer`'s do.
    """
    import mathverify.cli.search as cli

    loaded = Loaded()

    def open_policy(backend, path, **options):
        loaded.policy_paths.append(path)
        loaded.append(ScriptedPolicy(error_rate=0.4))
        return loaded[-1], PromptFormat()

    def load_scorer(path, device, batch_size, scorer_format="auto"):
        loaded.scorer_paths.append(path)
        scorer = ScriptedScorer()
        scorer.source, scorer.scorer_format = path, "scripted-prm"
        return scorer

    monkeypatch.setattr(cli, "open_policy", open_policy)
    monkeypatch.setattr(cli, "_load_scorer", load_scorer)
    return loaded


def test_sbs_then_offline_through_the_cli(tmp_path, scripted):
    problems = write_problems(tmp_path / "p.jsonl", make_problems(7))
    out, trees = tmp_path / "sbs.jsonl", tmp_path / "trees.jsonl"
    common = ["--problems", problems, *FAST, *BY_STRING]
    result = runner.invoke(
        app,
        [
            "search",
            "--method",
            "sbs",
            "--b1",
            "3",
            "--b2",
            "5",
            "--policy",
            "x",
            "--scorer",
            "y",
            "--batch-problems",
            "3",
            "-o",
            str(out),
            "--save-tree",
            str(trees),
            *common,
        ],
    )
    assert result.exit_code == 0, result.output
    online = read_all(out, SearchResult)
    assert len(online) == 7 and len(read_all(trees, Tree)) == 7
    assert all(r.meta["outcome"] is True for r in online)  # a perfect PRM finds the gold chain
    assert "accuracy" in result.output and "100.0" in result.output
    # 7 problems in batches of 3: 3 batches x 4 depths
    assert len(scripted[0].calls) == 12

    off = tmp_path / "offline.jsonl"
    result = runner.invoke(
        app,
        [
            "search",
            "--method",
            "offline",
            "--trees",
            str(trees),
            "--b1",
            "3",
            "--b2",
            "5",
            "-o",
            str(off),
            *common,
        ],
    )
    assert result.exit_code == 0, result.output
    offline = read_all(off, SearchResult)
    assert [(r.problem_id, r.answer, r.steps) for r in offline] == [
        (r.problem_id, r.answer, r.steps) for r in online
    ]
    # `mathverify eval` reads the outcome straight from the results
    result = runner.invoke(app, ["eval", str(out), "--problems", problems, "--json", "-"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["reports"][0]
    assert report["accuracy"] == 1.0 and report["n_problems"] == 7


def test_resume_and_limit_write_each_problem_once(tmp_path, scripted):
    problems = write_problems(tmp_path / "p.jsonl", make_problems(6))
    out = tmp_path / "g.jsonl"
    args = [
        "search",
        "-m",
        "greedy",
        "--policy",
        "x",
        "--problems",
        problems,
        "-o",
        str(out),
        *FAST,
    ]
    assert runner.invoke(app, [*args, "--limit", "2", "--batch-problems", "2"]).exit_code == 0
    first = out.read_text()
    result = runner.invoke(app, [*args, "--resume", "--batch-problems", "2"])
    assert result.exit_code == 0, result.output
    rows = read_all(out, SearchResult)
    assert [r.problem_id for r in rows] == [f"p{i:03d}" for i in range(6)]
    assert out.read_text().startswith(first)
    # the resumed run skipped the finished batch: 2 more backend calls, not 3
    assert len(scripted[-1].calls) == 2
    assert "2 kept from before" in " ".join(result.output.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-m", "sbs", "--b1", "6", "--b2", "5"], "B1 must not exceed B2"),
        (["-m", "sbs", "--b1", "0"], "--b1 must be at least 1"),
        (["-m", "sbs", "--b1", "2", "--scorer", "none"], "needs a scorer"),
        (["-m", "beam"], "--method 'beam'"),
        (["-m", "greedy", "--save-tree", "t.jsonl"], "--save-tree applies to sbs"),
    ],
)
def test_bad_settings_exit_2_with_one_line(tmp_path, args, message):
    result = runner.invoke(app, ["search", *args, "--problems", str(tmp_path / "none.jsonl")])
    assert result.exit_code == 2
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_policy_directory_is_not_a_scorer(tmp_path, monkeypatch):
    policy_dir = tmp_path / "policy"
    ModelCard(kind="policy").save(policy_dir)
    problems = write_problems(tmp_path / "p.jsonl", make_problems(1))
    result = runner.invoke(
        app,
        [
            "search",
            "-m",
            "best-of-n",
            "--policy",
            str(policy_dir),
            "--scorer",
            str(policy_dir),
            "--problems",
            problems,
            "-o",
            str(tmp_path / "o.jsonl"),
        ],
    )
    assert result.exit_code == 2
    assert "is a policy model, not a scorer" in result.output


def test_missing_demo_files_say_run_make_demo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["search"])
    assert result.exit_code == 2
    assert "runs/demo/data/test.jsonl" in result.output and "make demo" in result.output


# --------------------------------------------------------------------------------------
# Defaults never point at files the user did not name, except in the bare demo command


def make_demo(root) -> None:
    """The demo's files as `make demo` leaves them (the models are scripted in these tests)."""
    (root / "runs/demo/policy").mkdir(parents=True)
    (root / "runs/demo/prm").mkdir(parents=True)
    (root / "runs/demo/data").mkdir(parents=True)
    write_problems(root / "runs/demo/data/test.jsonl", make_problems(3))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # a user's policy is never scored by the demo's PRM
        (["-m", "best-of-n", "--policy", "mine", "-p", "p.jsonl"], "best-of-n needs a scorer"),
        (["-m", "sbs", "--b1", "1", "--policy", "mine", "-p", "p.jsonl"], "sbs needs --scorer"),
        (["-m", "mcts", "--gold-reward", "--policy", "mine", "-p", "p.jsonl"], "needs --scorer"),
        # nor run on the demo's policy or problems
        (["-m", "greedy", "-p", "p.jsonl"], "greedy needs --policy"),
        (["-m", "best-of-n", "--scorer", "mine"], "give --problems"),
        (["-m", "offline", "--trees", "t.jsonl"], "give --problems"),
    ],
)
def test_a_named_input_turns_every_demo_default_off(tmp_path, monkeypatch, scripted, args, message):
    monkeypatch.chdir(tmp_path)
    make_demo(tmp_path)
    write_problems(tmp_path / "p.jsonl", make_problems(2))
    result = runner.invoke(app, ["search", *args, "-o", "out.jsonl", *FAST])
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not scripted.scorer_paths and not scripted.policy_paths


def test_outside_the_demo_the_output_must_be_named(tmp_path, monkeypatch, scripted):
    monkeypatch.chdir(tmp_path)
    make_demo(tmp_path)
    args = ["search", "-m", "greedy", "--policy", "mine", "-p", "runs/demo/data/test.jsonl"]
    result = runner.invoke(app, [*args, *FAST])
    assert result.exit_code == 2 and "give -o/--output" in result.output
    assert sorted(p.name for p in (tmp_path / "runs/demo").iterdir()) == ["data", "policy", "prm"]


def test_the_bare_demo_command_says_so_and_never_overwrites(tmp_path, monkeypatch, scripted):
    monkeypatch.chdir(tmp_path)
    make_demo(tmp_path)
    first = runner.invoke(app, ["search", "-m", "best-of-n", "--n", "2", *FAST])
    assert first.exit_code == 0, first.output
    said = " ".join(first.output.split())
    assert "demo's models (policy runs/demo/policy, scorer runs/demo/prm)" in said
    assert "writing runs/demo/search-best-of-n.jsonl" in said
    assert scripted.policy_paths == ["runs/demo/policy"]
    assert scripted.scorer_paths == ["runs/demo/prm"]
    before = (tmp_path / "runs/demo/search-best-of-n.jsonl").read_text()
    second = runner.invoke(app, ["search", "-m", "best-of-n", "--n", "2", *FAST])
    assert second.exit_code == 0, second.output
    assert "writing runs/demo/search-best-of-n-2.jsonl" in " ".join(second.output.split())
    assert (tmp_path / "runs/demo/search-best-of-n.jsonl").read_text() == before
    assert len(read_all(tmp_path / "runs/demo/search-best-of-n-2.jsonl", SearchResult)) == 3
    # a resume must name the file it continues
    third = runner.invoke(app, ["search", "-m", "best-of-n", "--resume", *FAST])
    assert third.exit_code == 2 and "--resume needs -o" in third.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "openai", "--base-url", "http://x", "--dtype", "float16"], "--dtype"),
        (["--tensor-parallel-size", "2"], "--tensor-parallel-size applies to the vllm backend"),
        (["--backend", "vllm", "--base-url", "http://x"], "--base-url applies to the openai"),
    ],
)
def test_a_backend_option_is_refused_before_any_model_loads(tmp_path, scripted, args, message):
    problems = write_problems(tmp_path / "p.jsonl", make_problems(1))
    command = ["search", "-m", "best-of-n", "--policy", "pol", "--scorer", "prm", "-p", problems,
               "-o", str(tmp_path / "o.jsonl"), *args, *FAST]  # fmt: skip
    result = runner.invoke(app, command)
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not scripted.scorer_paths and not scripted.policy_paths


# --------------------------------------------------------------------------------------
# A result says what made it, and holds only the settings its method read

PROMPT = {"template": PromptFormat().template, "separator": PromptFormat().separator}
SAMPLED = {"prompt": PROMPT, "temperature": 1.0, "top_p": 1.0, "seed": 3, "max_depth": 16,
           "max_step_tokens": 256, "batch_problems": 16}  # fmt: skip
# method and options -> the result's whole config: a table to read as the specification.
CONFIGS = [
    (
        ["-m", "greedy"],
        {"method": "greedy", "prompt": PROMPT, "temperature": 0.0, "max_depth": 16,
         "max_step_tokens": 256, "batch_problems": 16},
    ),
    (
        ["-m", "majority", "-n", "4", "-t", "1", "--seed", "3", *BY_STRING],
        {"method": "majority", **SAMPLED, "n": 4, "group_by": "string"},
    ),
    (
        ["-m", "best-of-n", "-n", "4", "-t", "1", "--seed", "3", "--scorer", "prm"],
        {"method": "best-of-n", **SAMPLED, "n": 4, "aggregate": "min"},
    ),
    (
        ["-m", "weighted-vote", "-n", "4", "-t", "1", "--seed", "3", "--scorer", "prm", *BY_STRING],
        {"method": "weighted-vote", **SAMPLED, "n": 4, "aggregate": "min", "group_by": "string"},
    ),
    (
        ["-m", "sbs", "--b1", "2", "-t", "1", "--seed", "3", "--scorer", "prm", *BY_STRING],
        {"method": "sbs", **SAMPLED, "max_depth": 10, "b1": 2, "b2": 5, "aggregate": "last",
         "vote": False, "runs": 1, "distinct": True, "group_by": "string"},
    ),
    (  # without a scorer sbs ranks by the policy's prior: no aggregation read
        ["-m", "sbs", "--b1", "1", "-t", "1", "--seed", "3", "--scorer", "none", *BY_STRING],
        {"method": "sbs", **SAMPLED, "max_depth": 10, "b1": 1, "b2": 5, "vote": False,
         "runs": 1, "distinct": True, "group_by": "string"},
    ),
    (  # with a scorer mcts values leaves by it: --rollout is not read
        ["-m", "mcts", "--simulations", "2", "--b2", "2", "-t", "1", "--seed", "3",
         "--scorer", "prm", "--max-depth", "6"],
        {"method": "mcts", **SAMPLED, "max_depth": 6, "b2": 2, "simulations": 2,
         "c_puct": 1.25, "mcts_budget": "tree", "distinct": False, "leaves_per_call": 1,
         "gold_reward": False, "rollout_mix": 0.0},
    ),
    (
        ["-m", "mcts", "--simulations", "2", "--b2", "2", "-t", "1", "--seed", "3",
         "--scorer", "none", "--gold-reward", "--max-depth", "6"],
        {"method": "mcts", **SAMPLED, "max_depth": 6, "b2": 2, "simulations": 2,
         "c_puct": 1.25, "mcts_budget": "tree", "distinct": False, "leaves_per_call": 1,
         "gold_reward": True, "rollout": True},
    ),
]  # fmt: skip


@pytest.mark.parametrize(("args", "config"), CONFIGS)
def test_a_result_config_holds_only_the_fields_its_method_reads(tmp_path, scripted, args, config):
    problems = write_problems(tmp_path / "p.jsonl", make_problems(2))
    out = tmp_path / "o.jsonl"
    result = runner.invoke(
        app, ["search", *args, "--policy", "pol", "-p", problems, "-o", out, *FAST]
    )
    assert result.exit_code == 0, result.output
    for record in read_all(out, SearchResult):
        assert record.config == config


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # left out: the method's released default (Super_MARIO sbs_sft.yaml, mcts_sft.yaml)
        (["-m", "sbs"], {"temperature": 0.6, "max_depth": 10, "distinct": True}),
        (["-m", "mcts"], {"temperature": 0.6, "max_depth": 9, "distinct": False}),
        (["-m", "best-of-n", "-n", "2"], {"temperature": 0.7, "max_depth": 16}),
        # given: the user's value, even where it equals another method's default
        (
            ["-m", "sbs", "-t", "0.7", "--max-depth", "16", "--no-distinct"],
            {"temperature": 0.7, "max_depth": 16, "distinct": False},
        ),
        (["-m", "mcts", "-t", "1", "--distinct"], {"temperature": 1.0, "distinct": True}),
    ],
)
def test_a_left_out_option_takes_the_method_default(tmp_path, scripted, args, expected):
    problems = write_problems(tmp_path / "p.jsonl", make_problems(1))
    out = tmp_path / "o.jsonl"
    settings = ["--policy", "pol", "--scorer", "prm", "-p", problems, "-o", str(out)]
    small = ["--simulations", "2", "--b2", "2"] if "mcts" in args else []
    result = runner.invoke(app, ["search", *args, *settings, *small, *FAST])
    assert result.exit_code == 0, result.output
    config = read_all(out, SearchResult)[0].config
    assert {name: config[name] for name in expected} == expected


def test_results_and_trees_name_what_made_them(tmp_path, scripted):
    from mathverify import __version__

    problems = write_problems(tmp_path / "p.jsonl", make_problems(3))
    out, trees, off = tmp_path / "o.jsonl", tmp_path / "t.jsonl", tmp_path / "off.jsonl"
    args = ["search", "-m", "sbs", "--b1", "2", "--b2", "3", "--policy", "pol", "--scorer", "prm",
            "-p", problems, "--grading", "lenient", "--no-rule", "units", "-o", out,
            "--save-tree", trees, *FAST, *BY_STRING]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = [*read_all(out, SearchResult), *read_all(trees, Tree)]
    stamped = [row.meta["provenance"]["search"] for row in rows]
    assert all(s == stamped[0] for s in stamped) and len(rows) == 6
    made_by = stamped[0]
    assert made_by["policy"] == "pol" and made_by["backend"] == "hf"
    assert made_by["scorer"] == "prm" and made_by["scorer_format"] == "scripted-prm"
    assert made_by["method"] == "sbs" and (made_by["b1"], made_by["b2"]) == (2, 3)
    assert made_by["grading"] == "lenient" and "units" not in made_by["rules"]
    assert made_by["graders"] == ["math-verify"] and made_by["mathverify_version"] == __version__
    assert "n" not in made_by and "simulations" not in made_by

    args = ["search", "-m", "offline", "--trees", trees, "--b1", "2", "--b2", "3", "-p", problems,
            "-o", off, *FAST, *BY_STRING]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    offline = read_all(off, SearchResult)[0].meta["provenance"]["search"]
    assert offline["trees"] == str(trees) and offline["policy"] is None
    assert offline["scorer"] is None and offline["trees_provenance"] == [made_by]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (["--max-depth", "9"], "max_depth"),
        (["--policy", "other"], "policy"),
        (["--grading", "lenient"], "grading"),
    ],
)
def test_resume_refuses_a_partial_file_written_with_other_settings(
    tmp_path, scripted, change, field
):
    problems = write_problems(tmp_path / "p.jsonl", make_problems(4))
    out = tmp_path / "g.jsonl"
    args = ["search", "-m", "greedy", "-p", problems, "-o", str(out), "--batch-problems", "2"]
    first = runner.invoke(app, [*args, "--policy", "pol", "--limit", "2", *FAST])
    assert first.exit_code == 0, first.output
    before = out.read_text()
    settings = {"--policy": "pol", "--max-depth": "16", "--grading": "strict"}
    settings.update(dict(zip(change[::2], change[1::2], strict=True)))
    again = [*args, *(x for pair in settings.items() for x in pair), "--resume", *FAST]
    result = runner.invoke(app, again)
    assert result.exit_code == 2, result.output
    assert f"setting '{field}'" in result.output
    assert out.read_text() == before


GREEDY_WITH_EVERYTHING = ["--scorer", "/nope", "--simulations", "0", "--c-puct", "-5",
                          "--rule", "bogus", "--trees", "/nope.jsonl", "--b1", "9",
                          "--tensor-parallel-size", "8", "--base-url", "http://x"]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-m", "greedy", *GREEDY_WITH_EVERYTHING], "--scorer applies to best-of-n, "),
        (["-m", "greedy", "--simulations", "40"], "--simulations applies to mcts, not greedy"),
        (["-m", "greedy", "--simulations", "0"], "--simulations applies to mcts, not greedy"),
        (["-m", "greedy", "-t", "0.7"], "--temperature applies to majority"),
        (["-m", "greedy", "--seed", "1"], "--seed applies to majority"),
        (["-m", "greedy", "--scorer", "none"], "--scorer applies to"),
        (["-m", "greedy", "--rule", "value"], "--rule applies to offline, not greedy"),
        (["-m", "majority", "--aggregate", "min"], "--aggregate applies to best-of-n"),
        (["-m", "majority", "--scorer-batch-size", "8"], "--scorer-batch-size applies to"),
        (["-m", "majority", "--save-tree", "t.jsonl"], "--save-tree applies to sbs, mcts, not"),
        (["-m", "best-of-n", "--scorer", "s", "--group-by", "string"], "--group-by applies to"),
        (["-m", "best-of-n", "--scorer", "s", "--b2", "5"], "--b2 applies to sbs, mcts, offline"),
        (["-m", "sbs", "--scorer", "s", "-n", "8"], "-n applies to majority, best-of-n"),
        (["-m", "sbs", "--scorer", "s", "--trees", "t.jsonl"], "--trees applies to offline, not"),
        (
            ["-m", "sbs", "--b1", "1", "--scorer", "none", "--aggregate", "min"],
            "--aggregate applies to sbs only with a scorer",
        ),
        (
            ["-m", "sbs", "--b1", "1", "--scorer", "none", "--scorer-format", "auto"],
            "--scorer-format applies to sbs only with a scorer",
        ),
        (["-m", "mcts", "--scorer", "s", "--no-rollout"], "--rollout applies to mcts only without"),
        (["-m", "mcts", "--scorer", "s", "--runs", "2"], "--runs applies to sbs, not mcts"),
        (["-m", "sbs", "--scorer", "s", "--mcts-budget", "tree"], "--mcts-budget applies to mcts"),
        (["-m", "best-of-n", "--scorer", "s", "--distinct"], "--distinct applies to sbs, mcts,"),
        (["-m", "mcts", "--scorer", "s", "--group-by", "string"], "--group-by applies to"),
        (["-m", "offline", "--trees", "t", "--policy", "x"], "--policy applies to greedy"),
        (["-m", "offline", "--trees", "t", "--max-step-tokens", "6"], "--max-step-tokens applies"),
        (["-m", "offline", "--trees", "t", "--device", "cpu"], "--device applies to greedy"),
        (["-m", "offline", "--trees", "t", "--runs", "2"], "--runs applies to sbs, not offline"),
        (["-m", "greedy", "--sandbox-timeout", "3"], "--sandbox-timeout applies to --step-format"),
    ],
)
def test_an_option_the_method_does_not_read_is_refused(tmp_path, scripted, args, message):
    problems = write_problems(tmp_path / "p.jsonl", make_problems(1))
    base = ["search", "--policy", "pol", "-p", problems, "-o", str(tmp_path / "o.jsonl")]
    if "offline" in args:
        base = ["search", "-p", problems, "-o", str(tmp_path / "o.jsonl")]
    result = runner.invoke(app, [*base, *args, *FAST])
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "o.jsonl").exists() and not scripted.policy_paths


# --------------------------------------------------------------------------------------
# The real backend


@pytest.fixture(scope="module")
def tiny_policy_dir(tmp_path_factory):
    from mathverify.models.tiny import save_random_policy

    directory = save_random_policy(
        tmp_path_factory.mktemp("tiny-policy"),
        hidden_size=64,
        num_layers=1,
        num_heads=2,
        max_positions=256,
    )
    return str(directory)


def test_hf_backend_sbs_saves_trees_that_reselect_to_the_same_answers(tmp_path, tiny_policy_dir):
    problems = write_problems(tmp_path / "p.jsonl", make_problems(4, n_numbers=2))
    out, trees, off = tmp_path / "s.jsonl", tmp_path / "t.jsonl", tmp_path / "o.jsonl"
    common = ["--problems", problems, "--max-depth", "3", *FAST, *BY_STRING]
    result = runner.invoke(
        app,
        [
            "search",
            "-m",
            "sbs",
            "--policy",
            tiny_policy_dir,
            "--scorer",
            "none",
            "--b1",
            "1",
            "--b2",
            "3",
            "--temperature",
            "1.0",
            "--device",
            "cpu",
            "--max-step-tokens",
            "6",
            "-o",
            str(out),
            "--save-tree",
            str(trees),
            *common,
        ],
    )
    assert result.exit_code == 0, result.output
    online = read_all(out, SearchResult)
    saved = read_all(trees, Tree)
    assert len(online) == len(saved) == 4
    for record, tree in zip(online, saved, strict=True):
        assert record.n_generated_tokens > 0
        assert len(tree.nodes) == 1 + len(record.candidates)
        assert all(node["prior"] is not None for node in tree.nodes[1:])
    result = runner.invoke(
        app,
        [
            "search",
            "-m",
            "offline",
            "--trees",
            str(trees),
            "--rule",
            "prior",
            "--b1",
            "1",
            "--b2",
            "3",
            "-o",
            str(off),
            *common,
        ],
    )
    assert result.exit_code == 0, result.output
    offline = read_all(off, SearchResult)
    assert [(r.answer, r.steps) for r in offline] == [(r.answer, r.steps) for r in online]
    assert [r.meta["chosen_node"] for r in offline] == [r.meta["chosen_node"] for r in online]


def test_help_explains_the_per_method_defaults():
    result = runner.invoke(app, ["search", "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.replace("│", " ").split())
    assert "0.6 for sbs and mcts" in said
    assert "configs/sbs_sft.yaml" in said and "configs/mcts_sft.yaml" in said
    assert "per-step" in said and "tree (the default" in said
    assert "on for sbs, off for mcts" in said
