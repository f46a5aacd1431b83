"""examples/alphamath: report.py's step AUROC (all steps and up to the first wrong one), its
round-against-round verdicts and MCTS-against-SBS rows on hand-made files, and shards.sh
running a command per shard, joining the outputs in shard order, and failing when one fails."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mathverify.records import SearchResult, Solution

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "alphamath"
spec = importlib.util.spec_from_file_location("alphamath_report", EXAMPLE / "report.py")
assert spec is not None and spec.loader is not None
report = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = report  # dataclasses look their module up there
spec.loader.exec_module(report)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def solution(pid: str, sid: int, steps: int, **fields) -> dict:
    return {"problem_id": pid, "sample_id": sid, "steps": [f"s{i}" for i in range(steps)]} | fields


def test_step_aurocs_over_all_steps_and_up_to_the_first_wrong(tmp_path: Path) -> None:
    # Solution a: right, wrong, wrong (prefix labels); b: right, right.
    labels = {
        ("p", 0): Solution(**solution("p", 0, 3, step_labels=[1, 0, 0])),
        ("p", 1): Solution(**solution("p", 1, 2, step_labels=[1, 1])),
    }
    scored = write_jsonl(
        tmp_path / "scored.jsonl",
        [
            solution("p", 0, 3, step_scores=[0.9, 0.2, 0.95]),
            solution("p", 1, 2, step_scores=[0.8, 0.7]),
        ],
    )
    found = report.step_aurocs(scored, labels)
    # All steps: right {0.9, 0.8, 0.7} vs wrong {0.2, 0.95}: 3 of 6 pairs ordered -> 0.5.
    assert found["all steps"] == pytest.approx(0.5)
    # Up to the first wrong step: right {0.9, 0.8, 0.7} vs wrong {0.2} -> 1.0; the 0.95 after
    # the error is not counted.
    assert found["to the first wrong step"] == pytest.approx(1.0)
    assert found["steps"] == 5


def result(pid: str, right: bool, tokens: int = 10, seconds: float = 1.0) -> dict:
    return {
        "problem_id": pid,
        "method": "sbs",
        "config": {},
        "answer": "1",
        "steps": [],
        "candidates": [],
        "n_generated_tokens": tokens,
        "seconds": seconds,
        "meta": {"outcome": right},
    }


def rows_for(tmp_path: Path, outcomes: dict[tuple[str, str], list[bool]]) -> dict:
    rows = {}
    for (round_, name), rights in outcomes.items():
        folder = tmp_path / round_
        folder.mkdir(exist_ok=True)
        write_jsonl(folder / f"{name}.jsonl", [result(f"q{i}", r) for i, r in enumerate(rights)])
        rows[round_, name] = report.load_row(tmp_path, round_, name)
    return rows


def test_round_targets_compare_later_rounds_with_earlier_ones(tmp_path: Path) -> None:
    rows = rows_for(
        tmp_path,
        {
            ("round0", "greedy"): [False, False, True, True],
            ("round1", "greedy"): [True, False, True, True],
            ("round0", "sbs-3-5"): [True, True, True, True],
            ("round1", "sbs-3-5"): [True, True, False, True],
        },
    )
    lines = report.round_targets(rows, ["round0", "round1"])
    assert len(lines) == 2
    assert "greedy: round 1 above round 0" in lines[0] and "holds: +25.0" in lines[0]
    assert "SBS(3,5)" in lines[1] and "**does not hold**: -25.0" in lines[1]
    missing = report.round_targets(rows | {("round1", "greedy"): "not run"}, ["round0", "round1"])
    assert "not measured" in missing[0]


def test_mcts_is_compared_with_sbs_on_its_own_problems(tmp_path: Path) -> None:
    folder = tmp_path / "round1"
    folder.mkdir()
    write_jsonl(
        folder / "sbs-3-5.jsonl",
        [result(f"q{i}", i % 2 == 0, tokens=100, seconds=1.0) for i in range(10)],
    )
    write_jsonl(
        folder / "mcts-40.jsonl",
        [result(f"q{i}", True, tokens=1000, seconds=4.0) for i in range(4)],
    )
    rows = {
        (r, n): report.load_row(tmp_path, r, n) for r in ["round1"] for n in ("sbs-3-5", "mcts-40")
    }
    lines = report.mcts_vs_sbs(rows, ["round1"])
    # SBS on q0..q3 is right on q0 and q2: 50%; MCTS 100%: +50 points, 10x tokens, 4x seconds.
    assert any("| SBS(3,5) | 4 | 50.0" in line for line in lines)
    verdict = lines[-1]
    assert "+50.0" in verdict and "same 4 problems" in verdict
    assert "10.0x the generated tokens" in verdict and "4.0x the seconds" in verdict
    assert isinstance(rows["round1", "sbs-3-5"].results[0], SearchResult)


SHARDS = EXAMPLE / "shards.sh"
# A stand-in for `mathverify search`: writes "shard I/N" to the -o file (and the trees file).
FAKE = """
import sys
args = sys.argv[1:]
shard = args[args.index("--shard") + 1]
if "fail" in args and shard.startswith("1/"):
    sys.exit(3)
open(args[args.index("-o") + 1], "a").write(f"result {shard}\\n")
if "--save-tree" in args:
    open(args[args.index("--save-tree") + 1], "a").write(f"tree {shard}\\n")
"""


def test_shards_runs_every_shard_and_joins_in_order(tmp_path: Path) -> None:
    fake = tmp_path / "fake.py"
    fake.write_text(FAKE)
    out, trees = tmp_path / "out.jsonl", tmp_path / "trees.jsonl"
    command = ["bash", str(SHARDS), "3", str(out), str(trees), "--", sys.executable, str(fake)]
    subprocess.run(command, check=True, capture_output=True)
    assert out.read_text() == "result 0/3\nresult 1/3\nresult 2/3\n"
    assert trees.read_text() == "tree 0/3\ntree 1/3\ntree 2/3\n"
    assert not list(tmp_path.glob("*.shard-*"))


def test_shards_fails_and_keeps_the_parts_when_a_shard_fails(tmp_path: Path) -> None:
    fake = tmp_path / "fake.py"
    fake.write_text(FAKE)
    out = tmp_path / "out.jsonl"
    command = ["bash", str(SHARDS), "2", str(out), "-", "--", sys.executable, str(fake), "fail"]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 1 and "a shard failed" in done.stderr
    assert not out.exists()
    assert (tmp_path / "out.jsonl.shard-0").read_text() == "result 0/2\n"


def test_shards_refuses_a_bad_command_line(tmp_path: Path) -> None:
    done = subprocess.run(["bash", str(SHARDS), "2", "out"], capture_output=True, text=True)
    assert done.returncode == 2 and "usage" in done.stderr


def test_an_svpo_report_becomes_a_section_with_its_headings_one_level_down(
    tmp_path: Path,
) -> None:
    svpo = tmp_path / "SVPO-sft.md"
    svpo.write_text("# SVPO against SFT\n\nSettings:\n\n## Summary\n\n### runs/x\n| a |\n")
    lines = report.svpo_section(svpo)
    assert lines[0] == "## SVPO against SFT (SVPO-sft.md)"
    assert "### Summary" in lines and "#### runs/x" in lines and "| a |" in lines
    assert report.svpo_section(tmp_path / "SVPO.md")[0].startswith("## SVPO (SVPO.md): missing")


released_spec = importlib.util.spec_from_file_location(
    "alphamath_released", EXAMPLE / "released.py"
)
assert released_spec is not None and released_spec.loader is not None
released = importlib.util.module_from_spec(released_spec)
sys.modules[released_spec.name] = released
released_spec.loader.exec_module(released)


def write_seeds(folder: Path, rows: dict[str, list[list[bool]]], greedy: list[bool]) -> None:
    write_jsonl(folder / "greedy.jsonl", [result(f"q{i}", r) for i, r in enumerate(greedy)])
    for name, per_seed in rows.items():
        for seed, rights in enumerate(per_seed):
            (folder / f"seed{seed}").mkdir(parents=True, exist_ok=True)
            write_jsonl(
                folder / f"seed{seed}" / f"{name}.jsonl",
                [result(f"q{i}", r) for i, r in enumerate(rights)],
            )


def test_released_section_counts_mean_spread_and_paired_gaps_per_seed(tmp_path: Path) -> None:
    # Two seeds, four problems. SBS(3,5): 3/4 then 2/4; SBS(1,5): 1/4 both times.
    write_seeds(
        tmp_path,
        {
            "sbs-3-5": [[True, True, True, False], [True, True, False, False]],
            "sbs-1-5": [[True, False, False, False], [False, True, False, False]],
        },
        greedy=[True, False, False, False],
    )
    lines = released.section(
        tmp_path,
        ["0", "1"],
        ["sbs-1-5", "sbs-3-5", "mcts-40"],
        "seed{seed}/{row}.jsonl",
        [("sbs-3-5", "sbs-1-5"), ("mcts-40", "sbs-1-5")],
    )
    text = "\n".join(lines)
    # Mean of 75 and 50 is 62.5, sd 17.7; per seed listed; greedy is one run for all seeds.
    assert "| SBS(3,5) | 65.7 | 62.5 ± 17.7 | 75.0, 50.0 |" in text
    assert "| greedy | 53.6 | 25.0 | 25.0 |" in text
    # Paired gaps per seed: +50 and +25; MCTS never ran here, so it is named and its claim left out.
    assert "| SBS(3,5) > SBS(1,5) | +3.4 | +37.5 (+50.0 ± " in text
    assert "holds at every seed" in text
    assert "- not run here: MCTS(40)" in text
    assert "MCTS(40) >" not in text


def test_released_section_names_a_row_missing_at_some_seeds(tmp_path: Path) -> None:
    write_seeds(tmp_path, {"sbs-1-5": [[True, False]]}, greedy=[True, True])
    lines = released.section(tmp_path, ["0", "1"], ["sbs-1-5"], "seed{seed}/{row}.jsonl", [])
    assert "- missing rows: seed1/sbs-1-5" in lines


def test_released_gaps_pair_runs_of_the_same_seed(tmp_path: Path) -> None:
    # Row a ran seeds 0 and 1, row b only seed 1: the one gap is seed 1's (a 1/2 - b 0/2 = +50).
    write_seeds(tmp_path, {"sbs-3-5": [[True, True], [True, False]]}, greedy=[False, False])
    (tmp_path / "seed1").mkdir(exist_ok=True)
    write_jsonl(tmp_path / "seed1" / "sbs-1-5.jsonl", [result("q0", False), result("q1", False)])
    lines = released.section(
        tmp_path,
        ["0", "1"],
        ["sbs-3-5", "sbs-1-5"],
        "seed{seed}/{row}.jsonl",
        [("sbs-3-5", "sbs-1-5")],
    )
    claim = next(line for line in lines if line.startswith("| SBS(3,5) > SBS(1,5)"))
    assert "+50.0 (+50.0 ± 50.0)" in claim and "at 0 of 1 seeds" in claim


def test_an_included_report_keeps_its_text_with_headings_one_level_down() -> None:
    text = "# Ablations\n\n- setting\n\n## Table\n| a |\n```\n# a shell comment\n```\n"
    lines = released.demoted(text)
    assert lines[0] == "## Ablations" and "### Table" in lines and "| a |" in lines
    assert "# a shell comment" in lines  # code is left alone
