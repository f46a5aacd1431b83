"""examples/letsverify/experiments.py: the supervisor's threshold, the data-efficiency factor,
and the out-of-distribution problem filter, on hand-computed cases."""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[1] / "examples" / "letsverify" / "experiments.py"
spec = importlib.util.spec_from_file_location("letsverify_experiments", PATH)
assert spec is not None and spec.loader is not None
experiments = importlib.util.module_from_spec(spec)
spec.loader.exec_module(experiments)


@pytest.mark.parametrize(
    ("labels", "expected"),
    [([1.0, 1.0], None), ([1.0, 0.0, 0.0], 1), ([None, 1.0, 0.0], 2), ([None, 0.4], 1), ([], None)],
)
def test_first_wrong_by_label(labels: list, expected: int | None) -> None:
    assert experiments.first_wrong_by_label(labels) == expected


@pytest.mark.parametrize(
    ("scores", "threshold", "expected"),
    [([0.9, 0.3, 0.8], 0.5, 1), ([0.9, 0.6], 0.5, None), ([0.9, 0.6], 0.7, 1), ([0.5], 0.5, None)],
)
def test_first_wrong_by_threshold(scores: list, threshold: float, expected: int | None) -> None:
    assert experiments.first_wrong_by_threshold(scores, threshold) == expected


# (step scores, exact labels): wrong at step 1; all right; all right but a low first score.
PAIRS = [([0.9, 0.3, 0.8], [1, 0, 0]), ([0.9, 0.6], [1, 1]), ([0.4, 0.9], [1, 1])]


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [(0.2, 2 / 3), (0.35, 1.0), (0.5, 2 / 3), (0.7, 1 / 3)],
)
def test_first_wrong_agreement(threshold: float, expected: float) -> None:
    assert experiments.first_wrong_agreement(PAIRS, threshold) == pytest.approx(expected)


def test_best_threshold_takes_the_best_and_the_lowest_on_ties() -> None:
    assert experiments.best_threshold(PAIRS, [0.2, 0.35, 0.5, 0.7]) == (0.35, 1.0)
    # every threshold in (0.3, 0.4] gets all three; the lower one wins
    assert experiments.best_threshold(PAIRS, [0.4, 0.31])[0] == 0.31


def test_first_wrong_agreement_needs_solutions() -> None:
    with pytest.raises(ValueError, match="no solutions"):
        experiments.first_wrong_agreement([], 0.5)


CURVE = [(400, 0.8), (100, 0.6)]  # unsorted on purpose


@pytest.mark.parametrize(
    ("quality", "expected"),
    [
        (0.7, 200.0),  # halfway in log(labels): sqrt(100 * 400)
        (0.8, 400.0),
        (0.6, 100.0),
        (0.5, 100.0),  # below the first point: no extrapolation
        (0.9, None),  # never reached
    ],
)
def test_budget_to_match(quality: float, expected: float | None) -> None:
    got = experiments.budget_to_match(CURVE, quality)
    assert got == (None if expected is None else pytest.approx(expected))


def test_budget_to_match_takes_the_first_bracket_of_a_curve_that_dips() -> None:
    curve = [(100, 0.6), (200, 0.8), (400, 0.7)]
    # 0.75 is three quarters of the way from 0.6 to 0.8: 100 * 2 ** 0.75
    assert experiments.budget_to_match(curve, 0.75) == pytest.approx(100 * 2**0.75)
    assert math.isclose(100 * 2**0.75, 168.179, rel_tol=1e-4)


def test_efficiency_factor() -> None:
    assert experiments.efficiency_factor(CURVE, 50, 0.7) == pytest.approx(4.0)
    assert experiments.efficiency_factor(CURVE, 400, 0.6) == pytest.approx(0.25)
    assert experiments.efficiency_factor(CURVE, 50, 0.95) is None
    with pytest.raises(ValueError, match="empty"):
        experiments.efficiency_factor([], 50, 0.7)


def _problem(pid: str, expression: str) -> dict:
    return {
        "id": pid,
        "problem": f"Compute {expression}.",
        "answer": "0",
        "meta": {"expression": expression},
    }


def test_novel_drops_seen_and_repeated_expressions_and_renames(tmp_path: Path) -> None:
    seen, new, out = tmp_path / "seen.jsonl", tmp_path / "new.jsonl", tmp_path / "out.jsonl"
    seen.write_text(json.dumps(_problem("synth-test-000000", "1+1")) + "\n")
    rows = [_problem("synth-test-000000", e) for e in ("1+1", "2*3", "2*3", "4-4", "5+5")]
    new.write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = argparse.Namespace(input=new, exclude=[seen], limit=2, prefix="ood-", output=out)
    experiments.cmd_novel(args)
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["id"], r["meta"]["expression"]) for r in kept] == [
        ("ood-000000", "2*3"),
        ("ood-000001", "4-4"),
    ]
    args.limit = 4
    with pytest.raises(SystemExit, match="only 3 novel problems"):
        experiments.cmd_novel(args)


def test_standard_error_in_points() -> None:
    assert experiments.standard_error(0.5, 100) == pytest.approx(5.0)
    assert experiments.standard_error(0.0, 100) == 0.0


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (0.9, 0.5, "yes"),  # 40 points against 2 * hypot(3.0, 5.0) = 11.7
        (0.6, 0.5, "yes, within noise"),  # 10 points against 2 * hypot(4.9, 5.0) = 14.0
        (0.5, 0.5, "**no**"),
        (0.4, 0.5, "**no**"),
    ],
)
def test_beats(a: float, b: float, expected: str) -> None:
    assert experiments.beats(a, b, 100) == expected
