"""The synthetic task's code-step variant: gold solutions, the exact checker, the tokenizer."""

from __future__ import annotations

import json
import random

import pytest
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.code_steps import find_code, pending_code
from mathverify.data.synthetic import (
    SynthConfig,
    check_steps,
    gold_steps,
    make_splits,
    parse_expression,
)
from mathverify.models.tiny import build_tokenizer

CODE_STEP = "```python\nprint(3*6)\n```\n```output\n18\n```\n= 18+10"


def test_gold_code_steps_compute_then_rewrite():
    steps = gold_steps(parse_expression("3*6+(4+6)"), order="left", code_steps=True)
    assert steps == [
        CODE_STEP.replace("18+10", "18+(4+6)"),
        "```python\nprint(4+6)\n```\n```output\n10\n```\n= 18+10",
        "```python\nprint(18+10)\n```\n```output\n28\n```\n= 28",
        "\\boxed{28}",
    ]
    # The code is a complete python block with its output already there.
    assert find_code(steps[0]) == "print(3*6)" and pending_code(steps[0]) is None


def test_code_variant_has_the_plain_variants_problems_and_orders():
    options = {"train_size": 40, "test_size": 20, "regroup": True, "seed": 3}
    plain = make_splits(SynthConfig(**options))
    code = make_splits(SynthConfig(**options, code_steps=True))
    for plain_split, code_split in zip(plain, code, strict=True):
        for p, c in zip(plain_split, code_split, strict=True):
            assert (p.id, p.problem, p.answer) == (c.id, c.problem, c.answer)
            rewrites = [s.rsplit("```", 1)[-1].strip() for s in c.meta["gold_steps"]]
            assert rewrites == p.meta["gold_steps"]
            check = check_steps(c, c.meta["gold_steps"])
            assert check.final_correct and all(check.labels)


@pytest.mark.parametrize(
    ("steps", "labels", "reasons"),
    [
        # the code and its output are scratch work: the expression after them is judged
        ([CODE_STEP, "= 28", "\\boxed{28}"], [1, 1, 1], ["ok", "ok", "ok"]),
        # a wrong (here: unrun, made-up) output copied into the rewrite is a wrong step
        ([CODE_STEP.replace("= 18+10", "= 19+10"), "= 29"], [0, 0], ["wrong value", "wrong value"]),
        # right rewrite after a wrong computation: the step is still right
        ([CODE_STEP.replace("print(3*6)", "print(3*7)"), "= 28"], [1, 1], ["ok", "ok"]),
        # a step with only code (no rewrite after it) is malformed
        (["```python\nprint(3*6)\n```\n```output\n18\n```", "= 28"], [0, 0],
         ["malformed", "after error"]),
        # mixed plain and code steps read alike
        (["= 18+10", "```python\nprint(18+10)\n```\n```output\n28\n```\n= 28"], [1, 1],
         ["ok", "ok"]),
    ],
)  # fmt: skip
def test_checker_reads_the_expression_after_the_blocks(steps, labels, reasons):
    check = check_steps("Compute 3*6+10.", steps)
    assert check.labels == labels and check.reasons == reasons


def test_the_tiny_tokenizer_round_trips_code_steps():
    tokenizer = build_tokenizer()
    _, test = make_splits(SynthConfig(train_size=0, test_size=50, code_steps=True))
    for problem in test:
        text = problem.problem + "\n" + "\n\n".join(problem.meta["gold_steps"])
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.unk_token_id not in ids
        assert tokenizer.decode(ids) == text


def test_synth_cli_code_steps(tmp_path):
    out = tmp_path / "data"
    result = CliRunner().invoke(
        app,
        ["data", "synth", "-o", str(out), "--train-size", "5", "--test-size", "5",
         "--code-steps", "--regroup"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert all(row["meta"]["gold_steps"][0].startswith("```python\nprint(") for row in rows)


def test_code_steps_do_not_change_the_random_stream():
    expr = parse_expression("(1+2)*(3+4)-5")
    a, b = random.Random(1), random.Random(1)
    gold_steps(expr, a, regroup=True)
    gold_steps(expr, b, regroup=True, code_steps=True)
    assert a.random() == b.random()
