"""SVPO's ablation options (issue #39): the pair filters on a hand-built tree (minimum Q gap,
minimum visits per side, chosen Q > 0 > rejected Q, each before the per-node cap), the
value margin term against its formula on a toy computed by hand, and DPO alone
(``--value-weight 0``) end to end.

Method: Chen et al. 2024, "Step-level Value Preference Optimization for Mathematical
Reasoning" (https://arxiv.org/abs/2406.10858).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from test_svpo import node  # the tree-node builder of tests/test_svpo.py
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.errors import MathverifyError
from mathverify.labeling.pairs import tree_pairs
from mathverify.models.card import load_card
from mathverify.models.tiny import save_random_policy
from mathverify.records import Problem, StepPair, Tree, read_all
from mathverify.training.policy import PolicyTrainConfig
from mathverify.training.svpo import PairCollator, prepare_svpo, read_pairs, value_margin_loss

runner = CliRunner()


def filter_tree() -> Tree:
    """Root 0 and six children, in this creation order (Q, visits): 1 (.5, 5), 2 (-.25, 3),
    3 (.25, 1), 4 (-.75, 1), 5 (terminal, unvisited: Q = reward 1, visits 0), 6 (0, 2).
    Quarters, so every gap is exact in binary.

    The 15 ordered pairs with their Q gaps: 5>4 1.75, 1>4 1.25, 5>2 1.25, 3>4 1, 5>6 1,
    1>2 .75, 5>3 .75, 6>4 .75, 1>6 .5, 2>4 .5, 3>2 .5, 5>1 .5, 1>3 .25, 3>6 .25, 6>2 .25.
    """
    return Tree(
        problem_id="p",
        run=0,
        method="mcts",
        nodes=[
            node(0, None, q=0.1, visits=12),
            node(1, 0, "= 2+3", q=0.5, visits=5),
            node(2, 0, "= 2+4", q=-0.25, visits=3),
            node(3, 0, "= 5-0", q=0.25, visits=1),
            node(4, 0, "= 9", q=-0.75, visits=1),
            node(5, 0, "\\boxed{5}", terminal=True, reward=1.0),
            node(6, 0, "= 1+4", q=0.0, visits=2),
        ],
    )


def chosen_over_rejected(pairs: list[StepPair]) -> list[tuple[int, int]]:
    return [(p.chosen_node, p.rejected_node) for p in pairs]  # type: ignore[misc]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        # Every ordered pair, largest gap first; ties by the chosen step's creation order, then
        # the rejected one's (1>4 before 5>2 at 1.25).
        (
            {},
            [(5, 4), (1, 4), (5, 2), (3, 4), (5, 6), (1, 2), (5, 3), (6, 4), (1, 6), (2, 4)]
            + [(3, 2), (5, 1), (1, 3), (3, 6), (6, 2)],
        ),
        # Gap >= 1: 5>4 1.75, 1>4 1.25, 5>2 1.25, 3>4 1, 5>6 1.
        ({"min_q_gap": 1.0}, [(5, 4), (1, 4), (5, 2), (3, 4), (5, 6)]),
        # Visits >= 2 on both sides: only 1 (5), 2 (3), 6 (2); the unvisited terminal 5 is out.
        ({"min_visits": 2}, [(1, 2), (1, 6), (6, 2)]),
        # Visits >= 1: every pair without the unvisited terminal 5.
        (
            {"min_visits": 1},
            [(1, 4), (3, 4), (1, 2), (6, 4), (1, 6), (2, 4), (3, 2), (1, 3), (3, 6), (6, 2)],
        ),
        # Chosen Q > 0 > rejected Q: chosen in {5, 1, 3}, rejected in {2, 4}; 6 (Q 0) never.
        ({"opposite_signs": True}, [(5, 4), (1, 4), (5, 2), (3, 4), (1, 2), (3, 2)]),
        # All three together: 1>2 (gap .75, visits 5 and 3, signs + and -).
        ({"min_q_gap": 0.5, "min_visits": 2, "opposite_signs": True}, [(1, 2)]),
        # The filter comes before the cap: the top gap overall (5>4) fails the visits, and the
        # cap keeps the best pair that passes, not nothing.
        ({"min_visits": 2, "max_pairs_per_node": 1}, [(1, 2)]),
        ({"opposite_signs": True, "max_pairs_per_node": 2}, [(5, 4), (1, 4)]),
    ],
)
def test_pair_filters_on_a_hand_built_tree(options: dict, expected: list[tuple[int, int]]) -> None:
    found = list(tree_pairs(filter_tree(), **options))
    assert chosen_over_rejected(found) == expected
    assert all(p.chosen_q > p.rejected_q for p in found)


def test_identical_siblings_are_one_step_with_their_visit_weighted_q() -> None:
    # Root 0: "= 5" twice (Q 1 from 1 visit, Q -1 from 3 visits: one step, Q (1 - 3) / 4 =
    # -.5, 4 visits), "= 6" (Q 0, 2 visits), \boxed{5} finished twice, unvisited (Q = reward
    # 1 each: one step, the plain mean 1, 0 visits).
    tree = Tree(
        problem_id="p",
        run=0,
        method="mcts",
        nodes=[
            node(0, None, q=0.0, visits=6),
            node(1, 0, "= 5", q=1.0, visits=1),
            node(2, 0, "= 6", q=0.0, visits=2),
            node(3, 0, "= 5", q=-1.0, visits=3),
            node(4, 0, "\\boxed{5}", terminal=True, reward=1.0),
            node(5, 0, "\\boxed{5}", terminal=True, reward=1.0),
        ],
    )
    found = list(tree_pairs(tree))
    # Never "= 5" against itself; the merged step keeps its first copy's id.
    assert [(p.chosen, p.rejected, p.chosen_q, p.rejected_q) for p in found] == [
        ("\\boxed{5}", "= 5", 1.0, -0.5),
        ("\\boxed{5}", "= 6", 1.0, 0.0),
        ("= 6", "= 5", 0.0, -0.5),
    ]
    assert chosen_over_rejected(found) == [(4, 1), (4, 2), (2, 1)]
    assert found[0].meta == {
        "chosen_visits": 0,
        "rejected_visits": 4,
        "chosen_copies": [4, 5],
        "rejected_copies": [1, 3],
    }
    # The merged visits count for --min-visits: "= 6" (2) over "= 5" (4) passes 2, not 3.
    assert chosen_over_rejected(list(tree_pairs(tree, min_visits=2))) == [(2, 1)]
    assert list(tree_pairs(tree, min_visits=3)) == []


def test_pair_filters_refuse_a_negative_visit_count() -> None:
    with pytest.raises(MathverifyError, match="--min-visits must be >= 0"):
        list(tree_pairs(filter_tree(), min_visits=-1))


def test_label_mcts_pairs_cli_applies_the_filters(tmp_path: Path) -> None:
    trees = tmp_path / "trees.jsonl"
    trees.write_text(filter_tree().to_json() + "\n", encoding="utf-8")
    problems = tmp_path / "problems.jsonl"
    problems.write_text(json.dumps({"id": "p", "problem": "Compute 2+3.", "answer": "5"}) + "\n")
    out = tmp_path / "pairs.jsonl"
    args = ["label", "--method", "mcts", "--pairs", "-p", str(problems), "-i", str(trees)]
    result = runner.invoke(app, [*args, "-o", str(out), "--min-visits", "1", "--opposite-q-signs"])
    assert result.exit_code == 0, result.output
    # Visits >= 1 and opposite signs: 1>4, 3>4, 1>2, 3>2.
    assert chosen_over_rejected(read_all(out, StepPair)) == [(1, 4), (3, 4), (1, 2), (3, 2)]
    refused = runner.invoke(
        app,
        ["label", "--method", "mcts", "-p", str(problems), "-i", str(trees), "--min-visits", "2"],
    )
    assert refused.exit_code == 2 and "--min-visits" in refused.output


def test_value_margin_loss_on_a_toy_equals_the_formula_by_hand() -> None:
    # V = 2 sigmoid(logit) - 1. Logits and their V: 0 -> 0; ln 3 -> 2 * .75 - 1 = .5;
    # -ln 3 -> 2 * .25 - 1 = -.5; ln 1.5 -> 2 * .6 - 1 = .2. Margin m = .5:
    #   chosen 0,    rejected ln 3:  max(0, .5 - (0 - .5))  = 1
    #   chosen ln 3, rejected -ln 3: max(0, .5 - (.5 + .5)) = 0
    #   chosen ln 3, rejected 0:     max(0, .5 - (.5 - 0))  = 0   (exactly at the margin)
    #   chosen ln 3, rejected ln 1.5: max(0, .5 - (.5 - .2)) = .2
    chosen = torch.tensor([0.0, math.log(3), math.log(3), math.log(3)])
    rejected = torch.tensor([math.log(3), -math.log(3), 0.0, math.log(1.5)])
    losses = value_margin_loss(chosen, rejected, 0.5)
    assert losses.tolist() == pytest.approx([1.0, 0.0, 0.0, 0.2], abs=1e-6)
    # m = 0: only a misordered pair costs (the first, by V_r - V_c = .5).
    assert value_margin_loss(chosen, rejected, 0.0).tolist() == pytest.approx(
        [0.5, 0.0, 0.0, 0.0], abs=1e-6
    )


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("svpo-options")
    policy = save_random_policy(root / "policy", hidden_size=32, num_layers=1, num_heads=1)
    problems = root / "problems.jsonl"
    problems.write_text(json.dumps({"id": "p", "problem": "Compute 2+3.", "answer": "5"}) + "\n")
    pairs = root / "pairs.jsonl"
    # Six pairs, one with a finished chosen step (its value on a row of its own).
    records = list(tree_pairs(filter_tree(), opposite_signs=True))
    pairs.write_text("".join(p.to_json() + "\n" for p in records), encoding="utf-8")
    return {"root": root, "policy": policy, "problems": problems, "pairs": pairs}


def config(setup: dict[str, Path], name: str, **changes) -> PolicyTrainConfig:
    settings = {
        "output_dir": str(setup["root"] / name),
        "init": str(setup["policy"]),
        "objective": "svpo",
        "max_steps": 2,
        "batch_size": 3,
        "warmup": 0.0,
        "logging_steps": 1,
    }
    return PolicyTrainConfig(**(settings | changes))


def test_margin_term_reads_each_pairs_chosen_and_rejected_value(setup: dict[str, Path]) -> None:
    problems = {"p": Problem(id="p", problem="Compute 2+3.")}
    prepared = prepare_svpo(
        str(setup["pairs"]),
        problems,
        config(setup, "margin", value_weight=0.5, value_loss="mse+margin", value_margin=0.5),
    )
    trainer, policy = prepared.trainer, prepared.policy
    examples = trainer.train_dataset.items
    records = [p for _, p in read_pairs(str(setup["pairs"]))]
    batch = PairCollator(0)(examples)
    # The indices point at the pairs' own value targets, (Q + 1) / 2, finished steps included.
    labels = batch["value_labels"].reshape(-1)
    assert labels[batch["chosen_value_index"]].tolist() == pytest.approx(
        [(p.chosen_q + 1) / 2 for p in records]
    )
    assert labels[batch["rejected_value_index"]].tolist() == pytest.approx(
        [(p.rejected_q + 1) / 2 for p in records]
    )
    assert any(p.chosen_finished for p in records)
    policy.eval()
    with torch.no_grad():
        joint = trainer.compute_loss(policy, batch)
        trainer.value_margin_weight = 0.0
        mse_only = trainer.compute_loss(policy, batch)
        _, value_logits = policy.compute_pieces(batch)
    flat = value_logits[..., 0].reshape(-1)
    v_c = 2 * torch.sigmoid(flat[batch["chosen_value_index"]]) - 1
    v_r = 2 * torch.sigmoid(flat[batch["rejected_value_index"]]) - 1
    margin = torch.clamp(0.5 - (v_c - v_r), min=0).mean().item()
    # Total = DPO + value_weight x (MSE + margin weight 1 x margin).
    assert joint.item() == pytest.approx(mse_only.item() + 0.5 * 1.0 * margin, rel=1e-5)
    assert margin > 0  # an untrained head: V's are near 0, so the hinge is active


def test_train_policy_svpo_dpo_alone_and_with_the_margin_term(setup: dict[str, Path]) -> None:
    args = ["train-policy", "--objective", "svpo", "--init", str(setup["policy"])]
    args += ["-i", str(setup["pairs"]), "-p", str(setup["problems"])]
    args += ["--max-steps", "2", "--batch-size", "3"]
    alone = setup["root"] / "dpo-alone"
    result = runner.invoke(app, [*args, "-o", str(alone), "--value-weight", "0"])
    assert result.exit_code == 0, result.output
    card = load_card(alone)
    # DPO alone saves a plain policy: no value head, no value settings.
    assert card.kind == "policy" and card.extra["value_weight"] == 0.0
    assert card.extra["sft_weight"] == 0.0 and "value_loss" not in card.extra
    margin = setup["root"] / "margin-cli"
    result = runner.invoke(
        app,
        [*args, "-o", str(margin), "--value-weight", "1", "--value-loss", "mse+margin"]
        + ["--value-margin", "0.25", "--value-margin-weight", "2"],
    )
    assert result.exit_code == 0, result.output
    card = load_card(margin)
    assert card.kind == "value" and card.extra["loss"] == "mse+margin"
    assert (card.extra["value_margin"], card.extra["value_margin_weight"]) == (0.25, 2.0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--value-loss", "mse+margin"], "needs --value-weight > 0"),
        (["--value-weight", "1", "--value-loss", "hinge"], "--value-loss 'hinge'"),
        (["--value-weight", "1", "--value-margin", "-1"], "must be >= 0"),
    ],
)
def test_train_policy_refuses_bad_value_loss_options(options: list[str], message: str) -> None:
    args = ["train-policy", "--objective", "svpo", "--init", "x", "-i", "x", "-o", "y"]
    result = runner.invoke(app, [*args, *options])
    assert result.exit_code == 2 and message in result.output
