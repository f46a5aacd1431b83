"""examples/letsverify/report.py: the ProcessBench section laid out from eval's JSON, seeds
shown as mean +- sd, and the margins over majority vote (--versus-majority)."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path

import pytest

from mathverify.eval.curves import Candidate, problem_points
from mathverify.eval.processbench import PBSample, evaluate_processbench
from mathverify.records import Solution, write_records

PATH = Path(__file__).resolve().parents[1] / "examples" / "letsverify" / "report.py"
spec = importlib.util.spec_from_file_location("letsverify_report", PATH)
assert spec is not None and spec.loader is not None
report = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = report  # its dataclasses look their module up there
spec.loader.exec_module(report)


def test_processbench_section_lays_out_each_split() -> None:
    # math: one erroneous sample found exactly, one missed; the correct one not flagged.
    samples = [
        PBSample("math", 1, (0.9, 0.2, 0.9)),
        PBSample("math", 0, (0.9, 0.9)),
        PBSample("math", None, (0.8, 0.7)),
        PBSample("omnimath", None, (0.1,)),
    ]
    splits = evaluate_processbench(samples, 0.5)
    numbers = {
        "processbench": {
            "threshold": 0.5,
            "threshold_from": "runs/letsverify/processbench/gsm8k.prm.jsonl",
            "held_out_samples": 400,
            "held_out_f1": 0.126,
            "inputs": [
                {
                    "name": "test",
                    "splits": [s.to_dict() for s in splits],
                    "average_f1": 2 / 3,
                }
            ],
        }
    }
    lines = report.processbench_section(numbers)
    text = "\n".join(lines)
    assert "gsm8k split (400 solutions, F1 12.6 there)" in text
    # Erroneous accuracy 1/2, correct accuracy 1/1, F1 = 2/3.
    assert "| math | 2 | 50.0 | 1 | 100.0 | 66.7 |" in lines
    assert "| omnimath | 0 | n/a | 1 | 0.0 | n/a |" in lines
    assert lines[-1] == "Mean F1 over these splits: 66.7."


def test_several_seeds_show_mean_and_standard_deviation() -> None:
    assert report.spread([0.5], report.cell) == "0.500"
    assert report.spread([0.5, 0.7], report.cell) == "0.600 ± 0.141"
    assert report.spread([None, None], report.cell) == "n/a"
    runs = [
        [
            report.BestOfNPoint(1, 0.4, 0.4, 0.4, 10, False),
            report.BestOfNPoint(2, 0.5, 0.3, 0.6, 10, False),
        ],
        [
            report.BestOfNPoint(1, 0.4, 0.4, 0.4, 10, False),
            report.BestOfNPoint(2, 0.7, 0.3, 0.6, 10, False),
        ],
    ]
    points = report.over_seeds(runs)
    assert [p.n for p in points] == [1, 2]
    assert points[1].best_of_n == 0.6 and points[1].seeds == (0.5, 0.7)
    assert points[1].majority == 0.3 and points[1].pass_at_n == 0.6
    assert report.pct_spread(points[1]) == "60.0 ± 14.1"
    assert report.with_se(0.5, 100) == "50.0 ± 5.0"


def test_verifier_names_one_file_per_seed(tmp_path: Path) -> None:
    one = report.parse_verifier("ORM:a.jsonl,b.jsonl:orm", tmp_path)
    assert one.paths == (tmp_path / "a.jsonl", tmp_path / "b.jsonl") and one.kind == "orm"


def test_margins_pair_best_of_n_with_majority_per_problem() -> None:
    # r: best-of-2 1/3, majority 2/3; s: both 1/3 (see test_eval_calibration's SMALL).
    small = {
        "r": [Candidate("1", True, 0.2), Candidate("2", False, 0.9), Candidate("1", True, 0.5)],
        "s": [Candidate("7", False, 0.8), Candidate("5", True, 0.1), Candidate("7", False, None)],
    }
    run = problem_points(small)
    # Scores reversed: the other verifier picks the lowest.
    flipped = {
        pid: [Candidate(c.answer, c.correct, -(c.score or 0.0)) for c in cs]
        for pid, cs in small.items()
    }
    other = problem_points(flipped)
    at = {m.n: m for m in report.margins([run, run], [other])}
    # Differences -1/3 and 0: mean -1/6, SE sd(-1/3, 0) / sqrt(2) = 1/6.
    assert at[2].by_seed == pytest.approx((-100 / 6, -100 / 6))
    assert at[2].se_by_seed == pytest.approx((100 / 6, 100 / 6))
    assert at[1].mean == pytest.approx(0.0)
    # N=3: ours picks b and d (wrong); reversed picks a (right) and f (unscored, 0: wrong).
    assert at[3].lead == pytest.approx(-50.0) and at[3].lead_se == pytest.approx(50.0)
    claims = report.margin_claims(list(at.values()), margin_from=2, margin_at=2)
    assert claims == {
        "above_majority_every_n_every_seed": False,
        "margin_at_beyond_two_se": False,
        "above_other_every_n": False,
    }
    with pytest.raises(SystemExit, match="--margin-at 4"):
        report.margin_claims(list(at.values()), margin_from=2, margin_at=4)


def test_versus_names_are_curves_or_curve_verifiers() -> None:
    labels = {"PRM": ["PRM, min", "PRM, product"], "ORM": ["ORM"]}
    assert report.parse_versus("PRM", labels) == ("PRM, min", None)
    assert report.parse_versus("PRM, product:ORM", labels) == ("PRM, product", "ORM")
    with pytest.raises(SystemExit, match="expected NAME"):
        report.parse_versus("PRM:nope", labels)


def write_scored(path: Path, rng: random.Random, right: float, wrong_answers: int, perfect: bool):
    """20 problems x 16 two-step samples, a share ``right`` right; wrong answers from a pool
    of ``wrong_answers``. Scores: perfect (right above wrong, a little jitter) or random."""
    solutions = []
    for p in range(20):
        for i in range(16):
            correct = rng.random() < right
            score = (0.6 if correct else 0.1) + 0.3 * rng.random() if perfect else rng.random()
            solutions.append(
                Solution(
                    problem_id=f"p{p}",
                    sample_id=i,
                    steps=["a", "b"],
                    answer="42" if correct else f"w{rng.randrange(wrong_answers)}",
                    step_labels=[1.0, 1.0 if correct else 0.0],
                    outcome=correct,
                    first_wrong_step=None if correct else 1,
                    step_scores=[score, score],
                )
            )
    write_records(path, solutions)


def run_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> tuple[str, dict]:
    argv = [
        "report.py",
        str(tmp_path),
        "--verifier",
        "PRM:prm-s0.jsonl,prm-s1.jsonl,prm-s2.jsonl:prm",
        "--verifier",
        "ORM:orm.jsonl:orm",
        "--curve",
        "PRM",
        "--curve",
        "ORM",
        "--results",
        str(tmp_path / "RESULTS.md"),
        "--png",
        str(tmp_path / "best_of_n.png"),
        "--json",
        str(tmp_path / "results.json"),
        *extra,
    ]
    monkeypatch.setattr(sys, "argv", argv)
    report.main()
    return (tmp_path / "RESULTS.md").read_text(), json.loads(
        (tmp_path / "results.json").read_text()
    )


def test_a_perfect_verifier_beats_majority_vote(tmp_path: Path, monkeypatch) -> None:
    # A third right, the wrong answers all alike: majority vote mostly picks the wrong one.
    for seed in range(3):
        write_scored(tmp_path / f"prm-s{seed}.jsonl", random.Random(0), 0.3, 1, perfect=True)
    write_scored(tmp_path / "orm.jsonl", random.Random(0), 0.3, 1, perfect=False)
    text, numbers = run_report(
        tmp_path,
        monkeypatch,
        "--versus-majority",
        "PRM, product:ORM",
        "--margin-from",
        "4",
        "--margin-at",
        "8",
    )
    assert "## PRM, product against majority vote (paired over problems)" in text
    assert "| N | margin | mean paired SE | seed 1: margin ± SE | seed 2: margin ± SE | " in text
    assert "- above majority at every N from 4 to 16 at every seed: yes" in text
    assert "- margin at N = 8 more than two paired standard errors" in text
    assert "- above ORM at every N from 2 to 16 (at N = 1 both keep the one sample): yes" in text
    versus = numbers["versus_majority"]["PRM, product"]
    assert versus["other"] == "ORM" and versus["margin_at"] == 8
    assert all(versus["claims"].values())
    points = {p["n"]: p for p in versus["points"]}
    assert list(points) == [1, 2, 4, 8, 16]
    assert len(points[8]["margin_by_seed"]) == 3 and points[8]["margin"] > 2 * points[8]["mean_se"]
    # The margin is the best-of-N table's gap, in points, on the same subsets.
    curve = {p["n"]: p for p in numbers["best_of_n"]["PRM, product"]}
    gap = 100 * (curve[8]["best_of_n"] - curve[8]["majority"])
    assert points[8]["margin"] == pytest.approx(gap)


def test_a_random_verifier_does_not(tmp_path: Path, monkeypatch) -> None:
    # Most samples right, wrong answers scattered: majority vote is nearly always right.
    for seed in range(3):
        write_scored(tmp_path / f"prm-s{seed}.jsonl", random.Random(seed), 0.6, 50, perfect=False)
    write_scored(tmp_path / "orm.jsonl", random.Random(0), 0.6, 50, perfect=True)
    text, numbers = run_report(
        tmp_path,
        monkeypatch,
        "--versus-majority",
        "PRM:ORM",
        "--margin-from",
        "4",
        "--margin-at",
        "8",
    )
    assert "## PRM, min against majority vote (paired over problems)" in text
    assert "- above majority at every N from 4 to 16 at every seed: **no**" in text
    assert "- above ORM at every N from 2 to 16 (at N = 1 both keep the one sample): **no**" in text
    claims = numbers["versus_majority"]["PRM, min"]["claims"]
    assert claims == {
        "above_majority_every_n_every_seed": False,
        "margin_at_beyond_two_se": False,
        "above_other_every_n": False,
    }
