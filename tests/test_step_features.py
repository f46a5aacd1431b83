"""Verifiers whose head also reads the step's token log-probabilities (``--step-features
likelihood``), the MLP head and the frozen backbone: the pure pieces by table, then the
model, its save/load round trip, the scorer and a short training run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from transformers import LlamaForCausalLM

from mathverify.errors import MathverifyError
from mathverify.models.card import ModelCard, load_card
from mathverify.models.tiny import build_tokenizer, save_random_policy, tiny_llama_config
from mathverify.models.verifier import (
    Example,
    VerifierCollator,
    VerifierModel,
    load_verifier,
    save_verifier,
    step_index_row,
    step_likelihood_features,
)
from mathverify.models.verifier_examples import tokenize_prm_example
from mathverify.prompting import PromptFormat
from mathverify.scoring import load_scorer
from mathverify.training import verifier_common
from mathverify.training.prm import train_prm
from mathverify.training.verifier_common import (
    FeatureCollator,
    backbone_is_fixed,
    cache_features,
)
from mathverify.training.verifier_config import PRMTrainConfig

PROBLEMS = ["Compute (12+7)*3-5.", "Compute 2+3*4."]
STEPS = [["= 19*3-5", "= 57-5", "= 52", "\\boxed{52}"], ["= 2+12", "\\boxed{14}"]]


@pytest.mark.parametrize(
    ("length", "start", "positions", "expected"),
    [
        (6, 2, [3, 5], [-1, -1, 0, 0, 1, 1]),
        (7, 1, [1, 2, 4], [-1, 0, 1, 2, 2, -1, -1]),  # tokens after the last step: none
        (4, 0, [], [-1, -1, -1, -1]),
        (5, 3, [4], [-1, -1, -1, 0, 0]),
    ],
)
def test_step_index_row(length: int, start: int, positions: list[int], expected: list[int]) -> None:
    assert step_index_row(length, start, positions) == expected


def test_likelihood_features_by_hand() -> None:
    # Vocabulary of 2; the model predicts token 0 with log-probability log(0.8) everywhere.
    p = torch.tensor([math.log(0.8), math.log(0.2)])
    logits = p.expand(1, 5, 2).clone()
    input_ids = torch.tensor([[1, 0, 1, 1, 0]])
    steps = torch.tensor([[-1, 0, 0, 1, 1]])
    features = step_likelihood_features(logits, input_ids, steps)[0]
    a, b = math.log(0.8), math.log(0.2)
    # Step 0: tokens 1 (0) and 2 (1); step 1: tokens 3 (1) and 4 (0).
    step0 = [a + b, (a + b) / 2, b]
    step1 = [b + a, (b + a) / 2, b]
    assert features[0].tolist() == [0.0, 0.0, 0.0]
    for t, expected in [(1, step0), (2, step0), (3, step1), (4, step1)]:
        assert features[t].tolist() == pytest.approx(expected, abs=1e-6)


def test_likelihood_features_ignore_padding_and_batch_rows() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 6, 5)
    ids = torch.randint(0, 5, (2, 6))
    steps = torch.tensor([[-1, 0, 0, 1, -1, -1], [-1, -1, 0, 0, 0, 1]])
    both = step_likelihood_features(logits, ids, steps)
    first = step_likelihood_features(logits[:1, :4], ids[:1, :4], steps[:1, :4])
    assert torch.allclose(both[0, :4], first[0], atol=1e-6)
    assert both[0, 4:].abs().sum() == 0


@pytest.mark.parametrize("problem", ["add 1 and 2", "Compute 2+3*4."])
def test_step_start_is_the_first_token_of_step_zero(problem: str) -> None:
    tokenizer = build_tokenizer()
    fmt = PromptFormat()
    steps = ["We add.", "= 3", "\\boxed{3}"]
    example = tokenize_prm_example(tokenizer, fmt, problem, steps)
    text = fmt.prompt(problem) + "\n\n".join(steps) + "\n\n"
    offsets = tokenizer(text, return_offsets_mapping=True)["offset_mapping"]
    start = example["step_start"]
    assert text[offsets[start][0] : offsets[start][1]] == steps[0][0]
    assert offsets[start][0] == len(fmt.prompt(problem))


def _verifier(head: str = "mlp", freeze: bool = False) -> VerifierModel:
    torch.manual_seed(0)
    backbone = LlamaForCausalLM(
        tiny_llama_config(build_tokenizer(), hidden_size=64, num_layers=2, num_heads=2)
    )
    return VerifierModel(backbone, 1, "likelihood", head, freeze)


def _batch(model_steps: list[list[str]] = STEPS) -> dict[str, torch.Tensor]:
    tokenizer = build_tokenizer()
    items = [
        {**tokenize_prm_example(tokenizer, PromptFormat(), p, s), "labels": [1.0] * len(s)}
        for p, s in zip(PROBLEMS, model_steps, strict=True)
    ]
    return VerifierCollator(tokenizer.pad_token_id or 0, step_index=True)(items)


def test_likelihood_model_needs_step_index_and_trains_its_backbone_unless_frozen() -> None:
    batch = _batch()
    model = _verifier()
    with pytest.raises(MathverifyError, match="step_index"):
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    model(**batch)["loss"].backward()
    lm_head = model.backbone.get_output_embeddings().weight
    assert lm_head.grad is not None and lm_head.grad.abs().sum() > 0
    frozen = _verifier(freeze=True)
    frozen(**batch)["loss"].backward()
    assert all(p.grad is None for p in frozen.backbone.parameters())
    assert all(p.grad is not None for p in frozen.head.parameters())


def test_a_different_step_changes_the_features_at_its_score_position() -> None:
    # The head sees how likely the step is: swapping one digit changes step 1's features.
    model = _verifier()
    with torch.no_grad():
        right = model.head_inputs(**{k: v for k, v in _batch().items() if k != "labels"})
        changed = [["= 19*3-5", "= 58-5", "= 52", "\\boxed{52}"], STEPS[1]]
        wrong = model.head_inputs(**{k: v for k, v in _batch(changed).items() if k != "labels"})
    positions = tokenize_prm_example(build_tokenizer(), PromptFormat(), PROBLEMS[0], STEPS[0])[
        "score_positions"
    ]
    assert torch.equal(right[0, positions[0], -3:], wrong[0, positions[0], -3:])
    assert not torch.equal(right[0, positions[1], -3:], wrong[0, positions[1], -3:])


def test_mlp_likelihood_verifier_round_trips_and_scores(tmp_path: Path) -> None:
    model = _verifier()
    card = ModelCard(
        kind="prm",
        label_scheme="hard",
        extra={"n_outputs": 1, "step_features": "likelihood", "head": "mlp"},
    )
    save_verifier(model, tmp_path, build_tokenizer(), card)
    loaded, _, _ = load_verifier(tmp_path, device="cpu")
    assert loaded.step_features == "likelihood" and isinstance(loaded.head, torch.nn.Sequential)
    batch = _batch()
    with torch.no_grad():
        expected = torch.sigmoid(model(**batch)["logits"][..., 0])
    scores = load_scorer(tmp_path, batch_size=1).score(PROBLEMS, STEPS)
    for row, solution in enumerate(scores):
        wanted = expected[row][batch["labels"][row] != -100.0].tolist()
        assert solution == pytest.approx(wanted, abs=1e-5)
    # Scores of a step depend on nothing after it, batched or not.
    prefix = load_scorer(tmp_path, batch_size=4).score(PROBLEMS[:1], [STEPS[0][:2]])
    assert prefix[0] == pytest.approx(scores[0][:2], abs=1e-5)


def test_train_prm_with_likelihood_features(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = save_random_policy(tmp_path / "policy", hidden_size=64, num_layers=2, num_heads=2)
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
                    "steps": [f"= {value}", f"\\boxed{{{value}}}"],
                    "step_labels": [0, 0] if wrong else [1, 1],
                    "label_source": "exact",
                }
            )
    problems.write_text("".join(json.dumps(r) + "\n" for r in rows))
    labeled.write_text("".join(json.dumps(s) + "\n" for s in solutions))
    before = {
        k: v.clone() for k, v in LlamaForCausalLM.from_pretrained(policy).state_dict().items()
    }
    cached: list[int] = []

    def spy(model: VerifierModel, examples: list[Example], *args: object) -> object:
        cached.append(len(examples))
        return cache_features(model, examples, *args)

    monkeypatch.setattr(verifier_common, "cache_features", spy)
    result = train_prm(
        PRMTrainConfig(
            input=str(labeled),
            problems=str(problems),
            output=str(tmp_path / "prm"),
            init=str(policy),
            max_steps=20,
            batch_size=8,
            lr=3e-3,
            eval_fraction=0.0,
            progress=False,
            step_features="likelihood",
            head="mlp",
            freeze_backbone=True,
        )
    )
    assert cached == [16, 0]  # the frozen backbone ran once over the train split
    losses = [h["loss"] for h in result.log_history if "loss" in h]
    assert losses[-1] < losses[0]
    card = load_card(result.output, expect="prm")
    assert card.extra["step_features"] == "likelihood" and card.extra["head"] == "mlp"
    after = LlamaForCausalLM.from_pretrained(result.output).state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # frozen backbone
    scores = load_scorer(result.output).score(["Compute 3+1."], [["= 4", "\\boxed{4}"]])
    assert len(scores[0]) == 2


def _examples() -> list[Example]:
    tokenizer = build_tokenizer()
    targets = [[1.0, 1.0, 0.0, None], [0.0, None]]
    return [
        Example(**tokenize_prm_example(tokenizer, PromptFormat(), p, s, t), group=p)
        for p, s, t in zip(PROBLEMS, STEPS, targets, strict=True)
    ]


def test_cached_features_give_the_full_forwards_loss_and_head_gradient() -> None:
    # A frozen backbone's head inputs are computed once; training on them is training on
    # what the full forward computes at every step (same loss, same head gradient).
    model = _verifier(freeze=True)
    model.train()
    examples = _examples()
    collator = VerifierCollator(build_tokenizer().pad_token_id or 0, step_index=True)
    full = model(**collator(examples))["loss"]
    full.backward()
    full_grads = [p.grad.clone() for p in model.head.parameters()]
    model.zero_grad()
    cached = cache_features(model, examples, collator, batch_size=1)
    assert model.training  # the mode is restored
    assert [len(c.labels) for c in cached] == [3, 1]  # labeled positions only
    assert [c.group for c in cached] == [e.group for e in examples]
    batch = FeatureCollator()(cached)
    assert batch["features"].shape[:2] == (2, 3) and batch["labels"][1, 1:].eq(-100).all()
    loss = model(**batch)["loss"]
    loss.backward()
    assert torch.allclose(loss, full, atol=1e-6)
    for grad, expected in zip((p.grad for p in model.head.parameters()), full_grads, strict=True):
        assert torch.allclose(grad, expected, atol=1e-6)


def test_only_a_frozen_backbone_without_dropout_is_cached() -> None:
    assert backbone_is_fixed(_verifier(freeze=True))
    assert not backbone_is_fixed(_verifier(freeze=False))
    torch.manual_seed(0)
    config = tiny_llama_config(build_tokenizer(), hidden_size=64, num_layers=2, num_heads=2)
    config.attention_dropout = 0.1  # dropout in train mode: inputs change from step to step
    assert not backbone_is_fixed(
        VerifierModel(LlamaForCausalLM(config), 1, "likelihood", "mlp", True)
    )


def test_unknown_head_or_features_is_a_clear_error() -> None:
    backbone = LlamaForCausalLM(
        tiny_llama_config(build_tokenizer(), hidden_size=64, num_layers=2, num_heads=2)
    )
    with pytest.raises(MathverifyError, match="head 'deep'"):
        VerifierModel(backbone, 1, "likelihood", "deep")
    with pytest.raises(MathverifyError, match="step features 'logits'"):
        VerifierModel(backbone, 1, "logits")
