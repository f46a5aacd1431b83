"""examples/math500: the Makefile's commands (make -n), the report's arithmetic and anchors,
and a small end-to-end run with stand-in models (a tiny random policy and a tiny random
qwen-prm format PRM, made on the spot) on the first MATH500 problems."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import public_models as pm
import pytest
from conftest import REPO_ROOT, require_data

EXAMPLE = REPO_ROOT / "examples" / "math500"
ROWS = "greedy majority bon-min bon-last bon-product weighted-vote sbs-1 sbs-3 mcts".split()

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _make(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **env}
    return subprocess.run(
        ["make", "-C", str(EXAMPLE), f"PYTHON={sys.executable}", *args],
        capture_output=True,
        text=True,
        env=environment,
    )


@needs_make
def test_make_n_runs_every_row_with_the_given_models(tmp_path: Path) -> None:
    done = _make(
        "-n",
        "POLICY=org/policy",
        "PRM=org/prm",
        "PRM_FORMAT=rlhflow",
        "BACKEND=vllm",
        "N=8",
        f"OUT={tmp_path}/out",
    )
    assert done.returncode == 0, done.stderr
    searches = [line for line in done.stdout.splitlines() if " search " in line]
    assert len(searches) == len(ROWS)
    assert all("--policy org/policy --backend vllm" in line for line in searches)
    wanted = {
        "greedy": "--method greedy",
        "majority": "--method majority --n 8",
        "bon-min": "--method best-of-n --n 8 --scorer org/prm --scorer-format rlhflow",
        "bon-product": "--aggregate product",
        "weighted-vote": "--method weighted-vote --n 8",
        "sbs-1": "--method sbs --b1 1 --b2 5",
        "sbs-3": "--method sbs --b1 3 --b2 5",
        "mcts": "--method mcts --b2 5 --simulations 40",
    }
    for row, option in wanted.items():
        line = next(line for line in searches if f"{row}.jsonl.part" in line)
        assert option in line, (row, line)
    assert "--scorer" not in next(line for line in searches if "greedy.jsonl" in line)
    assert "data math500" in done.stdout and "report.py" in done.stdout


def _result(pid: str, outcome: bool, tokens: int, seconds: float) -> dict:
    return {
        "problem_id": pid,
        "method": "greedy",
        "answer": "1",
        "n_generated_tokens": tokens,
        "seconds": seconds,
        "meta": {"outcome": outcome},
    }


def test_report_accuracy_by_level_and_matching_anchors(tmp_path: Path) -> None:
    problems = tmp_path / "problems.jsonl"
    levels = {"a": 1, "b": 1, "c": 5, "d": 5}
    problems.write_text(
        "".join(
            json.dumps({"id": k, "problem": "?", "answer": "1", "meta": {"level": v}}) + "\n"
            for k, v in levels.items()
        )
    )
    out = tmp_path / "out"
    out.mkdir()
    rows = [_result("a", True, 10, 1.0), _result("b", False, 20, 2.0)]
    rows += [_result("c", True, 30, 3.0), _result("d", True, 40, 4.0)]
    (out / "greedy.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    results = tmp_path / "RESULTS.md"
    command = [sys.executable, str(EXAMPLE / "report.py"), str(out), "--rows", "greedy sbs-3"]
    command += [
        "--problems",
        str(problems),
        "--policy",
        "x/AlphaMath-7B",
        "--prm",
        "x/AlphaMath-7B",
    ]
    subprocess.run([*command, "-o", str(results)], check=True, capture_output=True)
    text = results.read_text()
    greedy = next(line for line in text.splitlines() if line.startswith("| greedy |"))
    cells = [c.strip() for c in greedy.split("|")[1:-1]]
    assert cells[1].startswith("75.0 ± 21.7 (4)")
    assert cells[2] == "50.0 (2)" and cells[6] == "100.0 (2)" and cells[3] == ""
    assert cells[7] == "25" and cells[8] == "2.50"
    assert cells[9] == "53.62 [1]"  # AlphaMath's greedy, its policy matched
    sbs = next(line for line in text.splitlines() if line.startswith("| SBS(3,5) |"))
    assert "(not run)" in sbs and "65.74" in sbs
    assert "Super_MARIO" in text and "arXiv:2312.08935" in text
    # Another policy: no published number in the table, the list stays.
    subprocess.run(
        [*command[:-4], "--policy", "other", "--prm", "other", "-o", str(results)],
        check=True,
        capture_output=True,
    )
    greedy = next(
        line for line in results.read_text().splitlines() if line.startswith("| greedy |")
    )
    assert greedy.rstrip().endswith("|  |")


@pytest.mark.slow
@needs_make
def test_the_whole_example_with_stand_in_models(tmp_path: Path) -> None:
    require_data("math500", "test.jsonl")
    from mathverify.models.tiny import save_random_policy

    policy = save_random_policy(
        tmp_path / "policy",
        hidden_size=64,
        num_layers=2,
        num_heads=2,
        max_positions=4096,
        weight_std=0.1,
    )
    prm = pm.save_qwen_prm(tmp_path / "prm")
    done = _make(
        f"POLICY={policy}",
        f"PRM={prm}",
        "PRM_FORMAT=qwen-prm",
        "BACKEND=hf",
        "N=2",
        "LIMIT=3",
        "SIMULATIONS=2",
        "MAX_DEPTH=3",
        "MAX_STEP_TOKENS=12",
        "DEVICE=cpu",
        f"DATA={os.environ['MATHVERIFY_DATA']}",
        f"OUT={tmp_path}/out",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for row in ROWS:
        records = [
            json.loads(line)
            for line in (tmp_path / "out" / f"{row}.jsonl").read_text().splitlines()
        ]
        assert len(records) == 3
        assert all(isinstance(r["meta"]["outcome"], bool) for r in records)
    text = (tmp_path / "out" / "RESULTS.md").read_text()
    assert "| maj@2 |" in text and "| MCTS (N=2, B2=5) |" in text and "(not run)" not in text
