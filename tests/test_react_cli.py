"""``--step-format react`` through generate, label --method rollout and search (sbs, mcts).

The backend is the scripted code-step policy of ``test_react_policy`` (no model): it gets a
problem right only when the code it writes is run and the real output fed back.
"""

from __future__ import annotations

import pytest
from test_react_policy import FORMAT, WRONG, CodeStepPolicy
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.data.synthetic import SynthConfig, check_steps, make_splits
from mathverify.records import Problem, RecordWriter, SearchResult, Solution, read_all

runner = CliRunner()
FAST = ["--grade-workers", "1"]


class ExactScorer:
    """A PRM from the synthetic checker: 0.9 for a correct step, 0.1 otherwise."""

    name = "exact"

    def score(self, problems, steps):
        return [
            [0.9 if label else 0.1 for label in check_steps(p, s).labels]
            for p, s in zip(problems, steps, strict=True)
        ]


@pytest.fixture
def problems(tmp_path) -> str:
    _, test = make_splits(SynthConfig(train_size=0, test_size=3, min_ops=2, max_ops=3))
    path = tmp_path / "problems.jsonl"
    with RecordWriter(str(path), Problem) as writer:
        writer.write_all(test)
    return str(path)


@pytest.fixture
def scripted(monkeypatch):
    """Every command's policy loader returns the scripted code-step policy."""
    import mathverify.cli.generate as generate_cli
    import mathverify.cli.label as label_cli
    import mathverify.cli.search as search_cli

    for module in (generate_cli, label_cli, search_cli):
        monkeypatch.setattr(module, "open_policy", lambda *a, **k: (CodeStepPolicy(), FORMAT))
    monkeypatch.setattr(search_cli, "_load_scorer", lambda *a: ExactScorer())


def generate(problems: str, out, *extra: str):
    args = ["generate", "--policy", "x", "-p", problems, "-n", "2", "--temperature", "0"]
    return runner.invoke(app, [*args, "-o", str(out), *extra])


def test_generate_react_runs_the_code(tmp_path, problems, scripted):
    out = tmp_path / "react.jsonl"
    result = generate(problems, out, "--step-format", "react")
    assert result.exit_code == 0, result.output
    assert "code blocks run (ok " in result.output
    by_id = {p.id: p for p in read_all(problems, Problem)}
    solutions = read_all(out, Solution)
    assert len(solutions) == 6
    for solution in solutions:
        assert solution.meta["step_format"] == "react"
        assert "```output\n" in solution.steps[0]
        check = check_steps(by_id[solution.problem_id], solution.steps)
        assert check.final_correct and all(check.labels), solution.text
    # The plain format is the default and runs nothing: the policy's own outputs stay.
    plain = tmp_path / "plain.jsonl"
    result = generate(problems, plain)
    assert result.exit_code == 0, result.output
    assert all(
        s.answer == str(WRONG) and "step_format" not in s.meta for s in read_all(plain, Solution)
    )


def test_label_rollout_react(tmp_path, problems, scripted):
    solutions = tmp_path / "solutions.jsonl"
    assert generate(problems, solutions, "--step-format", "react").exit_code == 0
    args = ["label", "-m", "rollout", "-p", problems, "-i", str(solutions), "--policy", "x"]
    args += ["--rollouts", "2", *FAST]
    react, plain = tmp_path / "react.jsonl", tmp_path / "plain.jsonl"
    result = runner.invoke(app, [*args, "-o", str(react), "--step-format", "react"])
    assert result.exit_code == 0, result.output
    labeled = read_all(react, Solution)
    assert all(s.step_labels == [1.0] * len(s.steps) for s in labeled)
    assert all(s.meta["rollout_step_format"] == "react" for s in labeled)
    # Without running the code the same policy's rollouts believe their own wrong outputs
    # (all but the last operation's prefix, after which no code is left to write).
    result = runner.invoke(app, [*args, "-o", str(plain)])
    assert result.exit_code == 0, result.output
    for s in read_all(plain, Solution):
        assert s.step_labels == [0.0] * (len(s.steps) - 2) + [1.0, 1.0]


@pytest.mark.parametrize(
    "method_args",
    [
        ["--method", "sbs", "--b1", "2", "--b2", "2", "--scorer", "exact", "--group-by", "string"],
        [
            "--method",
            "mcts",
            "--scorer",
            "none",
            "--gold-reward",
            "--simulations",
            "10",
            "--b2",
            "2",
        ],
    ],
)
def test_search_react(tmp_path, problems, scripted, method_args):
    out, trees = tmp_path / "search.jsonl", tmp_path / "trees.jsonl"
    result = runner.invoke(
        app,
        ["search", *method_args, "--policy", "x", "-p", problems, "-o", str(out),
         "--save-tree", str(trees), "--step-format", "react", *FAST],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    results = read_all(out, SearchResult)
    assert len(results) == 3
    for r in results:
        assert r.meta["outcome"] is True and r.config["step_format"] == "react"
        assert "```output\n" in r.steps[0]
    assert "code blocks run" in result.output


def test_bad_step_format_fails_before_loading(tmp_path, problems):
    result = generate(problems, tmp_path / "x.jsonl", "--step-format", "mario")
    assert result.exit_code == 2
    assert "--step-format 'mario'" in result.output
    result = generate(problems, tmp_path / "x.jsonl", "--step-format", "react",
                      "--sandbox-timeout", "0")  # fmt: skip
    assert result.exit_code == 2 and "sandbox timeout must be positive" in result.output
    result = runner.invoke(
        app, ["search", "--method", "offline", "--trees", "t", "-p", problems,
              "--step-format", "react"],
    )  # fmt: skip
    assert result.exit_code == 2 and "offline" in result.output
