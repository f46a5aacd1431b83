"""``train-value`` on a tiny random-init Llama, on CPU: --init-only, a few steps of joint and
value-only training, and the saved directory loading back as a scorer and as a policy."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM
from typer.testing import CliRunner

from mathverify.backends.hf import HFPolicy
from mathverify.cli import app
from mathverify.errors import MathverifyError
from mathverify.models.card import load_card
from mathverify.models.tiny import save_random_policy
from mathverify.models.verifier import HEAD_FILE, IGNORE, load_tokenizer, step_likelihood_features
from mathverify.prompting import PromptFormat
from mathverify.records import Solution, read_numbered, read_problems_by_id
from mathverify.scoring import load_scorer
from mathverify.scoring.evaluate import step_auroc
from mathverify.scoring.value import ValueScorer
from mathverify.training.value import ValueCollator, ValueModel, build_value_examples, value_loss

runner = CliRunner()


def make_policy(directory: Path) -> Path:
    return save_random_policy(directory, hidden_size=64, num_layers=2, num_heads=2)


def make_data(directory: Path, n_problems: int = 8) -> tuple[Path, Path]:
    """Problems ``a+b*c``, each with a right trajectory (labels near 1) and a wrong one (near 0),
    as MCTS labels ((Q+1)/2) would give them."""
    rng = random.Random(0)
    problems, solutions = [], []
    for i in range(n_problems):
        a, b, c = rng.randint(1, 9), rng.randint(1, 9), rng.randint(1, 9)
        problems.append(
            {"id": f"p{i}", "problem": f"Compute {a}+{b}*{c}.", "answer": str(a + b * c)}
        )
        for sample, wrong in enumerate((False, True)):
            product = b * c + (1 if wrong else 0)
            steps = [f"= {a}+{product}", f"\\boxed{{{a + product}}}"]
            solutions.append(
                {
                    "problem_id": f"p{i}",
                    "sample_id": sample,
                    "steps": steps,
                    "answer": str(a + product),
                    "step_labels": [0.1, 0.0] if wrong else [0.9, 1.0],
                    "outcome": not wrong,
                    "label_source": "mcts",
                }
            )
    problems_path, solutions_path = directory / "problems.jsonl", directory / "labeled.jsonl"
    problems_path.write_text("".join(json.dumps(p) + "\n" for p in problems))
    solutions_path.write_text("".join(json.dumps(s) + "\n" for s in solutions))
    return problems_path, solutions_path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("value")
    problems, solutions = make_data(root)
    return {
        "root": root,
        "policy": make_policy(root / "policy"),
        "problems": problems,
        "solutions": solutions,
    }


def lm_state(directory: Path) -> dict[str, torch.Tensor]:
    return AutoModelForCausalLM.from_pretrained(str(directory)).state_dict()


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def value_mse(directory: Path, setup: dict[str, Path]) -> float:
    problems = read_problems_by_id(str(setup["problems"]))
    solutions = [s for _, s in read_numbered(str(setup["solutions"]))]
    scores = load_scorer(directory, device="cpu").score(
        [problems[s.problem_id].problem for s in solutions], [s.steps for s in solutions]
    )
    errors = [
        (score - label) ** 2
        for s, row in zip(solutions, scores, strict=True)
        for score, label in zip(row, s.step_labels, strict=True)
    ]
    return sum(errors) / len(errors)


def train_args(setup: dict[str, Path], output: Path, *extra: str) -> list[str]:
    return [
        "train-value",
        "-i", str(setup["solutions"]),
        "-p", str(setup["problems"]),
        "-o", str(output),
        "--init", str(setup["policy"]),
        "--max-steps", "12",
        "--batch-size", "8",
        "--lr", "3e-3",
        "--eval-fraction", "0",
        "--quiet",
        *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def initial(setup: dict[str, Path]) -> Path:
    output = setup["root"] / "init-only"
    result = runner.invoke(
        app, ["train-value", "--init", str(setup["policy"]), "-o", str(output), "--init-only"]
    )
    assert result.exit_code == 0, result.output
    return output


def test_init_only_loads_as_scorer_and_as_the_same_policy(setup, initial):
    assert load_card(initial).kind == "value"
    scorer = load_scorer(initial, device="cpu")
    assert isinstance(scorer, ValueScorer)
    [scores] = scorer.score(["Compute 1+2*3."], [["= 1+6", "= 7", "\\boxed{7}"]])
    assert len(scores) == 3 and all(0.0 < s < 1.0 for s in scores)
    # The causal LM is the policy, untouched: same weights, same greedy text.
    assert same_weights(lm_state(initial), lm_state(setup["policy"]))
    prompt = PromptFormat().prompt("Compute 1+2*3.")
    before = HFPolicy.load(str(setup["policy"]), device="cpu").complete([prompt], max_tokens=8)
    after = HFPolicy.load(str(initial), device="cpu").complete([prompt], max_tokens=8)
    assert before == after


def test_joint_training_lowers_the_value_error_and_trains_the_policy(setup, initial):
    output = setup["root"] / "joint"
    result = runner.invoke(app, train_args(setup, output, "--sft-weight", "1.0"))
    assert result.exit_code == 0, result.output
    assert value_mse(output, setup) < value_mse(initial, setup)
    assert not same_weights(lm_state(output), lm_state(setup["policy"]))
    assert HFPolicy.load(str(output), device="cpu").complete(["Problem: 1"], max_tokens=4)


def test_value_only_training_keeps_the_policy_frozen(setup, initial):
    output = setup["root"] / "frozen"
    extra = ("--freeze-policy", "--sft-weight", "0", "--value-loss", "bce")
    result = runner.invoke(app, train_args(setup, output, *extra))
    assert result.exit_code == 0, result.output
    assert same_weights(lm_state(output), lm_state(setup["policy"]))
    assert value_mse(output, setup) < value_mse(initial, setup)


@pytest.mark.parametrize("detach", [False, True])
def test_likelihood_value_head_trains_jointly_and_scores_back(setup, initial, detach):
    output = setup["root"] / f"likelihood-{detach}"
    extra = ["--step-features", "likelihood", "--head", "mlp", "--sft-weight", "0.1"]
    extra += ["--max-steps", "40"] + (["--detach-features"] if detach else [])
    result = runner.invoke(app, train_args(setup, output, *extra))
    assert result.exit_code == 0, result.output
    card = load_card(output)
    assert (card.extra["step_features"], card.extra["head"]) == ("likelihood", "mlp")
    assert value_mse(output, setup) < value_mse(initial, setup)
    assert not same_weights(lm_state(output), lm_state(setup["policy"]))
    # The scorer gives what the trained network computes at each separator: it rebuilds
    # the same head and feeds it the same likelihood features.
    tokenizer = load_tokenizer(output)
    problems = read_problems_by_id(str(setup["problems"]))
    solutions = read_numbered(str(setup["solutions"]))[:3]
    examples = build_value_examples(solutions, problems, tokenizer, PromptFormat(), 128, sft=False)
    model = ValueModel(
        AutoModelForCausalLM.from_pretrained(str(output)), step_features="likelihood", head="mlp"
    )
    model.head.load_state_dict(load_file(str(output / HEAD_FILE)))
    with torch.no_grad():
        logits = model(**ValueCollator(0, step_index=True)(examples))["logits"][..., 0]
    expected = [
        [float(torch.sigmoid(logits[row, p])) for p in example.score_positions]
        for row, example in enumerate(examples)
    ]
    scored = load_scorer(output, device="cpu").score(
        [problems[s.problem_id].problem for _, s in solutions], [s.steps for _, s in solutions]
    )
    assert [x for row in scored for x in row] == pytest.approx(
        [x for row in expected for x in row], abs=1e-5
    )
    # Continuing from it needs the same head shape: a clear error otherwise.
    again_args = train_args(setup, setup["root"] / "again", "--max-steps", "1")
    again_args[again_args.index("--init") + 1] = str(output)
    again = runner.invoke(app, again_args)
    assert again.exit_code == 2 and "--step-features likelihood --head mlp" in again.output


def test_detached_features_take_no_value_gradient_into_the_policy(setup):
    tokenizer = load_tokenizer(setup["policy"])
    problems = read_problems_by_id(str(setup["problems"]))
    solutions = read_numbered(str(setup["solutions"]))
    examples = build_value_examples(
        solutions[:2], problems, tokenizer, PromptFormat(), 128, sft=False
    )
    batch = ValueCollator(0, step_index=True)(examples)

    def model(detach: bool) -> ValueModel:
        torch.manual_seed(0)
        backbone = AutoModelForCausalLM.from_pretrained(str(setup["policy"]))
        return ValueModel(
            backbone, sft_weight=0.0, step_features="likelihood", detach_features=detach
        )

    def grad(m: ValueModel, loss: torch.Tensor) -> torch.Tensor:
        loss.backward()
        return m.backbone.get_output_embeddings().weight.grad.clone()

    attached, detached, manual = model(False), model(True), model(True)
    g_attached = grad(attached, attached(**batch)["loss"])
    g_detached = grad(detached, detached(**batch)["loss"])
    # By hand: the hidden state with gradient, the features computed without one.
    body = manual.backbone(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        output_hidden_states=True,
    )
    with torch.no_grad():
        features = step_likelihood_features(body.logits, batch["input_ids"], batch["step_index"])
    logits = manual.head(torch.cat([body.hidden_states[-1], features], dim=-1))
    g_manual = grad(manual, value_loss(logits, batch["labels"], "mse"))
    assert torch.allclose(g_detached, g_manual, atol=1e-6)
    assert not torch.allclose(g_attached, g_detached, atol=1e-6)


def test_eval_labels_reports_step_auroc(setup, initial, tmp_path):
    report_path = tmp_path / "auroc.json"
    output = setup["root"] / "with-eval"
    args = train_args(setup, output, "--max-steps", "2")
    args += ["--eval-labels", str(setup["solutions"]), "--eval-json", str(report_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    assert report["n_steps"] == 32 and report["n_correct_steps"] == 16
    assert 0.0 <= report["step_auroc"] <= 1.0


def test_bad_settings_are_refused(setup, tmp_path):
    result = runner.invoke(
        app, ["train-value", "--init", str(setup["policy"]), "-o", str(tmp_path)]
    )
    assert result.exit_code == 2 and "--input" in result.output
    result = runner.invoke(
        app, train_args(setup, tmp_path / "x", "--freeze-policy", "--sft-weight", "1")
    )
    assert result.exit_code == 2 and "--sft-weight 0" in result.output
    with pytest.raises(MathverifyError, match="--value-loss"):
        from mathverify.training.value_config import ValueTrainConfig

        ValueTrainConfig(input="a", problems="b", output="c", init="d", value_loss="l1").validate()


def test_examples_have_value_targets_and_sft_only_for_correct_trajectories(setup):
    tokenizer = load_tokenizer(setup["policy"])
    problems = read_problems_by_id(str(setup["problems"]))
    solutions = read_numbered(str(setup["solutions"]))
    duplicate = (99, Solution.from_dict(solutions[0][1].to_dict()))
    examples = build_value_examples(
        [*solutions, duplicate], problems, tokenizer, PromptFormat(), 256
    )
    value = [e for e in examples if e.lm_labels is None]
    sft = [e for e in examples if e.lm_labels is not None]
    assert len(value) == 17  # every labeled solution, the duplicate too
    assert len(sft) == 8  # one per distinct correct trajectory
    assert all(len(e.score_positions) == 2 for e in value)
    assert all(e.lm_labels[-1] == tokenizer.eos_token_id for e in sft)
    assert not build_value_examples(
        [s for s in solutions if s[1].outcome is False], problems, tokenizer, PromptFormat(), 256
    )[-1].lm_labels


def test_the_loss_is_value_loss_plus_weighted_lm_loss(setup):
    tokenizer = load_tokenizer(setup["policy"])
    problems = read_problems_by_id(str(setup["problems"]))
    examples = build_value_examples(
        read_numbered(str(setup["solutions"]))[:2], problems, tokenizer, PromptFormat(), 256
    )
    batch = ValueCollator(tokenizer.pad_token_id)(examples)
    backbone = AutoModelForCausalLM.from_pretrained(str(setup["policy"]))
    torch.manual_seed(0)
    model = ValueModel(backbone, loss="mse", sft_weight=0.5).eval()
    with torch.no_grad():
        out = model(**batch)
        lm = backbone(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            labels=batch["lm_labels"],
        ).loss
    assert out["lm_loss"] == pytest.approx(float(lm), rel=1e-5)
    expected = value_loss(out["logits"], batch["labels"], "mse") + 0.5 * lm
    assert out["loss"] == pytest.approx(float(expected), rel=1e-5)


@pytest.mark.parametrize(
    "scores, labels, expected",
    [
        ([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1], 1.0),
        ([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1], 0.0),
        ([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1], 0.5),
        ([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 0.75),
        ([0.3, 0.3, 0.7], [0, 1, 1], 0.75),
        ([0.1, 0.2], [1, 1], None),
    ],
)
def test_step_auroc(scores, labels, expected):
    assert step_auroc(scores, labels) == expected


def test_value_loss_masks_ignored_positions():
    logits = torch.tensor([[[0.0], [2.0], [-1.0]]])
    labels = torch.tensor([[IGNORE, 1.0, 0.0]])
    mse = ((torch.sigmoid(torch.tensor(2.0)) - 1) ** 2 + torch.sigmoid(torch.tensor(-1.0)) ** 2) / 2
    assert float(value_loss(logits, labels, "mse")) == pytest.approx(float(mse))
    assert float(value_loss(logits, torch.full((1, 3), IGNORE), "bce")) == 0.0


def test_a_value_directory_ranks_sbs_beams_through_the_cli(setup, initial, tmp_path):
    output = tmp_path / "sbs.jsonl"
    args = ["search", "--method", "sbs", "--b1", "2", "--b2", "2", "--policy", str(setup["policy"]),
            "--scorer", str(initial), "--problems", str(setup["problems"]), "--limit", "2",
            "--max-depth", "2", "--max-step-tokens", "4", "--device", "cpu",
            "--grade-workers", "1", "--group-by", "string", "-o", str(output)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(rows) == 2
    scored = [c for r in rows for c in r["candidates"] if c["score"] is not None]
    assert scored and all(0.0 < c["score"] < 1.0 for c in scored)
