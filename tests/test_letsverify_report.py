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
