"""examples/labels/results.py: the steps of one run counted by the exact checker's reason."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from mathverify.data.synthetic import check_steps
from mathverify.records import Problem, Solution, write_records

PATH = Path(__file__).resolve().parents[1] / "examples" / "labels" / "results.py"
spec = importlib.util.spec_from_file_location("labels_results", PATH)
assert spec is not None and spec.loader is not None
results = importlib.util.module_from_spec(spec)
spec.loader.exec_module(results)

PROBLEM = Problem(id="p1", problem="Compute (2+3)*4.", answer="20", source="synthetic")
# steps, what the checker says of them, the rollouts' soft labels (a cut run leaves None)
CASES = [
    (["= 5*4", "= 20", "\\boxed{20}"], ["ok", "ok", "ok"], [1.0, 0.5, 1.0]),
    (
        ["= 6*4", "= 20", "\\boxed{20}"],
        ["wrong value", "unfaithful rewrite", "after error"],
        [0.25, 1.0, 1.0],
    ),
    (["= 5*4", "= 21", "\\boxed{21}"], ["ok", "wrong value", "wrong value"], [0.0, 0.0, None]),
]


def test_breakdown_counts_each_reason_by_the_hard_label(tmp_path: Path, capsys) -> None:
    rows = []
    for sample_id, (steps, reasons, labels) in enumerate(CASES):
        assert check_steps(PROBLEM, steps).reasons == reasons
        rows.append(
            Solution(
                problem_id="p1",
                sample_id=sample_id,
                steps=steps,
                step_labels=labels,
                label_source="rollout-soft-k8",
            )
        )
    write_records(tmp_path / "k8.jsonl", rows)
    write_records(tmp_path / "problems.jsonl", [PROBLEM])
    results.breakdown(tmp_path, "k8", "K=8", tmp_path / "problems.jsonl")
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert table[1:] == [
        "| ok | 4 | 3 | 1 | 0.750 |",
        "| after error | 1 | 1 | 0 | 1.000 |",
        "| unfaithful rewrite | 1 | 1 | 0 | 1.000 |",
        "| wrong value | 2 | 1 | 1 | 0.500 |",
    ]


def test_a_breakdown_run_must_be_one_of_the_runs(tmp_path: Path, monkeypatch) -> None:
    argv = ["results.py", str(tmp_path), "--runs", "k4,k16", "--problems", "p.jsonl"]
    monkeypatch.setattr("sys.argv", [*argv, "--breakdown", "k8"])
    with pytest.raises(SystemExit, match="^--breakdown k8 is not one of --runs k4,k16$"):
        results.main()
