"""``label``, ``score`` and ``select``: an option the chosen method does not read is an error
naming it, and ``--resume`` refuses a partial file written with other settings.

A user ran ``label -m outcome --policy /nonexistent --k 0 --temperature -3 --scorer /nope
--threshold 7`` and got exit 0: every option was dropped silently. (Typer >= 0.29 vendors
its own click, so an option counted as given only if its source compares by name.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_scoring import prm_dir  # noqa: F401  (module fixture: a tiny trained-format PRM)
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.records import Problem, Solution, read_all, write_records

runner = CliRunner()


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    problems = [Problem(id=f"p{i}", problem=f"{i} + 1", answer=str(i + 1)) for i in range(3)]
    # Written by another tool: no "answer" field, so it is extracted from the steps.
    solutions = [
        {"problem_id": f"p{i}", "sample_id": 0, "steps": [f"{i} + 1", f"\\boxed{{{i + 1}}}"]}
        for i in range(3)
    ]
    problems_path, solutions_path = tmp_path / "p.jsonl", tmp_path / "s.jsonl"
    write_records(problems_path, problems)
    solutions_path.write_text("".join(json.dumps(s) + "\n" for s in solutions))
    return problems_path, solutions_path


@pytest.mark.parametrize(
    ("method", "extra", "named"),
    [
        ("outcome", ["--rollouts", "0"], "--rollouts"),
        ("outcome", ["--policy", "/nonexistent"], "--policy"),
        ("outcome", ["--scorer", "/nope"], "--scorer"),
        ("outcome", ["--threshold", "7"], "--threshold"),
        ("outcome", ["--temperature", "-3"], "--temperature"),
        ("exact", ["--grading", "lenient"], "--grading"),
        ("supervisor", ["--rollouts", "4"], "--rollouts"),
        ("mcts", ["--min-q-gap", "0.1"], "--min-q-gap"),
    ],
)
def test_an_option_the_method_does_not_read_is_an_error_naming_it(
    inputs: tuple[Path, Path], tmp_path: Path, method: str, extra: list[str], named: str
) -> None:
    problems, solutions = inputs
    out = tmp_path / "out.jsonl"
    args = ["label", "-m", method, "-p", str(problems), "-i", str(solutions), "-o", str(out)]
    result = runner.invoke(app, [*args, *extra])
    assert result.exit_code == 2, result.output
    assert named in result.output and "does not apply" in result.output
    assert not out.exists()


def test_options_left_at_their_defaults_are_not_refused(
    inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    problems, solutions = inputs
    out = tmp_path / "out.jsonl"
    args = ["label", "-m", "outcome", "-p", str(problems), "-i", str(solutions), "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["outcome"] for row in rows] == [True, True, True]
    assert rows[0]["meta"]["provenance"]["label"]["method"] == "outcome"


def test_label_resume_with_another_grading_mode_is_refused(
    inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    problems, solutions = inputs
    out = tmp_path / "out.jsonl"
    args = ["label", "-m", "outcome", "-p", str(problems), "-i", str(solutions), "-o", str(out)]
    assert runner.invoke(app, [*args, "--grading", "strict"]).exit_code == 0
    before = out.read_text()
    result = runner.invoke(app, [*args, "--grading", "lenient", "--resume"])
    assert result.exit_code == 2, result.output
    assert "grading" in result.output
    assert out.read_text() == before


def test_score_resume_with_another_aggregation_is_refused(
    prm_dir: Path,  # noqa: F811
    inputs: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    problems, solutions = inputs
    out = tmp_path / "scored.jsonl"
    args = ["score", "-s", str(prm_dir), "-p", str(problems), "-i", str(solutions), "-o", str(out)]
    first = runner.invoke(app, [*args, "--aggregate", "min"])
    assert first.exit_code == 0, first.output
    row = json.loads(out.read_text().splitlines()[0])
    assert row["meta"]["provenance"]["score"]["scorer"] == str(prm_dir)
    before = out.read_text()
    result = runner.invoke(app, [*args, "--aggregate", "product", "--resume"])
    assert result.exit_code == 2, result.output
    assert "aggregate" in result.output
    assert out.read_text() == before


def test_select_refuses_an_option_its_strategy_does_not_read(
    inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    _, solutions = inputs
    args = ["select", "-i", str(solutions), "-o", str(tmp_path / "picked.jsonl")]
    result = runner.invoke(app, [*args, "--strategy", "uniform", "--random-share", "0.5"])
    assert result.exit_code == 2, result.output
    assert "--random-share" in result.output


def test_a_solution_without_an_answer_field_commits_to_its_texts_answer(tmp_path: Path) -> None:
    # A record from another tool has no "answer": graded as "no answer" it was wrong, exit 0.
    path = tmp_path / "s.jsonl"
    rows = [
        {"problem_id": "p", "sample_id": 0, "steps": ["1 + 1", "\\boxed{2}"]},
        {"problem_id": "p", "sample_id": 1, "steps": ["x"], "text": "so #### 7"},
        {"problem_id": "p", "sample_id": 2, "steps": ["\\boxed{2}"], "answer": None},
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert [s.answer for s in read_all(path, Solution)] == ["2", "7", None]
