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


def write_rounds(root: Path, outcomes: dict[str, dict[str, list[bool]]]) -> None:
    """Greedy and SBS(3,5) results per seed folder and round: one outcome per problem."""
    for seed, rounds in outcomes.items():
        for round_, rights in rounds.items():
            for name in ("greedy", "sbs-3-5"):
                write_jsonl(
                    root / seed / round_ / f"{name}.jsonl",
                    [result(f"q{i}", r) for i, r in enumerate(rights)],
                )


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
    write_rounds(tmp_path, outcomes)
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


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_svpo_ablations_train_every_row_from_the_same_trees_and_search_beside_sft(
    tmp_path: Path,
) -> None:
    card = tmp_path / "runs" / "demo" / "policy" / "mathverify.json"
    card.parent.mkdir(parents=True)
    card.write_text("{}")
    dry = subprocess.run(
        ["make", "-n", "-C", str(EXAMPLE), "svpo-ablations", f"ROOT={tmp_path}"]
        + ["ABL_OUT=runs/abl", "ABL_SEEDS=0"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # One line per command: recipe lines continued with a backslash joined.
    lines = dry.replace("\\\n\t", "").splitlines()

    def line_with(*parts: str) -> str:
        found = [line for line in lines if all(p in line for p in parts)]
        assert found, f"no command with {parts}"
        return found[0]

    out = "runs/abl/seed0"
    # The trees: AlphaMath's released budget (40 iterations on one tree per problem).
    mcts = line_with("--method mcts --policy runs/demo/policy", f"{out}/round1/trees.jsonl")
    assert "--simulations 40" in mcts and "--mcts-budget tree" in mcts
    assert "--mcts-budget per-step" not in mcts and "--distinct" not in mcts
    pair_sets = {
        "base": "--min-q-gap 0.5 --max-pairs-per-node 4",
        "gap": "--min-q-gap 1.0 --max-pairs-per-node 4",
        "visits": "--min-q-gap 0.5 --max-pairs-per-node 4 --min-visits 2",
        "signs": "--min-q-gap 0.5 --max-pairs-per-node 4 --opposite-q-signs",
    }
    for name, options in pair_sets.items():
        pairs = line_with("label --method mcts --pairs", f"{out}/ablation/pairs-{name}.jsonl")
        assert f"{options} &&" in pairs and f"-i {out}/round1/trees.jsonl" in pairs
        assert lines.index(mcts) < lines.index(pairs)
    nll = "--sft-weight 1 --lr 1e-4 --beta 0.1"
    rows = {
        "dpo": ("base", "--value-weight 0 --sft-weight 0 --lr 1e-4 --beta 0.1"),
        "nll": ("base", nll),
        "mse": ("base", f"{nll} --value-weight 1 --value-features likelihood --value-head mlp"),
        "margin": (
            "base",
            f"{nll} --value-weight 1 --value-features likelihood --value-head mlp "
            "--value-loss mse+margin",
        ),
        "gap": ("gap", nll),
        "visits": ("visits", nll),
        "signs": ("signs", nll),
        "lr": ("base", "--sft-weight 1 --lr 2e-5 --beta 0.1"),
        "beta": ("base", "--sft-weight 1 --lr 1e-4 --beta 0.5"),
    }
    sft_sbs = line_with(f"{out}/round1/sbs-3-5.jsonl", "--method sbs --b1 3 --b2 5")
    assert f"--policy {out}/round1/model --scorer {out}/round1/model" in sft_sbs
    for name, (pair_set, options) in rows.items():
        train = line_with("train-policy --objective svpo", f"-o {out}/ablation/{name}/policy ")
        assert f"-i {out}/ablation/pairs-{pair_set}.jsonl" in train
        assert "--init runs/demo/policy" in train and f"--seed 0 {options} &&" in train
        greedy = line_with(f"{out}/ablation/{name}/greedy.jsonl", "--method greedy")
        sbs = line_with(f"{out}/ablation/{name}/sbs-3-5.jsonl", "--method sbs --b1 3 --b2 5")
        assert "--scorer" not in greedy
        # Every row's SBS ranks by the SFT round's value, on the SFT round's test problems.
        assert f"--policy {out}/ablation/{name}/policy --scorer {out}/round1/model" in sbs
        # The same search as the SFT round's, but for the policy.
        assert search_args(sbs).replace(f"{out}/ablation/{name}/policy", "POLICY") == search_args(
            sft_sbs
        ).replace(f"{out}/round1/model --scorer", "POLICY --scorer")
        assert lines.index(train) < lines.index(greedy)
    report = line_with("svpo_ablation.py", "runs/abl/seed0 --results")
    assert '--row "margin|base|+ NLL + value MSE + margin|' in report
    # The start policy's greedy on the same test problems, the reference of both rounds.
    start = line_with("runs/abl/start/greedy.jsonl", "--method greedy")
    assert "--policy runs/demo/policy --problems runs/abl/start/test.jsonl" in start
    assert search_args(start).split(" --policy")[0] == search_args(greedy).split(" --policy")[0]
    assert "--start runs/abl/start/greedy.jsonl" in report


def search_args(line: str) -> str:
    """The mathverify search command of a shards.sh line (after ``--``, before the timing)."""
    return line.split(" -- ", 1)[1].split(" && echo", 1)[0]


def pair_record(prefix: list[str], chosen: str, rejected: str, node: int) -> dict:
    return {
        "problem_id": "q",
        "node": node,
        "prefix": prefix,
        "chosen": chosen,
        "rejected": rejected,
        "chosen_q": 1.0,
        "rejected_q": -1.0,
    }


def test_svpo_ablation_report_pair_precision_and_paired_differences(tmp_path: Path) -> None:
    # Compute 2+3*4 = 14. By the exact checker, after the prefix: 2+12 right, 2+13 wrong;
    # 14 right; after the wrong prefix 2+13 every step is wrong; 5*4 (= 20) wrong.
    pairs = [
        pair_record([], "= 2+12", "= 2+13", 0),  # right > wrong
        pair_record([], "= 14", "= 2+12", 1),  # both right
        pair_record(["= 2+13"], "= 15", "= 16", 2),  # both wrong
        pair_record([], "= 5*4", "= 14", 3),  # wrong > right
    ]
    outcomes = {
        # seed 0: the row +25 points over the SFT round; seed 1: -25.
        "seed0": {"round1": [True, False, False, True], "ablation/dpo": [True, True, False, True]},
        "seed1": {"round1": [True, True, False, True], "ablation/dpo": [True, False, False, True]},
    }
    for seed in outcomes:
        write_jsonl(
            tmp_path / seed / "problems" / "train-round1.jsonl",
            [{"id": "q", "problem": "Compute 2+3*4.", "answer": "14"}],
        )
        write_jsonl(tmp_path / seed / "ablation" / "pairs-base.jsonl", pairs)
    write_rounds(tmp_path, outcomes)
    # The gap row: its pairs exist at seed 0 only (the same four), its results nowhere.
    write_jsonl(tmp_path / "seed0" / "ablation" / "pairs-gap.jsonl", pairs[:1])
    results = tmp_path / "ABLATIONS.md"
    subprocess.run(
        [sys.executable, str(EXAMPLE / "svpo_ablation.py")]
        + [str(tmp_path / "seed0"), str(tmp_path / "seed1"), str(tmp_path / "seed9")]
        + ["--row", "dpo|base|DPO alone|--value-weight 0", "--row", "gap|gap|gap 1|"]
        + ["--results", str(results)],
        check=True,
        capture_output=True,
    )
    text = results.read_text()
    assert (
        "| dpo | DPO alone | base | 4 | 25.0 | 25.0 | 25.0 | 25.0 | "
        "+0.0 (SD 35.4, 2 seeds) | +0.0 (SD 35.4, 2 seeds) |" in text
    )
    # gap: one pair at seed 0 (right > wrong), none measured at seed 1; no search results.
    assert "| gap | gap 1 | gap | 1 | 100.0 | 0.0 | 0.0 | 0.0 | n/a | n/a |" in text
    assert "best row by the greedy paired mean over seeds: dpo (+0.0 points), at or above" in text
    assert "| dpo | 4 | 25.0 | 75.0 | +25.0 ± 25.0 | 75.0 | +25.0 ± 25.0 |" in text
    assert "| dpo | 4 | 25.0 | 50.0 | -25.0 ± 25.0 |" in text
    assert f"### {tmp_path / 'seed9'}\n\nnot run" in text


def test_svpo_ablation_report_compares_rounds_with_the_start_policy(tmp_path: Path) -> None:
    outcomes = {
        "seed0": {"round1": [True, False, False, True], "ablation/dpo": [True, True, False, True]},
        "seed1": {"round1": [True, True, False, True], "ablation/dpo": [True, False, False, True]},
    }
    write_rounds(tmp_path, outcomes)
    start = tmp_path / "start.jsonl"
    write_jsonl(start, [result(f"q{i}", bool(r)) for i, r in enumerate([1, 1, 0, 0])])
    results = tmp_path / "ABLATIONS.md"
    subprocess.run(
        [sys.executable, str(EXAMPLE / "svpo_ablation.py"), str(tmp_path / "seed0")]
        + [str(tmp_path / "seed1"), "--row", "dpo|base|DPO alone|", "--start", str(start)]
        + ["--results", str(results)],
        check=True,
        capture_output=True,
    )
    text = results.read_text()
    # dpo - start: +25 at seed 0, 0 at seed 1; SFT round - start: 0, then +25.
    assert "| +12.5 (SD 17.7, 2 seeds) |" in text.split("| dpo | DPO alone |")[1].split("\n")[0]
    assert "start policy (both rounds' init), greedy: 50.0% on 4 problems" in text
    assert "the SFT round against the start policy (greedy, paired): +12.5 (SD 17.7" in text
    assert "the best row (dpo) against the start policy (greedy, paired): +12.5" in text
