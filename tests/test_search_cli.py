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
FAST = ["--grade-workers", "1", "--group-by", "string"]


def write_problems(path, problems: list[Problem]) -> str:
    with RecordWriter(path, Problem) as writer:
        writer.write_all(problems)
    return str(path)


@pytest.fixture
def scripted(monkeypatch):
    """The CLI's model loaders replaced by the scripted policy and scorer."""
    import mathverify.cli.search as cli

    policies: list[ScriptedPolicy] = []

    def open_policy(backend, path, **options):
        policies.append(ScriptedPolicy(error_rate=0.4))
        return policies[-1], PromptFormat()

    monkeypatch.setattr(cli, "open_policy", open_policy)
    monkeypatch.setattr(
        cli, "_load_scorer", lambda path, device, batch_size, scorer_format="auto": ScriptedScorer()
    )
    return policies


def test_sbs_then_offline_through_the_cli(tmp_path, scripted):
    problems = write_problems(tmp_path / "p.jsonl", make_problems(7))
    out, trees = tmp_path / "sbs.jsonl", tmp_path / "trees.jsonl"
    common = ["--problems", problems, *FAST]
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


def test_missing_demo_defaults_say_run_make_demo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["search"])
    assert result.exit_code == 2
    assert "runs/demo/data/test.jsonl" in result.output and "make demo" in result.output
    write_problems(tmp_path / "p.jsonl", make_problems(1))
    result = runner.invoke(app, ["search", "-m", "greedy", "--problems", "p.jsonl"])
    assert result.exit_code == 2
    assert "--policy defaults to runs/demo/policy" in result.output


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
    common = ["--problems", problems, "--max-depth", "3", "--max-step-tokens", "6", *FAST]
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
