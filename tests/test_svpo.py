"""SVPO: step pairs from a hand-built MCTS tree, the DPO loss against the formula by hand,
the frozen reference during training, and bad pair records as file:line errors.

Method: Chen et al. 2024, "Step-level Value Preference Optimization for Mathematical
Reasoning" (https://arxiv.org/abs/2406.10858); DPO: Rafailov et al. 2023, eq. 7.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.errors import MathverifyError, RecordError
from mathverify.labeling.pairs import step_pairs, tree_pairs
from mathverify.models.card import load_card
from mathverify.models.tiny import build_tokenizer, save_random_policy
from mathverify.prompting import PromptFormat
from mathverify.records import Problem, StepPair, Tree, read_all
from mathverify.training.policy import PolicyTrainConfig
from mathverify.training.svpo import (
    PairCollator,
    completion_logps,
    dpo_loss,
    nll_loss,
    prepare_svpo,
    read_pairs,
    tokenize_pair,
)

runner = CliRunner()


def node(id, parent, text="", q=None, visits=0, terminal=False, reward=None, finished=None):
    return {
        "id": id,
        "parent": parent,
        "text": text,
        "prior": None,
        "visits": visits,
        "value": None,
        "q": q,
        "terminal": terminal,
        "finished": terminal if finished is None else finished,
        "reward": reward,
    }


def hand_tree() -> Tree:
    """Root 0 with children 1 (Q .5), 2 (Q -.5), 3 (Q .5, a tie with 1), 4 (open, unvisited:
    no Q), 5 (terminal, unvisited: Q = reward 1), 8 (a bare separator, Q .9); node 1 has
    children 6 (Q .2) and 7 (Q .1)."""
    return Tree(
        problem_id="p",
        run=0,
        method="mcts",
        nodes=[
            node(0, None, q=0.1, visits=9),
            node(1, 0, "= 2+3", q=0.5, visits=4),
            node(2, 0, "= 2+4", q=-0.5, visits=2),
            node(3, 0, "= 5-0", q=0.5, visits=2),
            node(4, 0, "= 9"),
            node(5, 0, "\\boxed{5}", terminal=True, reward=1.0),
            node(6, 1, "= 5", q=0.2, visits=2),
            node(7, 1, "= 6", q=0.1, visits=1),
            node(8, 0, "", q=0.9, visits=1),
        ],
    )


def as_tuples(pairs: list[StepPair]) -> list[tuple]:
    return [
        (p.node, tuple(p.prefix), p.chosen, p.rejected, p.chosen_q, p.rejected_q) for p in pairs
    ]


def test_pairs_from_a_hand_built_tree_respect_gap_and_cap_and_skip_ties() -> None:
    found = list(tree_pairs(hand_tree(), min_q_gap=0.3, max_pairs_per_node=3))
    # Root: gaps 1.5 (5>2), 1.0 (1>2, 3>2), 0.5 (5>1, 5>3); 1=3 is a tie; 4 and 8 never pair.
    # The cap keeps the 3 largest gaps (ties in creation order). Node 1: gap 0.1 < 0.3.
    assert as_tuples(found) == [
        (0, (), "\\boxed{5}", "= 2+4", 1.0, -0.5),
        (0, (), "= 2+3", "= 2+4", 0.5, -0.5),
        (0, (), "= 5-0", "= 2+4", 0.5, -0.5),
    ]
    assert found[0].chosen_finished and not found[0].rejected_finished
    assert (found[0].chosen_node, found[0].rejected_node) == (5, 2)
    every = list(tree_pairs(hand_tree()))
    assert as_tuples(every) == [
        (0, (), "\\boxed{5}", "= 2+4", 1.0, -0.5),
        (0, (), "= 2+3", "= 2+4", 0.5, -0.5),
        (0, (), "= 5-0", "= 2+4", 0.5, -0.5),
        (0, (), "\\boxed{5}", "= 2+3", 1.0, 0.5),
        (0, (), "\\boxed{5}", "= 5-0", 1.0, 0.5),
        (1, ("= 2+3",), "= 5", "= 6", 0.2, 0.1),
    ]
    assert len({p.key() for p in every}) == len(every)


def test_pair_options_are_checked_and_problems_must_be_known() -> None:
    with pytest.raises(MathverifyError, match="min-q-gap"):
        list(tree_pairs(hand_tree(), min_q_gap=-1))
    with pytest.raises(MathverifyError, match="max-pairs-per-node"):
        list(tree_pairs(hand_tree(), max_pairs_per_node=0))
    with pytest.raises(MathverifyError, match="not in the problems file"):
        list(step_pairs([hand_tree()], {}))


def test_dpo_loss_on_a_two_token_toy_equals_the_formula_by_hand() -> None:
    # Vocabulary {0, 1}; sequences of two tokens, the prompt is token 0 and the completion
    # token 1. Chosen = [0, 1], rejected = [0, 0]; logits at position 0 predict token 1.
    ids = torch.tensor([[0, 1], [0, 0]])
    mask = torch.tensor([[0, 1], [0, 1]])
    policy_logits = torch.tensor([[[0.3, 1.2], [0.0, 0.0]], [[0.3, 1.2], [0.0, 0.0]]])
    ref_logits = torch.tensor([[[0.5, 0.5], [0.0, 0.0]], [[0.5, 0.5], [0.0, 0.0]]])
    logp = completion_logps(policy_logits, ids, mask)
    ref = completion_logps(ref_logits, ids, mask)
    beta = 0.5

    def log_softmax(values: list[float], index: int) -> float:
        return values[index] - math.log(sum(math.exp(v) for v in values))

    pi_c, pi_r = log_softmax([0.3, 1.2], 1), log_softmax([0.3, 1.2], 0)
    ref_c = ref_r = math.log(0.5)
    expected = -math.log(1 / (1 + math.exp(-beta * ((pi_c - ref_c) - (pi_r - ref_r)))))
    assert logp.tolist() == pytest.approx([pi_c, pi_r], abs=1e-6)
    loss = dpo_loss(logp[:1], logp[1:], ref[:1], ref[1:], beta)
    assert loss.item() == pytest.approx(expected, abs=1e-6)
    # Equal log-ratios give log 2, whatever beta.
    same = dpo_loss(logp[:1], logp[:1], ref[:1], ref[:1], 3.0)
    assert same.item() == pytest.approx(math.log(2))


def test_nll_term_on_a_toy_is_the_chosen_steps_log_likelihood_per_token() -> None:
    # Vocabulary {0, 1}; the prompt is token 0, the completion the next two tokens.
    # Chosen = [0, 1, 1]: log p(1 | pos 0) + log p(1 | pos 1) over 2 tokens.
    ids = torch.tensor([[0, 1, 1]])
    mask = torch.tensor([[0, 1, 1]])
    logits = torch.tensor([[[0.3, 1.2], [2.0, -1.0], [0.0, 0.0]]])
    logp = completion_logps(logits, ids, mask)

    def log_softmax(values: list[float], index: int) -> float:
        return values[index] - math.log(sum(math.exp(v) for v in values))

    by_hand = -(log_softmax([0.3, 1.2], 1) + log_softmax([2.0, -1.0], 1)) / 2
    assert nll_loss(logp, mask.sum(-1)).item() == pytest.approx(by_hand, abs=1e-6)


def pair(**fields) -> dict:
    return {
        "problem_id": "p",
        "node": 0,
        "prefix": ["= 2+3"],
        "chosen": "= 5",
        "rejected": "= 6",
        "chosen_q": 0.5,
        "rejected_q": -0.5,
        "chosen_node": 1,
        "rejected_node": 2,
    } | fields


def test_tokenize_pair_masks_the_prefix_and_ends_steps_as_generation_does() -> None:
    tokenizer = build_tokenizer()
    fmt = PromptFormat(template="{problem}\n")
    record = StepPair.from_dict(pair(chosen="\\boxed{5}", chosen_finished=True))
    example = tokenize_pair(tokenizer, fmt, "Compute 2+3.", record, with_value=True)
    prompt = fmt.prefix("Compute 2+3.", ["= 2+3"])
    chosen, rejected = example.chosen, example.rejected
    # A finished step ends with eos; an open one with the separator, read by the value there.
    assert chosen.input_ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(chosen.input_ids[chosen.completion_start : -1]) == "\\boxed{5}"
    assert (
        tokenizer.decode(rejected.input_ids[rejected.completion_start :]) == "= 6" + fmt.separator
    )
    assert tokenizer.decode(rejected.input_ids[: rejected.completion_start]) == prompt
    assert rejected.value_position == len(rejected.input_ids) - 1
    assert rejected.value_target == pytest.approx(0.25)
    # The finished step's value is read on its own row, as the scorer reads it.
    (value_row,) = example.value_rows
    assert value_row.completion_start == -1 and value_row.value_target == pytest.approx(0.75)
    assert tokenizer.decode(value_row.input_ids) == prompt + "\\boxed{5}" + fmt.separator


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"chosen_q": -0.5, "rejected_q": 0.5}, "chosen_q"),
        ({"chosen_q": 0.5, "rejected_q": 0.5}, "chosen_q"),
        ({"rejected_q": -2.0}, "rejected_q"),
        ({"chosen": " "}, "chosen"),
        ({"rejected": "= 5"}, "rejected"),
        ({"prefix": "= 2+3"}, "prefix"),
        ({"node": None}, "node"),
    ],
)
def test_bad_pair_records_name_file_line_and_field(tmp_path: Path, bad: dict, field: str) -> None:
    path = write_jsonl(tmp_path / "pairs.jsonl", [pair(), pair() | bad])
    with pytest.raises(RecordError, match=rf"pairs.jsonl:2: field '{field}'"):
        read_pairs(str(path))


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("svpo")
    policy = save_random_policy(root / "policy", hidden_size=32, num_layers=1, num_heads=1)
    problems = write_jsonl(
        root / "problems.jsonl", [{"id": "p", "problem": "Compute 2+3*1.", "answer": "5"}]
    )
    trees = root / "trees.jsonl"
    trees.write_text(hand_tree().to_json() + "\n", encoding="utf-8")
    return {"root": root, "policy": policy, "problems": problems, "trees": trees}


def test_label_mcts_pairs_cli_writes_step_pairs(setup: dict[str, Path]) -> None:
    out = setup["root"] / "pairs.jsonl"
    args = ["label", "--method", "mcts", "--pairs", "-p", str(setup["problems"])]
    args += ["-i", str(setup["trees"]), "-o", str(out), "--min-q-gap", "0.3"]
    result = runner.invoke(app, [*args, "--max-pairs-per-node", "3"])
    assert result.exit_code == 0, result.output
    written = read_all(out, StepPair)
    assert as_tuples(written) == as_tuples(
        list(tree_pairs(hand_tree(), min_q_gap=0.3, max_pairs_per_node=3))
    )
    refused = runner.invoke(app, ["label", "--method", "exact", "--pairs", "-p", "x", "-i", "y"])
    assert refused.exit_code == 2 and "--pairs needs --method mcts" in refused.output


def write_pairs(setup: dict[str, Path], name: str) -> Path:
    pairs = setup["root"] / name
    pairs.write_text("".join(p.to_json() + "\n" for p in tree_pairs(hand_tree())))
    return pairs


def svpo_config(setup: dict[str, Path], name: str, **changes) -> PolicyTrainConfig:
    settings = {
        "output_dir": str(setup["root"] / name),
        "init": str(setup["policy"]),
        "objective": "svpo",
        "max_steps": 2,
        "batch_size": 2,
        "warmup": 0.0,
        "logging_steps": 1,
    }
    return PolicyTrainConfig(**(settings | changes))


def test_sft_weight_adds_the_chosen_steps_nll_per_token_and_zero_is_the_old_loss(
    setup: dict[str, Path],
) -> None:
    pairs = write_pairs(setup, "sft-pairs.jsonl")
    problems = {"p": Problem(id="p", problem="Compute 2+3*1.")}
    config = svpo_config(setup, "sft", beta=0.3, sft_weight=0.7)
    prepared = prepare_svpo(str(pairs), problems, config)
    trainer, lm = prepared.trainer, prepared.policy.lm
    examples = prepared.trainer.train_dataset.items[:3]
    batch = PairCollator(0)(examples)
    prepared.policy.eval()
    with torch.no_grad():
        joint = trainer.compute_loss(prepared.policy, batch)
        trainer.sft_weight = 0.0
        alone = trainer.compute_loss(prepared.policy, batch)
        # The same pieces, outside the trainer: the policy reads every row, the reference
        # the chosen rows then the rejected ones.
        ids, attention, mask = (
            batch[k] for k in ("input_ids", "attention_mask", "completion_mask")
        )
        all_logps = completion_logps(lm(input_ids=ids, attention_mask=attention).logits, ids, mask)
        rows = torch.cat([batch["chosen_rows"], batch["rejected_rows"]])
        logps = all_logps[rows]
        ref = trainer.ref_model(input_ids=ids[rows], attention_mask=attention[rows]).logits
        ref_logps = completion_logps(ref, ids[rows], mask[rows])
    n = len(examples)
    old = dpo_loss(logps[:n], logps[n:], ref_logps[:n], ref_logps[n:], 0.3).mean()
    assert torch.equal(alone, old)
    # |y_c| by hand: the chosen row's tokens from its completion start on.
    lengths = [len(e.chosen.input_ids) - e.chosen.completion_start for e in examples]
    nll = sum(-logps[i].item() / lengths[i] for i in range(n)) / n
    assert joint.item() == pytest.approx(old.item() + 0.7 * nll, rel=1e-5)
    assert joint.item() > alone.item()


def test_training_logs_the_mean_chosen_and_rejected_logps(setup: dict[str, Path]) -> None:
    # With learning rate 0 the policy never moves, so one log over one epoch (two steps of
    # three pairs) must hold the mean over all six pairs of each step's summed
    # log-probability under the initial policy: not their sum, nor one batch's mean.
    pairs = write_pairs(setup, "log-pairs.jsonl")
    config = svpo_config(
        setup, "logged", sft_weight=1.0, learning_rate=0.0, batch_size=3, logging_steps=2
    )
    prepared = prepare_svpo(str(pairs), {"p": Problem(id="p", problem="Compute 2+3*1.")}, config)
    examples = prepared.trainer.train_dataset.items
    assert len(examples) == 6
    batch = PairCollator(0)(examples)
    with torch.no_grad():
        logps, _ = prepared.policy.compute_pieces(batch)
    chosen, rejected = logps[batch["chosen_rows"]], logps[batch["rejected_rows"]]
    prepared.trainer.train()
    logged = [row for row in prepared.trainer.state.log_history if "loss" in row]
    assert len(logged) == 1
    assert logged[0]["logps/chosen"] == pytest.approx(chosen.mean().item(), rel=1e-5)
    assert logged[0]["logps/rejected"] == pytest.approx(rejected.mean().item(), rel=1e-5)
    assert logged[0]["logps/chosen"] != pytest.approx(logged[0]["logps/rejected"], rel=1e-3)


def test_reference_stays_frozen_while_the_policy_moves(setup: dict[str, Path]) -> None:
    pairs = setup["root"] / "train-pairs.jsonl"
    records = list(tree_pairs(hand_tree()))
    pairs.write_text("".join(p.to_json() + "\n" for p in records), encoding="utf-8")
    config = PolicyTrainConfig(
        output_dir=str(setup["root"] / "svpo"),
        init=str(setup["policy"]),
        objective="svpo",
        max_steps=3,
        batch_size=2,
        learning_rate=1e-2,
        warmup=0.0,
        logging_steps=1,
        value_weight=1.0,
    )
    prepared = prepare_svpo(str(pairs), {"p": Problem(id="p", problem="Compute 2+3*1.")}, config)
    ref = prepared.trainer.ref_model
    ref_before = {k: v.clone() for k, v in ref.state_dict().items()}
    policy_before = {k: v.clone() for k, v in prepared.policy.lm.state_dict().items()}
    head_before = {k: v.clone() for k, v in prepared.policy.value.head.state_dict().items()}
    assert not ref.training and not any(p.requires_grad for p in ref.parameters())
    prepared.trainer.train()
    assert not ref.training
    assert all(torch.equal(ref_before[k], v) for k, v in ref.state_dict().items())
    moved = [
        k
        for k, v in prepared.policy.lm.state_dict().items()
        if not torch.equal(policy_before[k], v)
    ]
    assert moved, "the policy's weights did not change"
    assert any(
        not torch.equal(head_before[k], v)
        for k, v in prepared.policy.value.head.state_dict().items()
    )


def test_train_policy_svpo_cli_saves_a_policy_and_scorer(setup: dict[str, Path]) -> None:
    pairs = setup["root"] / "cli-pairs.jsonl"
    pairs.write_text("".join(p.to_json() + "\n" for p in tree_pairs(hand_tree())))
    out = setup["root"] / "svpo-cli"
    args = ["train-policy", "--objective", "svpo", "--init", str(setup["policy"])]
    args += ["-i", str(pairs), "-p", str(setup["problems"]), "-o", str(out)]
    args += ["--max-steps", "2", "--batch-size", "2", "--value-weight", "0.5", "--beta", "0.2"]
    args += ["--sft-weight", "0.25"]
    result = runner.invoke(app, [*args, "--value-features", "likelihood", "--value-head", "mlp"])
    assert result.exit_code == 0, result.output
    card = load_card(out)
    assert card.kind == "value" and card.extra["objective"] == "svpo"
    assert card.extra["beta"] == 0.2 and card.extra["n_pairs"] == 6
    assert card.extra["sft_weight"] == 0.25
    from mathverify.scoring import load_scorer

    scores = load_scorer(str(out)).score(["Compute 2+3*1."], [["= 2+3", "= 5"]])
    assert len(scores[0]) == 2 and all(0.0 <= s <= 1.0 for s in scores[0])
    # The example's next stage: train-value refits that head with the policy frozen.
    labeled = write_jsonl(
        setup["root"] / "labeled.jsonl",
        [
            {"problem_id": "p", "sample_id": 0, "steps": ["= 2+3", "= 5"], "step_labels": [1, 1]},
            {"problem_id": "p", "sample_id": 1, "steps": ["= 2+4"], "step_labels": [0]},
        ],
    )
    refit = runner.invoke(
        app,
        ["train-value", "--init", str(out), "-i", str(labeled), "-p", str(setup["problems"])]
        + ["-o", str(setup["root"] / "refit"), "--freeze-policy", "--sft-weight", "0"]
        + ["--step-features", "likelihood", "--head", "mlp", "--max-steps", "1"]
        + ["--batch-size", "2", "--eval-fraction", "0", "--quiet"],
    )
    assert refit.exit_code == 0, refit.output


def test_train_policy_svpo_cli_bad_pairs_exit_2_with_file_line(setup: dict[str, Path]) -> None:
    bad = write_jsonl(setup["root"] / "bad.jsonl", [pair(), pair(chosen_q=-0.9)])
    args = ["train-policy", "--objective", "svpo", "--init", str(setup["policy"])]
    result = runner.invoke(
        app, [*args, "-i", str(bad), "-p", str(setup["problems"]), "-o", str(setup["root"] / "x")]
    )
    assert result.exit_code == 2
    assert "bad.jsonl:2: field 'chosen_q'" in result.output
    missing = runner.invoke(app, [*args, "-i", str(bad), "-o", str(setup["root"] / "y")])
    assert missing.exit_code == 2 and "needs --problems" in missing.output
    scratch = runner.invoke(
        app, ["train-policy", "--objective", "svpo", "--from-scratch", "tiny", "-i", "x", "-o", "y"]
    )
    assert scratch.exit_code == 2 and "give --init" in scratch.output


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--objective", "svpo", "--init", "x", "--sft-weight", "-0.1"],
            "--sft-weight must be >= 0",
        ),
        (["--from-scratch", "tiny", "--sft-weight", "0.5"], "--sft-weight needs --objective svpo"),
    ],
)
def test_train_policy_refuses_a_bad_sft_weight(options: list[str], message: str) -> None:
    result = runner.invoke(app, ["train-policy", *options, "-i", "x", "-o", "y"])
    assert result.exit_code == 2 and message in result.output
