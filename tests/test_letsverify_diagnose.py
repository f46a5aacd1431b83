"""examples/letsverify/diagnose_orm.py: rank correlation and the per-problem measures."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from mathverify.records import Solution

PATH = Path(__file__).resolve().parents[1] / "examples" / "letsverify" / "diagnose_orm.py"
spec = importlib.util.spec_from_file_location("letsverify_diagnose", PATH)
assert spec is not None and spec.loader is not None
diagnose = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = diagnose
spec.loader.exec_module(diagnose)


def test_average_ranks_and_spearman() -> None:
    assert diagnose.ranks(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [2.5, 0.0, 2.5, 1.0]
    assert diagnose.spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert diagnose.spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert diagnose.spearman([1, 1, 1], [1, 2, 3]) is None


def _solution(pid: str, sample: int, answer: str, right: bool, score: float, n: int) -> Solution:
    return Solution(
        problem_id=pid,
        sample_id=sample,
        steps=["= 1"] * n,
        answer=answer,
        n_tokens=10 * n,
        outcome=right,
        step_scores=[None] * (n - 1) + [score],
    )


def test_a_verifier_that_prefers_long_rare_answers() -> None:
    # One problem, 4 samples: the right answer "7" is common and short; the ORM scores the
    # longest, rarest (wrong) sample highest, and ranks the rest by length too.
    solutions = [
        _solution("p", 0, "7", True, 0.1, 1),
        _solution("p", 1, "7", True, 0.2, 2),
        _solution("p", 2, "8", False, 0.3, 3),
        _solution("p", 3, "9", False, 0.9, 4),
    ]
    r = diagnose.analyse(solutions, "last", seed=0, examples=1)
    assert r["within_auroc"] == 0.0 and r["spearman_length"] == pytest.approx(1.0)
    assert r["spearman_answer_share"] < 0 and r["answer_share_auroc"] == 1.0
    assert r["shorter_is_right_auroc"] == 1.0
    top = r["top1"]
    assert top["right"] == 0.0 and top["mean_score"] == pytest.approx(0.9)
    assert top["median_answer_share"] == 0.25 and top["median_length_ratio"] == pytest.approx(1.6)
    assert r["best_of_n"][1] == 0.5 and r["best_of_n"][4] == 0.0
    assert r["wrong_top"][0]["answer"] == "9"
    assert top["calibration"] == [{"bin": "0.8-1.0", "n": 1, "mean_score": 0.9, "right": 0.0}]
