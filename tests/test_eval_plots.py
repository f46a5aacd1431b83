"""``eval --plot DIR``: PNGs written and non-empty, numbers in diagnostics.json as computed by
hand, and clear errors when there is nothing to plot or nothing to grade with."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.eval.calibration import reliability
from mathverify.eval.curves import BestOfNPoint, ComputePoint
from mathverify.eval.plots import (
    BEST_OF_N_PNG,
    COMPUTE_PNG,
    JSON_NAME,
    RELIABILITY_PNG,
    Diagnostics,
    write_diagnostics,
)
from mathverify.records import Problem, SearchResult, Solution, write_records

runner = CliRunner()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_write_diagnostics_writes_every_plot_and_the_numbers(tmp_path):
    rel = reliability([(0.25, 0.0), (0.75, 1.0)], n_bins=2)
    diagnostics = Diagnostics(
        step_calibration={"prm": rel},
        solution_calibration={"prm": rel},
        best_of_n={
            "prm": [
                BestOfNPoint(1, 0.5, 0.5, 0.5, 3),
                BestOfNPoint(2, 0.75, 0.5, 0.8, 3),
            ]
        },
        compute=[
            ComputePoint("greedy", "greedy", 3, 3, 0.25, 40.0),
            ComputePoint("bon4", "best-of-n", 3, 3, 0.5, 160.0),
            ComputePoint("bon16", "best-of-n", 3, 3, 0.625, 640.0),
        ],
    )
    written = write_diagnostics(tmp_path / "plots", diagnostics)
    names = [p.name for p in written]
    assert names == [RELIABILITY_PNG, BEST_OF_N_PNG, COMPUTE_PNG, JSON_NAME]
    for path in written[:3]:
        width, height = png_size(path)
        assert width > 300 and height > 300 and path.stat().st_size > 5000
    numbers = json.loads((tmp_path / "plots" / JSON_NAME).read_text())
    assert numbers["step_calibration"]["prm"]["ece"] == 0.25
    assert numbers["best_of_n"]["prm"][1]["best_of_n"] == 0.75
    assert [p["name"] for p in numbers["accuracy_vs_tokens"]] == ["greedy", "bon4", "bon16"]


def test_write_diagnostics_only_draws_what_has_data(tmp_path):
    diagnostics = Diagnostics(compute=[ComputePoint("g", "greedy", 1, 1, 1.0, 5.0)])
    written = write_diagnostics(tmp_path, diagnostics)
    assert [p.name for p in written] == [COMPUTE_PNG, JSON_NAME]
    assert not (tmp_path / RELIABILITY_PNG).exists()


# --------------------------------------------------------------------------------------
# The command, on hand-made records

# Two problems, four scored samples each, the best-of-N fixture of test_eval_calibration:
# (answer, outcome, score); the score goes in meta.score as `mathverify score` writes it.
SAMPLES = {
    "p": [("1", True, 0.25), ("2", False, 0.875), ("2", False, 0.5), ("1", True, 0.75)],
    "q": [("5", True, 0.5), ("6", False, 0.125), ("5", True, 0.125), (None, False, 0.375)],
}


def scored_solutions() -> list[Solution]:
    out = []
    for pid, samples in SAMPLES.items():
        for i, (answer, outcome, score) in enumerate(samples):
            out.append(
                Solution(
                    problem_id=pid,
                    sample_id=i,
                    steps=["= x", f"\\boxed{{{answer}}}"],
                    answer=answer,
                    n_tokens=10,
                    # step labels: right answers right throughout, wrong ones from step 1
                    step_labels=[1, 1] if outcome else [1, 0],
                    label_source="exact",
                    outcome=outcome,
                    step_scores=[1.0, score],
                    scorer="prm",
                    meta={"score": score, "aggregate": "min"},
                )
            )
    return out


def search_results(method: str, outcomes: list[bool], tokens: int) -> list[SearchResult]:
    return [
        SearchResult(
            problem_id=f"p{i}",
            method=method,
            answer="1",
            n_generated_tokens=tokens * (i + 1),
            meta={"outcome": ok},
        )
        for i, ok in enumerate(outcomes)
    ]


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, str]:
    paths = {
        "scored": tmp_path / "scored.jsonl",
        "greedy": tmp_path / "greedy.jsonl",
        "bon": tmp_path / "bon.jsonl",
    }
    write_records(paths["scored"], scored_solutions())
    write_records(paths["greedy"], search_results("greedy", [True, False, False, False], 10))
    write_records(paths["bon"], search_results("best-of-n", [True, True, False, True], 40))
    return {k: str(v) for k, v in paths.items()}


def test_eval_plot_end_to_end(inputs, tmp_path):
    out = tmp_path / "plots"
    result = runner.invoke(
        app,
        [
            "eval",
            inputs["scored"],
            inputs["greedy"],
            inputs["bon"],
            "--plot",
            str(out),
            "--bins",
            "4",
        ],
    )
    assert result.exit_code == 0, result.output
    for name in (RELIABILITY_PNG, BEST_OF_N_PNG, COMPUTE_PNG):
        assert (out / name).stat().st_size > 0 and png_size(out / name)[0] > 300
    numbers = json.loads((out / JSON_NAME).read_text())
    assert numbers["settings"]["bins"] == 4
    assert "all N-subsets" in numbers["settings"]["best_of_n"]

    # Steps: eight first steps scored 1.0, all right; last steps scored as listed, right when
    # the outcome is. Bins (score sum, right): [.125 F, .125 T] (.25, 1); [.25 T, .375 F]
    # (.625, 1); [.5 F, .5 T] (1, 1); [.875 F, .75 T, 1.0 x8] (9.625, 9).
    step = numbers["step_calibration"]["scored"]
    assert step["n"] == 16
    assert [b["count"] for b in step["bins"]] == [2, 2, 2, 10]
    assert step["ece"] == (0.75 + 0.375 + 0.0 + 0.625) / 16
    # Solutions: meta.score against the outcome; the last bin is (1.625, 1).
    solution = numbers["solution_calibration"]["scored"]
    assert solution["n"] == 8
    assert [b["count"] for b in solution["bins"]] == [2, 2, 2, 2]
    assert solution["ece"] == (0.75 + 0.375 + 0.0 + 0.625) / 8

    # p ranks as in test_eval_curves (best right for 2 of 6 pairs, majority 3 of 6).
    # In q the right "5" at 0.5 now ranks first: best right for EF, EG, EH (3 of 6) and at
    # N=4; majority as there (4 of 6, and right at N=4; p ties 2-2 at N=4: 1/2).
    curve = numbers["best_of_n"]["scored"]
    assert [p["n"] for p in curve] == [1, 2, 4]
    assert curve[1]["best_of_n"] == pytest.approx((2 / 6 + 3 / 6) / 2)
    assert curve[1]["majority"] == pytest.approx((3 / 6 + 4 / 6) / 2)
    assert (curve[2]["best_of_n"], curve[2]["majority"]) == (0.5, 0.75)

    points = {p["method"]: p for p in numbers["accuracy_vs_tokens"]}
    assert (points["greedy"]["accuracy"], points["greedy"]["mean_tokens"]) == (0.25, 25.0)
    assert (points["best-of-n"]["accuracy"], points["best-of-n"]["mean_tokens"]) == (0.75, 100.0)
    assert "calibration and best-of-N" in result.stdout
    assert "best-of-n" in result.stdout and "100.0" in result.stdout


def test_eval_plot_with_problems_also_prints_the_accuracy_table(inputs, tmp_path):
    problems = tmp_path / "problems.jsonl"
    write_records(problems, [Problem(id=pid, problem="?", answer="1") for pid in ("p", "q")])
    result = runner.invoke(
        app,
        [
            "eval",
            inputs["scored"],
            "-p",
            str(problems),
            "--plot",
            str(tmp_path / "out"),
            "--json",
            "-",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["reports"][0]["accuracy"] == 0.5
    assert payload["diagnostics"]["best_of_n"]["scored"][0]["best_of_n"] == 0.5


def test_eval_plot_errors_are_one_line(inputs, tmp_path):
    plain = tmp_path / "plain.jsonl"
    write_records(plain, [Solution(problem_id="p", sample_id=0, steps=["x"], outcome=True)])
    unlabeled = tmp_path / "unlabeled.jsonl"
    write_records(
        unlabeled,
        [Solution(problem_id="p", sample_id=0, steps=["x"], step_scores=[0.5], answer="1")],
    )
    out_of_range = tmp_path / "range.jsonl"
    write_records(
        out_of_range,
        [Solution(problem_id="p", sample_id=0, steps=["x"], step_scores=[3.0], outcome=True)],
    )
    cases = [
        ([str(plain)], "nothing to plot"),
        ([str(unlabeled)], "give --problems (or --qaf) to grade it"),
        ([str(out_of_range)], "range: calibration needs scores in [0, 1]"),
        ([inputs["scored"], "--bins", "0"], "--bins must be at least 1"),
        ([inputs["scored"], "--subsets", "10"], "--subsets is gone"),
    ]
    for args, message in cases:
        result = runner.invoke(app, ["eval", *args, "--plot", str(tmp_path / "out")])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr, (args, result.stderr)


def test_eval_without_problems_or_diagnostics_still_asks_for_problems(inputs):
    result = runner.invoke(app, ["eval", inputs["scored"]])
    assert result.exit_code == 2
    assert "give exactly one of --problems or --qaf" in result.stderr
