"""``train-orm`` with the PRM's backbone options (likelihood features, MLP head, frozen
backbone) and its two score positions (``--score-at eos`` / ``last-step``): tokenisation by
table, then the scores a trained ORM gives against a hand computation, and the CLI.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import LlamaForCausalLM
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.errors import MathverifyError
from mathverify.models.card import load_card
from mathverify.models.tiny import build_tokenizer, save_random_policy
from mathverify.models.verifier import VerifierCollator, load_verifier
from mathverify.models.verifier_examples import tokenize_prm_example
from mathverify.prompting import PromptFormat
from mathverify.scoring import load_scorer
from mathverify.training.orm import tokenize_orm_example, train_orm
from mathverify.training.verifier_config import ORMTrainConfig

PROBLEM = "Compute 2+3*4."
STEPS = ["= 2+12", "= 14", "\\boxed{14}"]
runner = CliRunner()


def test_eos_position_is_the_appended_end_token_and_the_solution_is_one_step() -> None:
    tokenizer = build_tokenizer()
    fmt = PromptFormat()
    encoded = tokenize_orm_example(tokenizer, fmt, PROBLEM, STEPS, 1.0)
    ids = encoded["input_ids"]
    assert tokenizer.eos_token_id is not None and ids[-1] == tokenizer.eos_token_id
    assert encoded["score_positions"] == [len(ids) - 1] and encoded["labels"] == [1.0]
    # step_start: the first token of step 1, the same as the PRM's tokenisation finds.
    prm = tokenize_prm_example(tokenizer, fmt, PROBLEM, STEPS)
    assert encoded["step_start"] == prm["step_start"]
    assert ids[: encoded["step_start"]] == prm["input_ids"][: prm["step_start"]]
    text = tokenizer.decode(ids[encoded["step_start"] : -1])
    assert text.replace(" ", "") == fmt.solution_text(STEPS).replace(" ", "")


def test_last_step_position_is_where_a_prm_scores_the_last_step() -> None:
    tokenizer = build_tokenizer()
    fmt = PromptFormat()
    encoded = tokenize_orm_example(tokenizer, fmt, PROBLEM, STEPS, 0.0, score_at="last-step")
    prm = tokenize_prm_example(tokenizer, fmt, PROBLEM, STEPS)
    assert encoded["input_ids"] == prm["input_ids"]
    assert encoded["score_positions"] == prm["score_positions"][-1:]
    assert encoded["labels"] == [0.0] and encoded["step_start"] == prm["step_start"]


@pytest.mark.parametrize("score_at", ["eos", "last-step"])
def test_a_score_position_beyond_max_length_drops_the_example(score_at: str) -> None:
    tokenizer = build_tokenizer()
    whole = tokenize_orm_example(tokenizer, PromptFormat(), PROBLEM, STEPS, score_at=score_at)
    position = whole["score_positions"][0]
    kept = tokenize_orm_example(
        tokenizer, PromptFormat(), PROBLEM, STEPS, max_length=position + 1, score_at=score_at
    )
    assert kept["score_positions"] == [position]
    cut = tokenize_orm_example(
        tokenizer, PromptFormat(), PROBLEM, STEPS, max_length=position, score_at=score_at
    )
    assert cut["score_positions"] == [] and len(cut["input_ids"]) == position


def test_unknown_score_position() -> None:
    with pytest.raises(MathverifyError, match="score position 'middle'"):
        tokenize_orm_example(build_tokenizer(), PromptFormat(), PROBLEM, STEPS, score_at="middle")


def _data(tmp_path: Path) -> tuple[Path, Path]:
    """Problems ``i+1`` with one right and one wrong solution each."""
    problems = tmp_path / "problems.jsonl"
    labeled = tmp_path / "labeled.jsonl"
    rows, solutions = [], []
    for i in range(8):
        rows.append({"id": f"p{i}", "problem": f"Compute {i}+1.", "answer": str(i + 1)})
        for sample, wrong in enumerate((False, True)):
            value = i + 1 + int(wrong)
            solutions.append(
                {
                    "problem_id": f"p{i}",
                    "sample_id": sample,
                    "steps": [f"= {i}+1", f"= {value}", f"\\boxed{{{value}}}"],
                    "outcome": not wrong,
                }
            )
    problems.write_text("".join(json.dumps(r) + "\n" for r in rows))
    labeled.write_text("".join(json.dumps(s) + "\n" for s in solutions))
    return problems, labeled


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("orm_policy")
    return save_random_policy(root / "policy", hidden_size=64, num_layers=2, num_heads=2)


@pytest.mark.parametrize("score_at", ["eos", "last-step"])
def test_frozen_likelihood_orm_trains_its_head_only_and_scores_as_computed(
    tmp_path: Path, policy: Path, score_at: str
) -> None:
    problems, labeled = _data(tmp_path)
    before = {
        k: v.clone() for k, v in LlamaForCausalLM.from_pretrained(policy).state_dict().items()
    }
    result = train_orm(
        ORMTrainConfig(
            input=str(labeled),
            problems=str(problems),
            output=str(tmp_path / "orm"),
            init=str(policy),
            max_steps=20,
            batch_size=8,
            lr=3e-3,
            eval_fraction=0.0,
            progress=False,
            logging_steps=1,
            step_features="likelihood",
            head="mlp",
            freeze_backbone=True,
            score_at=score_at,
        )
    )
    losses = [h["loss"] for h in result.log_history if "loss" in h]
    assert sum(losses[-5:]) < sum(losses[:5])
    card = load_card(result.output, expect="orm")
    assert card.extra["step_features"] == "likelihood" and card.extra["head"] == "mlp"
    assert card.extra["freeze_backbone"] is True and card.extra["score_at"] == score_at
    after = LlamaForCausalLM.from_pretrained(result.output).state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # frozen backbone

    # The scorer reads the head at the trained score position, with the whole solution's
    # likelihood features: the same number as the model's forward on the collated example.
    model, tokenizer, _ = load_verifier(result.output, device="cpu")
    assert isinstance(model.head, torch.nn.Sequential)
    solutions = [STEPS, ["= 2+12", "= 14", "\\boxed{15}"], ["= 2+12"]]
    items = [
        {
            **tokenize_orm_example(tokenizer, card.prompt, PROBLEM, s, score_at=score_at),
            "labels": [1.0],
        }
        for s in solutions
    ]
    batch = VerifierCollator(tokenizer.pad_token_id or 0, step_index=True)(items)
    with torch.no_grad():
        logits = model(**batch)["logits"][..., 0]
    expected = [
        torch.sigmoid(logits[row, item["score_positions"][0]]).item()
        for row, item in enumerate(items)
    ]
    # Solutions 1 and 2 differ only in their last step: the scorer shares their prefix.
    scores = load_scorer(result.output, batch_size=2).score([PROBLEM] * 3, solutions)
    assert [s[:-1] for s in scores] == [[None, None], [None, None], []]
    assert [s[-1] for s in scores] == pytest.approx(expected, abs=1e-5)
    # The features cover the whole solution: a different step 1 changes the score.
    other = load_scorer(result.output).score([PROBLEM], [["= 2+13", "= 14", "\\boxed{14}"]])
    assert other[0][-1] != pytest.approx(scores[0][-1], abs=1e-7)


def test_train_orm_cli_passes_the_backbone_options(tmp_path: Path, policy: Path) -> None:
    problems, labeled = _data(tmp_path)
    out = tmp_path / "orm-cli"
    result = runner.invoke(
        app,
        [
            "train-orm", "-i", str(labeled), "-p", str(problems), "-o", str(out),
            "--init", str(policy), "--max-steps", "4", "-b", "8", "--eval-steps", "2",
            "--step-features", "likelihood", "--head", "mlp", "--freeze-backbone",
            "--score-at", "last-step", "--quiet",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    extra = load_card(out, expect="orm").extra
    assert (extra["step_features"], extra["head"], extra["score_at"]) == (
        "likelihood",
        "mlp",
        "last-step",
    )
    bad = runner.invoke(
        app,
        [
            "train-orm", "-i", str(labeled), "-p", str(problems), "-o", str(tmp_path / "bad"),
            "--init", str(policy), "--score-at", "middle", "--quiet",
        ],
    )  # fmt: skip
    assert bad.exit_code == 2 and "--score-at 'middle'" in bad.output
