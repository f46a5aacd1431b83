"""The synthetic arithmetic task: generation, gold solutions, and the exact step checker."""

from __future__ import annotations

import random

import pytest
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.data.synthetic import (
    SynthConfig,
    check_steps,
    evaluate,
    gold_steps,
    make_splits,
    parse_expression,
    problem_expression,
    random_expression,
    render,
)
from mathverify.errors import MathverifyError
from mathverify.records import Problem, read_all

PROBLEM = "Compute (12+7)*3-5."  # = 52
GOLD = ["= 19*3-5", "= 57-5", "= 52", "\\boxed{52}"]

# (steps, labels, first_wrong_step, final_correct, reasons)
CASES = [
    pytest.param(GOLD, [1, 1, 1, 1], None, True, ["ok"] * 4, id="gold"),
    pytest.param(
        ["19*3-5", " = 57 - 5 ", "=52", "\\boxed{ 52 }"],
        [1, 1, 1, 1],
        None,
        True,
        ["ok"] * 4,
        id="spaces-and-optional-equals",
    ),
    pytest.param(
        ["= 57-5", "= 52", "\\boxed{52}"],
        [1, 1, 1],
        None,
        True,
        ["ok"] * 3,
        id="two-operations-in-one-step",
    ),
    pytest.param(
        ["= 19*3-5", "= 57-5", "\\boxed{52}"],
        [1, 1, 1],
        None,
        True,
        ["ok"] * 3,
        id="box-evaluates-the-last-operation",
    ),
    pytest.param(
        ["= 20*3-5", "= 60-5", "= 55", "\\boxed{55}"],
        [0, 0, 0, 0],
        0,
        False,
        ["wrong value"] * 4,
        id="arithmetic-slip-carried-through",
    ),
    pytest.param(
        ["= 19*3-5", "= 57-5", "= 52", "\\boxed{53}"],
        [1, 1, 1, 0],
        3,
        False,
        ["ok", "ok", "ok", "wrong value"],
        id="wrong-box",
    ),
    pytest.param(
        ["= 20*3-5", "= 60-8", "= 52", "\\boxed{52}"],
        [0, 0, 0, 0],
        0,
        True,
        ["wrong value", "unfaithful rewrite", "after error", "after error"],
        id="right-value-by-wrong-rewrite-then-right-answer",
    ),
    pytest.param(
        ["= 50+2", "= 52", "\\boxed{52}"],
        [0, 0, 0],
        0,
        True,
        ["unfaithful rewrite", "after error", "after error"],
        id="right-value-not-derived-from-problem",
    ),
    pytest.param(
        ["= 19*3-5", "= 19*3-5", "= 52", "\\boxed{52}"],
        [1, 0, 0, 0],
        1,
        True,
        ["ok", "no progress", "after error", "after error"],
        id="repeated-expression",
    ),
    pytest.param(
        ["= 19*3-", "= 57-5", "= 52", "\\boxed{52}"],
        [0, 0, 0, 0],
        0,
        True,
        ["malformed", "after error", "after error", "after error"],
        id="malformed-then-recovers",
    ),
    pytest.param(
        ["= 19*3-5.", "\\boxed{52}"],
        [0, 0],
        0,
        True,
        ["malformed", "after error"],
        id="trailing-period",
    ),
    pytest.param(
        ["= 19 times 3 minus 5"],
        [0],
        0,
        False,
        ["malformed"],
        id="words",
    ),
    pytest.param(["= (19*3-5"], [0], 0, False, ["malformed"], id="unbalanced"),
    pytest.param([""], [0], 0, False, ["malformed"], id="empty-step"),
    pytest.param(["\\boxed{}"], [0], 0, False, ["malformed"], id="empty-box"),
    pytest.param(["\\boxed{-52}"], [0], 0, False, ["malformed"], id="negative-box"),
    pytest.param(
        ["= 19*3-5", "= 57-5", "= 52"],
        [1, 1, 1],
        None,
        False,
        ["ok"] * 3,
        id="no-box",
    ),
    pytest.param(
        ["\\boxed{52}", "= 52"],
        [0, 0],
        0,
        False,
        ["early box", "no progress"],
        id="early-box",
    ),
    pytest.param(["\\boxed{52}"], [1], None, True, ["ok"], id="answer-only"),
    pytest.param([], [], None, False, [], id="no-steps"),
]


@pytest.mark.parametrize(("steps", "labels", "first_wrong", "final_correct", "reasons"), CASES)
def test_check_steps(steps, labels, first_wrong, final_correct, reasons):
    check = check_steps(PROBLEM, steps)
    assert check.labels == labels
    assert check.first_wrong_step == first_wrong
    assert check.final_correct is final_correct
    assert check.reasons == reasons


@pytest.mark.parametrize(
    ("problem", "steps", "labels"),
    [
        # Either ready operation may go first.
        ("Compute (2+3)*(4-1).", ["= 5*(4-1)", "= 5*3", "= 15", "\\boxed{15}"], [1, 1, 1, 1]),
        ("Compute (2+3)*(4-1).", ["= (2+3)*3", "= 5*3", "= 15", "\\boxed{15}"], [1, 1, 1, 1]),
        # An operation that is not ready (precedence) changes the tree: unfaithful.
        ("Compute 2+3*4.", ["= 5*4", "= 20", "\\boxed{20}"], [0, 0, 0]),
        # Dropping parentheses is not an operation, even though the value is kept.
        ("Compute 2+(3+4)*1.", ["= 2+3+4*1", "= 2+3+4", "= 9", "\\boxed{9}"], [0, 0, 0, 0]),
        # Right-nested subtraction keeps its parentheses.
        ("Compute 9-(5-2).", ["= 9-3", "= 6", "\\boxed{6}"], [1, 1, 1]),
        ("Compute 9-(5-2).", ["= 4-2", "= 2", "\\boxed{2}"], [0, 0, 0]),
    ],
)
def test_check_steps_trees(problem, steps, labels):
    assert check_steps(problem, steps).labels == labels


def test_check_steps_accepts_records_and_bare_expressions():
    record = Problem(id="p", problem=PROBLEM, answer="52", source="synthetic")
    assert check_steps(record, GOLD).labels == [1, 1, 1, 1]
    assert check_steps("(12+7)*3-5", GOLD).final_correct


def test_check_steps_rejects_non_synthetic_problem():
    with pytest.raises(MathverifyError, match="problem p7: not a synthetic"):
        check_steps(Problem(id="p7", problem="What is the area of a circle?"), ["= 3"])


@pytest.mark.parametrize(
    ("text", "value", "rendered"),
    [
        ("1+2*3", 7, "1+2*3"),
        ("(1+2)*3", 9, "(1+2)*3"),
        ("((4))", 4, "4"),
        ("8-3-2", 3, "8-3-2"),
        ("8-(3-2)", 7, "8-(3-2)"),
        ("2*(3*4)", 24, "2*(3*4)"),
        ("(2*3)*4", 24, "2*3*4"),
        ("12 + 7", 19, "12+7"),
    ],
)
def test_parse_and_render(text, value, rendered):
    tree = parse_expression(text)
    assert evaluate(tree) == value
    assert render(tree) == rendered


@pytest.mark.parametrize("text", ["", "1+", "(1", "1)", "2**3", "1/2", "-1", "x+1", "1 2"])
def test_parse_rejects(text):
    with pytest.raises(ValueError):
        parse_expression(text)


def test_render_round_trips_random_trees():
    rng = random.Random(3)
    config = SynthConfig(min_ops=1, max_ops=6, max_value=200)
    for _ in range(300):
        tree = random_expression(rng, config)
        assert parse_expression(render(tree)) == tree


def _all_values(text: str) -> list[int]:
    tree = parse_expression(text)
    values = []

    def walk(node):
        values.append(evaluate(node))
        if node.op is not None:
            walk(node.left)
            walk(node.right)

    walk(tree)
    return values


def test_make_splits_properties():
    config = SynthConfig(train_size=400, test_size=100, seed=5)
    train, test = make_splits(config)
    assert len(train) == 400 and len(test) == 100
    assert test[0].id == "synth-test-000000" and train[399].id == "synth-train-000399"
    expressions = [p.meta["expression"] for p in train + test]
    assert len(set(expressions)) == len(expressions), (
        "an expression repeats within or across splits"
    )
    for p in train + test:
        assert p.source == "synthetic"
        assert p.problem == f"Compute {p.meta['expression']}."
        assert config.min_ops <= p.meta["n_ops"] <= config.max_ops
        assert all(0 <= v <= config.max_value for v in _all_values(p.meta["expression"]))
        steps = p.meta["gold_steps"]
        assert len(steps) == p.meta["n_ops"] + 1
        assert steps[-1] == f"\\boxed{{{p.answer}}}"
        check = check_steps(p, steps)
        assert check.labels == [1] * len(steps) and check.final_correct


def test_make_splits_is_seeded_and_test_ignores_train_size():
    a_train, a_test = make_splits(SynthConfig(train_size=50, test_size=30, seed=1))
    b_train, b_test = make_splits(SynthConfig(train_size=50, test_size=30, seed=1))
    assert [p.to_dict() for p in a_train + a_test] == [p.to_dict() for p in b_train + b_test]
    _, c_test = make_splits(SynthConfig(train_size=10, test_size=30, seed=1))
    assert [p.problem for p in c_test] == [p.problem for p in a_test]
    _, d_test = make_splits(SynthConfig(train_size=10, test_size=30, seed=2))
    assert [p.problem for p in d_test] != [p.problem for p in a_test]


def test_gold_orders():
    tree = parse_expression("(1+2)*(3+4)-(5-1)")
    assert gold_steps(tree, order="left")[0] == "= 3*(3+4)-(5-1)"
    firsts = {gold_steps(tree, random.Random(seed))[0] for seed in range(30)}
    assert firsts == {"= 3*(3+4)-(5-1)", "= (1+2)*7-(5-1)", "= (1+2)*(3+4)-4"}
    _, test = make_splits(SynthConfig(train_size=0, test_size=50, order="left"))
    for p in test:
        assert p.meta["gold_steps"] == gold_steps(problem_expression(p), order="left")


@pytest.mark.parametrize(
    ("problem", "steps", "labels"),
    [
        # Associativity: either adjacent pair of a + or * chain may go first.
        ("Compute 5+7+9.", ["= 12+9", "= 21", "\\boxed{21}"], [1, 1, 1]),
        ("Compute 5+7+9.", ["= 5+16", "= 21", "\\boxed{21}"], [1, 1, 1]),
        ("Compute 2*(3*4)+1.", ["= 6*4+1", "= 24+1", "= 25", "\\boxed{25}"], [1, 1, 1, 1]),
        # A run of three operands replaced by its value is a step of two operations.
        ("Compute 1+2+3+4.", ["= 6+4", "= 10", "\\boxed{10}"], [1, 1, 1]),
        # Commuting is not regrouping: operands keep their order.
        ("Compute 5+7+9.", ["= 14+7", "= 21", "\\boxed{21}"], [0, 0, 0]),
        # Regrouping alone evaluates nothing.
        ("Compute 5+(7+9).", ["= 5+7+9", "= 21", "\\boxed{21}"], [0, 0, 0]),
        # Subtraction is not associative: 9-5+1 is (9-5)+1, so 5+1 is not ready.
        ("Compute 9-5+1.", ["= 9-6", "= 3", "\\boxed{3}"], [0, 0, 0]),
    ],
)
def test_check_steps_regrouping(problem, steps, labels):
    assert check_steps(problem, steps).labels == labels


def test_gold_steps_regroup():
    tree = parse_expression("5+7+9*2")
    firsts = {gold_steps(tree, random.Random(seed), regroup=True)[0] for seed in range(40)}
    assert firsts == {"= 12+9*2", "= 5+7+18"}
    firsts = {
        gold_steps(parse_expression("5+7+9"), random.Random(s), regroup=True)[0] for s in range(40)
    }
    assert firsts == {"= 12+9", "= 5+16"}
    _, test = make_splits(SynthConfig(train_size=0, test_size=200, regroup=True, seed=3))
    for p in test:
        assert check_steps(p, p.meta["gold_steps"]).labels == [1] * (p.meta["n_ops"] + 1)


def test_too_small_space_is_an_error():
    config = SynthConfig(min_ops=1, max_ops=1, max_operand=2, train_size=0, test_size=50)
    with pytest.raises(MathverifyError, match="too few distinct expressions"):
        make_splits(config)


@pytest.mark.parametrize(
    "config",
    [
        SynthConfig(min_ops=3, max_ops=2),
        SynthConfig(min_operand=5, max_operand=1),
        SynthConfig(order="random"),  # type: ignore[arg-type]
        SynthConfig(test_size=-1),
        SynthConfig(op_weights=(0.0, 0.0, 0.0)),
        SynthConfig(op_weights=(1.0, -1.0, 1.0)),
    ],
)
def test_bad_configs(config):
    with pytest.raises(MathverifyError):
        make_splits(config)


def test_cli_data_synth(tmp_path):
    out = tmp_path / "synth"
    args = ["data", "synth", "-o", str(out), "--train-size", "40", "--test-size", "10"]
    result = CliRunner().invoke(app, [*args, "--max-ops", "3", "--seed", "4"])
    assert result.exit_code == 0, result.output
    train = read_all(out / "train.jsonl", Problem)
    test = read_all(out / "test.jsonl", Problem)
    assert len(train) == 40 and len(test) == 10
    assert max(p.meta["n_ops"] for p in train + test) <= 3
    again = CliRunner().invoke(
        app, [*args, "--max-ops", "3", "--seed", "4", "-o", str(tmp_path / "b")]
    )
    assert again.exit_code == 0
    assert (tmp_path / "b" / "test.jsonl").read_text() == (out / "test.jsonl").read_text()


def test_cli_data_synth_bad_option(tmp_path):
    result = CliRunner().invoke(
        app, ["data", "synth", "-o", str(tmp_path), "--min-ops", "5", "--max-ops", "2"]
    )
    assert result.exit_code == 2
    assert "min_ops" in result.output


def test_op_weights_change_the_mix(tmp_path):
    result = CliRunner().invoke(
        app,
        ["data", "synth", "-o", str(tmp_path), "--train-size", "0", "--test-size", "300",
         "--op-weights", "1,0,0"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    expressions = [p.meta["expression"] for p in read_all(tmp_path / "test.jsonl", Problem)]
    assert all(set(e) <= set("0123456789+()") for e in expressions)
    result = CliRunner().invoke(app, ["data", "synth", "-o", str(tmp_path), "--op-weights", "1,2"])
    assert result.exit_code == 2
    assert "--op-weights" in result.output
