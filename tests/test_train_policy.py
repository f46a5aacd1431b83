"""`mathverify train-policy`: SFT of a tiny model on a handful of synthetic problems."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.data.synthetic import SynthConfig, make_splits
from mathverify.errors import MathverifyError
from mathverify.models.card import load_card
from mathverify.models.tiny import build_tokenizer
from mathverify.prompting import PromptFormat
from mathverify.records import Solution, write_records
from mathverify.training.policy import (
    PolicyTrainConfig,
    examples_from_problems,
    examples_from_solutions,
    sft_example,
    tokenize_example,
)

TINY = ["--hidden-size", "32", "--num-layers", "1", "--num-heads", "1", "--batch-size", "4"]


@pytest.fixture
def problems_path(tmp_path):
    train, _ = make_splits(SynthConfig(train_size=12, test_size=0, seed=3))
    path = tmp_path / "train.jsonl"
    write_records(path, train)
    return path


def test_sft_example_and_tokenization_mask_the_prompt():
    fmt = PromptFormat(template="{problem}\n")
    example = sft_example("Compute 1+2.", ["= 3", "\\boxed{3}"], fmt)
    assert example == {"prompt": "Compute 1+2.\n", "completion": "= 3\n\n\\boxed{3}"}
    tokenizer = build_tokenizer()
    row = tokenize_example(tokenizer, example["prompt"], example["completion"], max_length=64)
    n_prompt = len("Compute 1+2.\n")
    assert row["labels"][:n_prompt] == [-100] * n_prompt
    assert row["labels"][n_prompt:] == row["input_ids"][n_prompt:]
    assert row["input_ids"][-1] == tokenizer.eos_token_id
    # "\n\n" is one token: 3 + 1 + 9 completion characters/tokens, then eos
    assert len(row["input_ids"]) == n_prompt + 3 + 1 + 9 + 1
    assert tokenizer.decode(row["input_ids"][n_prompt:-1]) == example["completion"]
    cut = tokenize_example(tokenizer, example["prompt"], example["completion"], max_length=20)
    assert len(cut["input_ids"]) == len(cut["labels"]) == 20


def test_examples_from_problems_needs_gold_steps(tmp_path, problems_path):
    examples = examples_from_problems(str(problems_path), PromptFormat())
    assert len(examples) == 12 and examples[0]["completion"].endswith("}")
    bare = tmp_path / "bare.jsonl"
    bare.write_text('{"id": "q1", "problem": "Compute 1+1.", "answer": "2"}\n')
    with pytest.raises(MathverifyError, match="q1: field 'meta.gold_steps'"):
        examples_from_problems(str(bare), PromptFormat())


def test_examples_from_solutions_skip_wrong_outcomes(tmp_path, problems_path):
    solutions = tmp_path / "solutions.jsonl"
    write_records(
        solutions,
        [
            Solution(problem_id="synth-train-000000", sample_id=0, steps=["= 1", "\\boxed{1}"]),
            Solution(problem_id="synth-train-000001", sample_id=0, steps=["= 9"], outcome=False),
        ],
    )
    examples = examples_from_solutions(str(solutions), str(problems_path), PromptFormat())
    assert [e["completion"] for e in examples] == ["= 1\n\n\\boxed{1}"]
    write_records(solutions, [Solution(problem_id="nope", sample_id=0, steps=["= 1"])])
    with pytest.raises(MathverifyError, match="nope#0: problem id not in"):
        examples_from_solutions(str(solutions), str(problems_path), PromptFormat())


@pytest.mark.parametrize(
    ("init", "scratch", "message"),
    [(None, None, "exactly one"), ("x", "tiny", "exactly one"), (None, "huge", "choose one")],
)
def test_config_validation(init, scratch, message):
    with pytest.raises(MathverifyError, match=message):
        PolicyTrainConfig(output_dir="o", init=init, from_scratch=scratch).validate()


def test_train_policy_cli_writes_a_loadable_policy(tmp_path, problems_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "policy"
    args = ["train-policy", "-i", str(problems_path), "-o", str(out), "--from-scratch", "tiny"]
    result = CliRunner().invoke(
        app, [*args, *TINY, "--max-steps", "3", "--template", "Q: {problem}\\nA:\\n", "--seed", "1"]
    )
    assert result.exit_code == 0, result.output
    card = load_card(out, expect="policy")
    assert card.prompt == PromptFormat(template="Q: {problem}\nA:\n", separator="\n\n")
    assert card.extra["steps"] == 3 and card.extra["n_examples"] == 12
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.hidden_size == 32
    # The reloaded tokenizer must be the character tokenizer it was trained with (spaces and
    # newlines included), not one chosen by the model type.
    text = "Q: Compute (1+2)*3.\nA:\n= 3*3\n\n= 9\n\n\\boxed{9}"
    assert tokenizer(text)["input_ids"] == build_tokenizer()(text)["input_ids"]
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
    assert tokenizer("\n\n")["input_ids"] == [tokenizer.convert_tokens_to_ids("\n\n")]
    assert tokenizer.eos_token == "<eos>" and tokenizer.pad_token == "<pad>"
    encoded = tokenizer(["Q: 1\nA:\n"], return_tensors="pt", add_special_tokens=False)
    generated = model.generate(
        **encoded, max_new_tokens=4, do_sample=False, pad_token_id=tokenizer.pad_token_id
    )
    assert generated.shape[1] > encoded["input_ids"].shape[1]

    # Continue training from the saved directory, as with any causal LM.
    again = tmp_path / "again"
    args = ["train-policy", "-i", str(problems_path), "-o", str(again), "--init", str(out)]
    result = CliRunner().invoke(app, [*args, "--max-steps", "2", "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    card = json.loads((again / "mathverify.json").read_text())
    assert card["kind"] == "policy" and card["base_model"] == str(out)


def test_train_policy_cli_errors(tmp_path, problems_path):
    result = CliRunner().invoke(
        app, ["train-policy", "-i", str(problems_path), "-o", str(tmp_path / "x")]
    )
    assert result.exit_code == 2
    assert "exactly one of --init" in result.output
    missing = CliRunner().invoke(
        app,
        [
            "train-policy",
            "-i",
            str(tmp_path / "none.jsonl"),
            "-o",
            str(tmp_path / "x"),
            "--from-scratch",
            "tiny",
        ],
    )
    assert missing.exit_code == 2 and "no such file" in missing.output
