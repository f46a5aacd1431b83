"""Scorers loaded from verifier directories, and the ``score`` command.

The verifiers here are untrained (a tiny backbone plus a head saved by ``save_verifier``):
these tests check shapes, batching, the three-class probability, the card checks and the
JSONL plumbing, not what a model has learned.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from transformers import LlamaForCausalLM
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.errors import MathverifyError
from mathverify.models.card import ModelCard
from mathverify.models.tiny import build_tokenizer, tiny_llama_config
from mathverify.models.verifier import VerifierModel, save_verifier
from mathverify.scoring import Scorer, load_scorer

runner = CliRunner()

PROBLEMS = ["Compute (12+7)*3-5.", "Compute 2+3*4.", "Compute 9-8."]
STEPS = [["= 19*3-5", "= 57-5", "= 52", "\\boxed{52}"], ["= 2+12", "\\boxed{14}"], ["\\boxed{1}"]]


def _backbone(seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    return LlamaForCausalLM(
        tiny_llama_config(build_tokenizer(), hidden_size=64, num_layers=2, num_heads=2)
    )


def make_verifier(
    directory: Path, kind: str, n_outputs: int = 1, extra: dict | None = None
) -> Path:
    model = VerifierModel(_backbone(), n_outputs)
    with torch.no_grad():
        # A head large enough that scores differ visibly between steps.
        model.head.weight.normal_(0.0, 1.0)
    card = ModelCard(
        kind=kind, label_scheme="hard", extra={"n_outputs": n_outputs, **(extra or {})}
    )
    save_verifier(model, directory, build_tokenizer(), card)
    return directory


@pytest.fixture(scope="module")
def prm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_verifier(tmp_path_factory.mktemp("prm"), "prm")


@pytest.fixture(scope="module")
def orm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_verifier(tmp_path_factory.mktemp("orm"), "orm")


def test_prm_scores_every_step(prm_dir: Path) -> None:
    scorer = load_scorer(prm_dir)
    assert isinstance(scorer, Scorer) and scorer.name == str(prm_dir)
    scores = scorer.score(PROBLEMS, STEPS)
    assert [len(row) for row in scores] == [4, 2, 1]
    assert all(0.0 <= v <= 1.0 for row in scores for v in row)
    assert len({round(v, 6) for v in scores[0]}) > 1


def test_prm_scores_do_not_depend_on_batching(prm_dir: Path) -> None:
    one = load_scorer(prm_dir, batch_size=1).score(PROBLEMS, STEPS)
    many = load_scorer(prm_dir, batch_size=3).score(PROBLEMS, STEPS)
    for a, b in zip(one, many, strict=True):
        assert a == pytest.approx(b, abs=1e-5)


def test_prm_score_of_a_prefix_is_the_prefix_of_scores(prm_dir: Path) -> None:
    # A causal model reads step i's score before anything after it: partial solutions
    # (as step-level search scores them) get the same scores as the whole solution.
    scorer = load_scorer(prm_dir)
    full = scorer.score(PROBLEMS[:1], STEPS[:1])[0]
    prefix = scorer.score(PROBLEMS[:1], [STEPS[0][:2]])[0]
    assert prefix == pytest.approx(full[:2], abs=1e-5)


def test_empty_solution_gets_no_scores(prm_dir: Path) -> None:
    assert load_scorer(prm_dir).score(["Compute 1+1."], [[]]) == [[]]


def test_steps_beyond_max_length_get_none(tmp_path: Path) -> None:
    directory = make_verifier(tmp_path / "short", "prm", extra={"max_length": 40})
    scores = load_scorer(directory).score(PROBLEMS[:1], STEPS[:1])[0]
    # The prompt is 40 characters long: no step fits in the first 40 tokens.
    assert scores == [None] * 4


def test_orm_fills_only_the_last_step(orm_dir: Path) -> None:
    scores = load_scorer(orm_dir).score(PROBLEMS, STEPS)
    assert [row[:-1] for row in scores] == [[None] * 3, [None], []]
    assert all(0.0 <= row[-1] <= 1.0 for row in scores)


@pytest.mark.parametrize("rule", ["not_negative", "positive"])
def test_three_class_probability(tmp_path: Path, rule: str) -> None:
    directory = make_verifier(
        tmp_path / rule, "prm", n_outputs=3, extra={"three_class_score": rule}
    )
    head_path = directory / "verifier_head.safetensors"
    from safetensors.torch import load_file, save_file

    head = load_file(str(head_path))
    head["weight"].zero_()
    head["bias"] = torch.tensor([0.5, -1.0, 1.5])
    save_file(head, str(head_path))
    probs = [math.exp(x) for x in (0.5, -1.0, 1.5)]
    total = sum(probs)
    expected = (probs[2] / total) if rule == "positive" else 1 - probs[0] / total
    scores = load_scorer(directory).score(PROBLEMS[1:2], STEPS[1:2])[0]
    assert scores == pytest.approx([expected, expected], abs=1e-5)


def test_load_scorer_refuses_a_policy(tmp_path: Path) -> None:
    policy = tmp_path / "policy"
    _backbone().save_pretrained(policy)
    ModelCard(kind="policy").save(policy)
    with pytest.raises(MathverifyError, match="is a policy model, not a scorer"):
        load_scorer(policy)


def test_load_scorer_refuses_a_plain_directory(tmp_path: Path) -> None:
    with pytest.raises(MathverifyError, match="no mathverify.json"):
        load_scorer(tmp_path)
    with pytest.raises(MathverifyError, match="not a directory"):
        load_scorer(tmp_path / "missing")


def _write_inputs(tmp_path: Path) -> tuple[Path, Path]:
    problems = tmp_path / "problems.jsonl"
    problems.write_text(
        "".join(json.dumps({"id": f"q{i}", "problem": p}) + "\n" for i, p in enumerate(PROBLEMS))
    )
    solutions = tmp_path / "solutions.jsonl"
    rows = [
        {"problem_id": f"q{i}", "sample_id": s, "steps": steps, "meta": {"kept": True}}
        for i, steps in enumerate(STEPS)
        for s in range(2)
    ]
    solutions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return problems, solutions


def test_score_cli_writes_step_scores_and_aggregate(prm_dir: Path, tmp_path: Path) -> None:
    problems, solutions = _write_inputs(tmp_path)
    out = tmp_path / "scored.jsonl"
    args = [
        "score",
        "--scorer",
        str(prm_dir),
        "-p",
        str(problems),
        "-i",
        str(solutions),
        "-o",
        str(out),
    ]
    result = runner.invoke(app, [*args, "--aggregate", "product", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["problem_id"], r["sample_id"]) for r in rows] == [
        (f"q{i}", s) for i in range(3) for s in range(2)
    ]
    expected = load_scorer(prm_dir).score(PROBLEMS, STEPS)
    for row in rows:
        index = int(row["problem_id"][1:])
        assert row["step_scores"] == pytest.approx(expected[index], abs=1e-5)
        assert row["scorer"] == str(prm_dir)
        assert row["meta"]["score"] == pytest.approx(math.prod(row["step_scores"]))
        assert row["meta"]["aggregate"] == "product" and row["meta"]["kept"] is True


def test_score_cli_resume_skips_rows_already_written(prm_dir: Path, tmp_path: Path) -> None:
    problems, solutions = _write_inputs(tmp_path)
    out = tmp_path / "scored.jsonl"
    lines = solutions.read_text().splitlines()
    first_two = tmp_path / "first.jsonl"
    first_two.write_text("\n".join(lines[:2]) + "\n")
    args = ["score", "--scorer", str(prm_dir), "-p", str(problems), "-o", str(out)]
    assert runner.invoke(app, [*args, "-i", str(first_two)]).exit_code == 0
    result = runner.invoke(app, [*args, "-i", str(solutions), "--resume"])
    assert result.exit_code == 0, result.output
    assert "4 solutions scored" in result.output and "2 kept from before" in result.output
    assert len(out.read_text().splitlines()) == 6


def test_score_cli_orm_and_unknown_problem(orm_dir: Path, tmp_path: Path) -> None:
    problems, solutions = _write_inputs(tmp_path)
    out = tmp_path / "scored.jsonl"
    args = ["score", "-s", str(orm_dir), "-p", str(problems), "-i", str(solutions), "-o", str(out)]
    assert runner.invoke(app, [*args, "-a", "last"]).exit_code == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(r["step_scores"][:-1] == [None] * (len(r["steps"]) - 1) for r in rows)
    assert all(r["meta"]["score"] == r["step_scores"][-1] for r in rows)
    problems.write_text(json.dumps({"id": "other", "problem": "1+1"}) + "\n")
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "'q0' is not in the problems file" in result.output


def test_score_cli_refuses_a_policy_dir(tmp_path: Path) -> None:
    problems, solutions = _write_inputs(tmp_path)
    policy = tmp_path / "policy"
    _backbone().save_pretrained(policy)
    ModelCard(kind="policy").save(policy)
    result = runner.invoke(
        app, ["score", "-s", str(policy), "-p", str(problems), "-i", str(solutions), "-o", "-"]
    )
    assert result.exit_code == 2
    assert "is a policy model, not a scorer" in result.output
