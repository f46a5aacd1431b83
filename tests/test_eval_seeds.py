"""`mathverify summarize-seeds`: the demo's headlines over seeds, read from real eval JSON."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.errors import MathverifyError
from mathverify.eval.seeds import Spread, headline, markdown, summarize
from mathverify.records import Problem, Solution, write_records

runner = CliRunner()
N_PROBLEMS, N_SAMPLES = 4, 4


def _solution(i: int, j: int, right: bool, score: float | None = None) -> Solution:
    answer = str(i) if right else str(i + 1)
    return Solution(
        problem_id=f"p{i}",
        sample_id=j,
        steps=[f"\\boxed{{{answer}}}"],
        answer=answer,
        n_tokens=5,
        step_scores=None if score is None else [score],
        outcome=right,  # labeled, as in the demo: eval reads the label and grades nothing
    )


def make_run(root: Path, greedy_right: int, samples_right: int) -> Path:
    """A run directory as `make demo` leaves it, built by the real `eval` command: greedy
    right on the first ``greedy_right`` problems; per problem ``samples_right`` of the 4
    samples right (the wrong ones share one answer), the PRM scoring right ones higher."""
    root.mkdir(parents=True)
    problems = root / "problems.jsonl"
    write_records(
        problems, [Problem(id=f"p{i}", problem=f"{i}+0", answer=str(i)) for i in range(4)]
    )
    greedy = [_solution(i, 0, i < greedy_right) for i in range(N_PROBLEMS)]
    samples = [
        _solution(i, j, j < samples_right, 0.9 if j < samples_right else 0.1)
        for i in range(N_PROBLEMS)
        for j in range(N_SAMPLES)
    ]
    write_records(root / "greedy.jsonl", greedy)
    write_records(root / "samples.jsonl", [replace(s, step_scores=None) for s in samples])
    write_records(root / "samples.prm.jsonl", samples)
    args = ["eval", str(root / "greedy.jsonl"), str(root / "samples.jsonl")]
    args += ["--names", "greedy,sampled", "-p", str(problems), "--json", str(root / "eval.json")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    args = ["eval", str(root / "samples.prm.jsonl"), "--names", "prm-min", "-p", str(problems)]
    args += ["--plot", str(root / "plots"), "--json", str(root / "verifier.json")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("seeds")
    a = make_run(root / "a", greedy_right=2, samples_right=3)  # majority wins
    b = make_run(root / "b", greedy_right=3, samples_right=1)  # majority loses
    return a, b


def test_headline_reads_the_numbers_eval_wrote(runs):
    run = runs[0]
    numbers = headline(run, n=N_SAMPLES)
    assert numbers == {
        "greedy": 0.5,
        "sample": 0.75,
        "maj": 1.0,
        "pass": 1.0,
        "prm_best": 1.0,
        "prm_majority": 1.0,
    }


def test_summary_spread_and_claims_that_hold_at_every_seed(runs):
    a, b = runs
    summary = summarize([a, b], n=N_SAMPLES)
    assert summary.metrics["greedy"].values == [0.5, 0.75]
    assert summary.metrics["greedy"].mean == pytest.approx(0.625)
    assert summary.metrics["greedy"].std == pytest.approx(0.1767767, abs=1e-6)
    assert (summary.metrics["maj"].min, summary.metrics["maj"].max) == (0.0, 1.0)
    assert summary.margins["maj - greedy"].values == pytest.approx([0.5, -0.75])
    assert summary.holds_at_every_seed == {
        "maj > greedy": False,
        "prm_best > greedy": True,
        "prm_best > maj": False,
    }
    table = markdown(summary)
    assert "| greedy | 50.0 | 75.0 | 62.5 | 17.7 | 50.0-75.0 |" in table
    assert "- maj@4 above greedy: NOT at every seed" in table
    assert "- PRM best-of-4 above greedy: at every seed" in table


def test_one_seed_has_zero_spread():
    spread = Spread.of([0.55])
    assert (spread.mean, spread.std, spread.min, spread.max) == (0.55, 0.0, 0.55, 0.55)


def test_a_run_without_the_verifier_leaves_its_rows_out(runs, tmp_path):
    a, b = runs
    shutil.copytree(b, tmp_path / "b")
    (tmp_path / "b" / "verifier.json").unlink()
    summary = summarize([a, tmp_path / "b"], n=N_SAMPLES)
    assert "prm_best" not in summary.metrics
    assert list(summary.holds_at_every_seed) == ["maj > greedy"]


def test_missing_or_wrong_files_are_one_line_errors(runs, tmp_path):
    with pytest.raises(MathverifyError, match="eval.json: no such file"):
        headline(tmp_path)
    (tmp_path / "eval.json").write_text(json.dumps({"reports": []}))
    with pytest.raises(MathverifyError, match="no report named 'greedy'"):
        headline(tmp_path)
    with pytest.raises(MathverifyError, match="no value at 16"):
        headline(runs[0], n=16)


def test_cli_writes_json_and_markdown(runs, tmp_path):
    a, b = runs
    out_json, out_md = tmp_path / "new" / "seeds.json", tmp_path / "new" / "md" / "seeds.md"
    args = ["summarize-seeds", str(a), str(b), "--n", "4"]
    result = runner.invoke(app, [*args, "--json", str(out_json), "--markdown", str(out_md)])
    assert result.exit_code == 0, result.output
    payload = json.loads(out_json.read_text())
    assert payload["metrics"]["maj"]["values"] == [1.0, 0.0]
    assert payload["holds_at_every_seed"]["prm_best > greedy"] is True
    assert out_md.read_text() == markdown(summarize([a, b], n=4))
    assert "maj@4" in result.output
    result = runner.invoke(app, ["summarize-seeds", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_a_headline_some_runs_lack_is_counted_not_dropped_silently(runs, tmp_path):
    a, b = runs
    shutil.copytree(b, tmp_path / "b")
    (tmp_path / "b" / "verifier.json").unlink()
    summary = summarize([a, tmp_path / "b"], n=N_SAMPLES)
    assert summary.left_out == {"prm_best": 1, "prm_majority": 1}
    assert "- PRM best-of-4: left out, missing in 1 of 2 runs" in markdown(summary)
    assert summarize([a, b], n=N_SAMPLES).left_out == {}
    result = runner.invoke(app, ["summarize-seeds", str(a), str(tmp_path / "b"), "--n", "4"])
    assert result.exit_code == 0, result.output
    assert "warning: summarize-seeds: prm_best missing in 1 of 2 runs" in result.output


def test_runs_whose_eval_defines_maj_otherwise_are_not_averaged(runs, tmp_path):
    a, b = runs
    shutil.copytree(b, tmp_path / "b")
    path = tmp_path / "b" / "eval.json"
    payload = json.loads(path.read_text())
    del payload["provenance"]  # an eval.json from before maj@k was over all k-subsets
    path.write_text(json.dumps(payload))
    with pytest.raises(MathverifyError, match="defines maj@k and pass@k otherwise"):
        summarize([a, tmp_path / "b"], n=N_SAMPLES)
