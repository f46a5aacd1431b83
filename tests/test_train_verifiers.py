"""``train-prm`` and ``train-orm`` on a handful of hand-made arithmetic solutions, on CPU.

A tiny Llama (2 layers, width 64) trains for a few dozen steps: the loss must go down, the
saved directory must load back as a scorer, early stopping and resume must work.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.errors import MathverifyError
from mathverify.models.card import load_card
from mathverify.models.tiny import save_random_policy
from mathverify.models.verifier import HEAD_FILE
from mathverify.scoring import load_scorer
from mathverify.training.orm import train_orm
from mathverify.training.prm import train_prm
from mathverify.training.verifier_common import split_by_group
from mathverify.training.verifier_config import ORMTrainConfig, PRMTrainConfig

runner = CliRunner()


def make_policy(directory: Path) -> Path:
    return save_random_policy(directory, hidden_size=64, num_layers=2, num_heads=2)


def make_data(directory: Path, n_problems: int = 10) -> tuple[Path, Path]:
    """Problems ``a+b*c`` with one right and one wrong solution each (wrong from step 0)."""
    rng = random.Random(0)
    problems, solutions = [], []
    for i in range(n_problems):
        a, b, c = rng.randint(1, 9), rng.randint(1, 9), rng.randint(1, 9)
        problems.append(
            {"id": f"p{i}", "problem": f"Compute {a}+{b}*{c}.", "answer": str(a + b * c)}
        )
        for sample, wrong in enumerate((False, True)):
            product = b * c + (1 if wrong else 0)
            steps = [f"= {a}+{product}", f"= {a + product}", f"\\boxed{{{a + product}}}"]
            labels = [0, 0, 0] if wrong else [1, 1, 1]
            solutions.append(
                {
                    "problem_id": f"p{i}",
                    "sample_id": sample,
                    "steps": steps,
                    "step_labels": labels,
                    "outcome": not wrong,
                    "label_source": "exact",
                }
            )
    problems_path, solutions_path = directory / "problems.jsonl", directory / "labeled.jsonl"
    problems_path.write_text("".join(json.dumps(p) + "\n" for p in problems))
    solutions_path.write_text("".join(json.dumps(s) + "\n" for s in solutions))
    return problems_path, solutions_path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("verifiers")
    problems, solutions = make_data(root)
    return {
        "root": root,
        "policy": make_policy(root / "policy"),
        "problems": problems,
        "solutions": solutions,
    }


def _config(setup: dict[str, Path], output: str, cls: type = PRMTrainConfig, **options: object):
    # The fine-tuned backbone: the trainer's mechanics with every weight moving (the frozen,
    # cached-feature path has its own tests in test_step_features and test_recipes).
    base = dict(
        recipe="finetune",
        input=str(setup["solutions"]),
        problems=str(setup["problems"]),
        output=str(setup["root"] / output),
        init=str(setup["policy"]),
        max_steps=40,
        batch_size=8,
        lr=3e-3,
        eval_steps=20,
        logging_steps=1,
        progress=False,
    )
    base.update(options)
    return cls(**base)


def _losses(log_history: list[dict]) -> list[float]:
    return [h["loss"] for h in log_history if "loss" in h]


def test_prm_loss_goes_down_and_loads_as_scorer(setup: dict[str, Path]) -> None:
    result = train_prm(_config(setup, "prm", max_steps=60))
    losses = _losses(result.log_history)
    assert result.global_step == 60 and len(losses) == 60
    assert sum(losses[-5:]) / 5 < 0.8 * (sum(losses[:5]) / 5)
    assert result.n_eval > 0 and result.eval_loss is not None
    card = load_card(result.output, expect="prm")
    assert card.label_scheme == "hard" and card.extra["n_outputs"] == 1
    scorer = load_scorer(result.output)
    problems = ["Compute 2+3*4.", "Compute 1+1*1."]
    steps = [["= 2+12", "= 14", "\\boxed{14}"], ["= 1+1"]]
    scores = scorer.score(problems, steps)
    assert [len(s) for s in scores] == [3, 1]
    assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for row in scores for v in row)


def test_prm_three_class(setup: dict[str, Path], tmp_path: Path) -> None:
    rows = [json.loads(line) for line in setup["solutions"].read_text().splitlines()]
    for row in rows:
        row["step_labels"] = [-1 if v == 0 else v for v in row["step_labels"]]
        row["label_source"] = "prm800k"
    data = tmp_path / "prm800k.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = train_prm(
        _config(setup, "prm3", input=str(data), three_class=True, max_steps=30, eval_fraction=0.0)
    )
    losses = _losses(result.log_history)
    assert sum(losses[-5:]) < sum(losses[:5])
    card = load_card(result.output)
    assert card.label_scheme == "prm800k" and card.extra["n_outputs"] == 3
    scores = load_scorer(result.output).score(["Compute 2+3*4."], [["= 2+12", "= 14"]])
    assert len(scores[0]) == 2 and all(0.0 <= v <= 1.0 for v in scores[0])


def test_orm_cli_trains_and_scores_only_the_last_step(setup: dict[str, Path]) -> None:
    out = setup["root"] / "orm"
    result = runner.invoke(
        app,
        [
            "train-orm",
            "-i", str(setup["solutions"]),
            "-p", str(setup["problems"]),
            "-o", str(out),
            "--init", str(setup["policy"]),
            "--max-steps", "20",
            "--batch-size", "8",
            "--lr", "3e-3",
            "--eval-steps", "10",
            "--quiet",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "train-orm: 20 steps" in result.output
    assert load_card(out).kind == "orm"
    scores = load_scorer(out).score(
        ["Compute 2+3*4."] * 2, [["= 2+12", "= 14", "\\boxed{14}"], ["= 2+12"]]
    )
    assert scores[0][:2] == [None, None] and 0.0 <= scores[0][2] <= 1.0
    assert len(scores[1]) == 1 and scores[1][0] is not None


def test_orm_loss_goes_down(setup: dict[str, Path]) -> None:
    result = train_orm(_config(setup, "orm-lib", cls=ORMTrainConfig, eval_fraction=0.0))
    losses = _losses(result.log_history)
    assert sum(losses[-5:]) < sum(losses[:5])


def test_early_stopping_on_flat_validation_loss(setup: dict[str, Path]) -> None:
    # With lr 0 the validation loss never improves, so patience 1 stops at the second evaluation.
    result = train_prm(_config(setup, "stopped", lr=0.0, max_steps=100, eval_steps=2, patience=1))
    assert result.global_step == 4


def _weights(directory: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a saved verifier: the backbone's and the head's."""
    tensors = load_file(directory / "model.safetensors")
    tensors.update({f"head.{k}": v for k, v in load_file(directory / HEAD_FILE).items()})
    return tensors


def _same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def _optimizer_step(checkpoint: Path) -> int:
    state = torch.load(checkpoint / "optimizer.pt", weights_only=True)["state"]
    return int(state[0]["step"])


def test_resume_continues_from_the_last_checkpoint(setup: dict[str, Path]) -> None:
    # An uninterrupted run of 15 steps, then the same run "killed" after its checkpoint at
    # step 10 (checkpoint-15 and the final files removed) and resumed: the resumed run must
    # restore the weights and the optimizer from checkpoint-10 and end where the first did.
    straight = train_prm(_config(setup, "straight", max_steps=15, eval_steps=5, eval_fraction=0.0))
    interrupted = setup["root"] / "resumed"
    shutil.copytree(straight.output, interrupted)
    shutil.rmtree(interrupted / "checkpoint-15")
    for name in ("model.safetensors", HEAD_FILE):
        (interrupted / name).unlink()
    assert (interrupted / "checkpoint-10" / HEAD_FILE).exists()
    second = train_prm(
        _config(setup, "resumed", max_steps=15, eval_steps=5, eval_fraction=0.0, resume=True)
    )
    assert second.global_step == 15
    steps_logged = [h["step"] for h in second.log_history if "loss" in h]
    # The resumed run starts at step 11; the first 10 come from the checkpoint's state.
    assert steps_logged == list(range(1, 16))
    resumed_losses = _losses(second.log_history)[10:]
    assert resumed_losses == pytest.approx(_losses(straight.log_history)[10:], abs=1e-5)
    assert _same_weights(_weights(interrupted), _weights(Path(straight.output)))
    assert _optimizer_step(interrupted / "checkpoint-15") == 15
    assert load_card(interrupted / "checkpoint-15").kind == "prm"
    with pytest.raises(MathverifyError, match="checkpoints of an earlier run; pass --resume"):
        train_prm(_config(setup, "resumed", max_steps=5, eval_fraction=0.0))


def test_load_best_model_at_end_keeps_the_best_checkpoints_weights(
    setup: dict[str, Path], tmp_path: Path
) -> None:
    # Every problem has the same text and steps; the held-out problems are labelled 0 and
    # the training ones 1, so training only raises the validation loss: the best checkpoint
    # is the first (step 5), and the saved model must be its weights, not step 15's.
    ids = [f"p{i}" for i in range(6)]
    _, held = split_by_group([SimpleNamespace(group=i) for i in ids], 0.5, 0)
    held_out = {e.group for e in held}
    problems, solutions = tmp_path / "problems.jsonl", tmp_path / "labeled.jsonl"
    problems.write_text(
        "".join(json.dumps({"id": i, "problem": "Compute 1+2.", "answer": "3"}) + "\n" for i in ids)
    )
    rows = []
    for i in ids:
        label = 0 if i in held_out else 1
        rows.append({"problem_id": i, "sample_id": 0, "steps": ["= 3", "\\boxed{3}"],
                     "step_labels": [label, label]})  # fmt: skip
    solutions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = train_prm(
        _config(
            setup, "best", input=str(solutions), problems=str(problems), max_steps=15,
            eval_steps=5, eval_fraction=0.5, patience=0, save_total_limit=2, seed=0,
        )
    )  # fmt: skip
    eval_losses = [h["eval_loss"] for h in result.log_history if "eval_loss" in h]
    assert len(eval_losses) == 3 and eval_losses[0] < eval_losses[1] < eval_losses[2]
    output = Path(result.output)
    assert result.best_checkpoint == str(output / "checkpoint-5")
    final = _weights(output)
    assert _same_weights(final, _weights(output / "checkpoint-5"))
    assert not _same_weights(final, _weights(output / "checkpoint-15"))


def test_missing_step_labels_name_the_line(setup: dict[str, Path], tmp_path: Path) -> None:
    data = tmp_path / "unlabeled.jsonl"
    data.write_text(json.dumps({"problem_id": "p0", "sample_id": 0, "steps": ["= 1"]}) + "\n")
    with pytest.raises(MathverifyError, match=r"unlabeled.jsonl:1: field 'step_labels'"):
        train_prm(_config(setup, "never", input=str(data)))


def test_hard_scheme_rejects_soft_labels_with_the_line(
    setup: dict[str, Path], tmp_path: Path
) -> None:
    data = tmp_path / "soft.jsonl"
    row = {"problem_id": "p0", "sample_id": 0, "steps": ["= 1", "= 2"], "step_labels": [1, 0.5]}
    data.write_text(json.dumps(row) + "\n")
    with pytest.raises(MathverifyError, match=r"soft.jsonl:1: .*hard label must be 0 or 1"):
        train_prm(_config(setup, "never", input=str(data), label_scheme="hard"))


def test_init_that_is_not_a_model(setup: dict[str, Path], tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "train-prm",
            "-i", str(setup["solutions"]),
            "-p", str(setup["problems"]),
            "-o", str(tmp_path / "out"),
            "--init", str(tmp_path),
        ],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "cannot load" in result.output


def test_collator_puts_targets_at_score_positions_only() -> None:
    from mathverify.models.verifier import IGNORE, Example, VerifierCollator

    batch = VerifierCollator(pad_token_id=0)(
        [
            Example(input_ids=[5, 6, 7, 8], score_positions=[1, 3], labels=[1.0, None]),
            Example(input_ids=[9, 10], score_positions=[1], labels=[0.25]),
        ]
    )
    assert batch["input_ids"].tolist() == [[5, 6, 7, 8], [9, 10, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    assert batch["labels"].tolist() == [
        [IGNORE, 1.0, IGNORE, IGNORE],
        [IGNORE, 0.25, IGNORE, IGNORE],
    ]


def test_loss_reads_only_labeled_positions() -> None:
    from mathverify.models.verifier import IGNORE, verifier_loss

    logits = torch.tensor([[[0.0], [2.0], [-3.0]]])
    labels = torch.tensor([[IGNORE, 1.0, IGNORE]])
    expected = torch.nn.functional.softplus(torch.tensor(-2.0))  # -log(sigmoid(2))
    assert verifier_loss(logits, labels).item() == pytest.approx(expected.item())
    three = torch.tensor([[[1.0, 0.0, -1.0], [0.0, 0.0, 0.0]]])
    assert verifier_loss(three, torch.tensor([[0.0, IGNORE]])).item() == pytest.approx(
        -torch.log_softmax(torch.tensor([1.0, 0.0, -1.0]), 0)[0].item()
    )
