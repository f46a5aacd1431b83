"""examples/alphamath: the SVPO round's Makefile wiring (make -n) and svpo_report.py's
paired differences on hand-made result files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "alphamath"


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_svpo_targets_train_from_round1_trees_and_evaluate_beside_round1(tmp_path: Path) -> None:
    card = tmp_path / "runs" / "demo" / "policy" / "mathverify.json"
    card.parent.mkdir(parents=True)
    card.write_text("{}")
    dry = subprocess.run(
        ["make", "-n", "-C", str(EXAMPLE), "svpo", f"ROOT={tmp_path}", "OUT=runs/x"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    lines = dry.splitlines()

    def line_with(*parts: str) -> str:
        found = [line for line in lines if all(p in line for p in parts)]
        assert found, f"no command with {parts}"
        return found[0]

    pairs = line_with("label --method mcts --pairs")
    assert "-i runs/x/round1/trees.jsonl" in pairs and "-o runs/x/svpo1/pairs.jsonl" in pairs
    assert "--min-q-gap 0.5" in pairs and "--max-pairs-per-node 4" in pairs
    train = line_with("train-policy --objective svpo")
    assert "--init runs/demo/policy" in train and "-i runs/x/svpo1/pairs.jsonl" in train
    assert "--beta 0.1" in train and "--value-weight 1.0" in train
    head = line_with("train-value --init runs/x/svpo1/joint")
    assert "--freeze-policy" in head and "-i runs/x/svpo1/train-labels.jsonl" in head
    # The SFT round and the SVPO round are searched the same way, on the same problems.
    for round_ in ("round1", "svpo1"):
        greedy = line_with(f"{round_}/greedy.jsonl", "--method greedy")
        sbs = line_with(f"{round_}/sbs-3-5.jsonl", "--method sbs --b1 3 --b2 5")
        # Greedy reads no scorer (search refuses options its method does not read).
        assert f"--policy runs/x/{round_}/model" in greedy and "--scorer" not in greedy
        assert f"--policy runs/x/{round_}/model --scorer runs/x/{round_}/model" in sbs
        for line in (greedy, sbs):
            assert "--problems runs/x/problems/test.jsonl" in line
        line_with(f"score -s runs/x/{round_}/model", f"-o runs/x/{round_}/auroc-scored.jsonl")
    # Pairs come after the round-1 trees exist; the SVPO head refit after SVPO training.
    mcts = line_with("--method mcts --policy runs/demo/policy", "round1/trees.jsonl")
    assert lines.index(mcts) < lines.index(pairs) < lines.index(train)
    assert lines.index(head) > lines.index(train)


def result(pid: str, right: bool) -> dict:
    return {
        "problem_id": pid,
        "method": "greedy",
        "config": {},
        "answer": "1",
        "steps": [],
        "candidates": [],
        "n_generated_tokens": 10,
        "seconds": 0.1,
        "meta": {"outcome": right},
    }


def test_svpo_report_pairs_rounds_per_seed_and_averages_seeds(tmp_path: Path) -> None:
    outcomes = {
        # seed 0: SVPO +25 greedy; seed 1: SVPO -25 greedy.
        "s0": {"round1": [True, False, False, True], "svpo1": [True, True, False, True]},
        "s1": {"round1": [True, True, False, True], "svpo1": [True, False, False, True]},
    }
    for seed, rounds in outcomes.items():
        for round_, rights in rounds.items():
            for name in ("greedy", "sbs-3-5"):
                write_jsonl(
                    tmp_path / seed / round_ / f"{name}.jsonl",
                    [result(f"q{i}", r) for i, r in enumerate(rights)],
                )
    results = tmp_path / "SVPO.md"
    subprocess.run(
        [
            sys.executable,
            str(EXAMPLE / "svpo_report.py"),
            str(tmp_path / "s0"),
            str(tmp_path / "s1"),
            str(tmp_path / "missing"),
            "--results",
            str(results),
        ],
        check=True,
        capture_output=True,
    )
    text = results.read_text()
    assert "- greedy: SVPO minus SFT +0.0 points, mean of 2 seed(s), SD over seeds 35.4" in text
    assert "greedy: SVPO above SFT: holds: +25.0" in text
    assert "greedy: SVPO above SFT: **does not hold**: -25.0" in text
    assert f"### {tmp_path / 'missing'}\n\nnot run" in text
