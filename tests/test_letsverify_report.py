"""examples/letsverify/report.py: the ProcessBench section laid out from eval's JSON."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from mathverify.eval.processbench import PBSample, evaluate_processbench

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
