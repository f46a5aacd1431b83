"""The embedded synthetic task: integer arithmetic with gold step-by-step solutions and an exact checker.

A problem is an integer expression over ``+``, ``-``, ``*`` and parentheses, e.g.
``Compute (12+7)*3-5.``. Its gold solution rewrites the expression one operation at a time
(``= 19*3-5``, ``= 57-5``, ``= 52``) and ends with the step ``\\boxed{52}``. Any operation
whose operands are both numbers may be evaluated next, so the gold solutions follow varied
evaluation orders (``order="any"``) unless a fixed leftmost order is asked for.

Problem records (:class:`~mathverify.records.Problem`) carry ``id`` (``synth-test-000123``),
``problem`` (the text above), ``answer`` (the value as a string), ``source="synthetic"`` and
``meta = {expression, n_ops, gold_steps}``; ``gold_steps`` is the gold solution that
``mathverify train-policy`` trains on.

The exact checker (:func:`check_steps`) is the gold standard for every verifier and labeler,
and the only place that knows this task. Its rules:

- An intermediate step is ``= EXPR`` (the ``=`` may be left out); the final step is
  ``\\boxed{N}``. Anything else is *malformed*.
- A step is *correct* when it parses, its value equals the problem's value, and it is a
  *faithful rewrite* of the previous expression (the problem's, for the first step): the
  same expression tree with one or more operations (whole subtrees) replaced by their exact
  values. A ``= EXPR`` step must evaluate at least one operation; the boxed step may simply
  restate the previous value (or evaluate what is left). Parentheses are part of the tree:
  dropping or moving them is not an operation.
- Labels are prefix-correct (as in PRM800K/ProcessBench): once a step is wrong, every later
  step is wrong too, so ``labels`` is ones up to ``first_wrong_step`` and zeros from it.
- *A right value reached by a wrong rewrite* (e.g. ``= 60-8`` after the wrong ``= 20*3-5``,
  or an expression that equals the answer but is not derived from the previous one) is
  wrong: label 0.
- *A correct final answer after a wrong step* gives ``final_correct=True`` (the outcome is
  right) while ``first_wrong_step`` points at the earlier error and the boxed step is labeled 0.
- A boxed step before the last step is wrong; ``final_correct`` is true only when the last
  step is ``\\boxed{N}`` with N equal to the problem's value.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from mathverify.errors import MathverifyError
from mathverify.records import Problem

__all__ = [
    "SOURCE",
    "Expr",
    "StepCheck",
    "SynthConfig",
    "check_steps",
    "evaluate",
    "gold_steps",
    "make_problem",
    "make_splits",
    "parse_expression",
    "problem_expression",
    "render",
]

SOURCE = "synthetic"
OPS = ("+", "-", "*")
_PRECEDENCE = {"+": 1, "-": 1, "*": 2}
_PROBLEM_TEXT = re.compile(r"^\s*(?:Compute\s+)?(?P<expr>.*?)\s*\.?\s*$", re.DOTALL)
_BOXED_STEP = re.compile(r"^\\boxed\{\s*(?P<number>\d+)\s*\}$")


# --------------------------------------------------------------------------------------
# Expressions


@dataclass(frozen=True)
class Expr:
    """A node of an expression tree: a number (``op is None``) or a binary operation."""

    op: str | None = None
    value: int = 0
    left: Expr | None = None
    right: Expr | None = None

    @property
    def is_number(self) -> bool:
        return self.op is None


def number(value: int) -> Expr:
    return Expr(value=value)


def evaluate(expr: Expr) -> int:
    if expr.op is None:
        return expr.value
    assert expr.left is not None and expr.right is not None
    a, b = evaluate(expr.left), evaluate(expr.right)
    if expr.op == "+":
        return a + b
    if expr.op == "-":
        return a - b
    return a * b


def count_ops(expr: Expr) -> int:
    if expr.op is None:
        return 0
    assert expr.left is not None and expr.right is not None
    return 1 + count_ops(expr.left) + count_ops(expr.right)


def render(expr: Expr) -> str:
    """Text with exactly the parentheses that keep the tree: ``a-(b+c)``, ``a*(b*c)``."""
    if expr.op is None:
        return str(expr.value)
    assert expr.left is not None and expr.right is not None
    precedence = _PRECEDENCE[expr.op]
    left, right = render(expr.left), render(expr.right)
    if expr.left.op is not None and _PRECEDENCE[expr.left.op] < precedence:
        left = f"({left})"
    # Operators associate to the left, so a right operand of equal precedence needs parentheses.
    if expr.right.op is not None and _PRECEDENCE[expr.right.op] <= precedence:
        right = f"({right})"
    return f"{left}{expr.op}{right}"


_TOKEN = re.compile(r"\s*(?:(\d+)|([-+*()]))")


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match:
            raise ValueError(f"unexpected character {text[position:].lstrip()[:1]!r}")
        tokens.append(match.group(1) or match.group(2))
        position = match.end()
    return tokens


def parse_expression(text: str) -> Expr:
    """Parse non-negative integers with ``+ - *`` and parentheses; ValueError when malformed."""
    tokens = _tokens(text)
    if not tokens:
        raise ValueError("empty expression")
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        token = tokens[position]
        position += 1
        return token

    def atom() -> Expr:
        token = peek()
        if token is None:
            raise ValueError("expression ends early")
        if token == "(":
            take()
            inner = sum_()
            if peek() != ")":
                raise ValueError("unbalanced parenthesis")
            take()
            return inner
        if token.isdigit():
            take()
            return number(int(token))
        raise ValueError(f"unexpected {token!r}")

    def product() -> Expr:
        node = atom()
        while peek() == "*":
            take()
            node = Expr(op="*", left=node, right=atom())
        return node

    def sum_() -> Expr:
        node = product()
        while peek() in ("+", "-"):
            op = take()
            node = Expr(op=op, left=node, right=product())
        return node

    tree = sum_()
    if position != len(tokens):
        raise ValueError(f"unexpected {tokens[position]!r}")
    return tree


def problem_expression(problem: Problem | str) -> Expr:
    """The expression of a synthetic problem (``Compute EXPR.``, or a bare expression)."""
    text = problem.problem if isinstance(problem, Problem) else problem
    match = _PROBLEM_TEXT.match(text)
    try:
        return parse_expression(match.group("expr") if match else text)
    except ValueError as exc:
        where = f"problem {problem.id}" if isinstance(problem, Problem) else "problem text"
        raise MathverifyError(f"{where}: not a synthetic arithmetic problem ({exc})") from None


def _reducible(expr: Expr) -> list[tuple[str, ...]]:
    """Paths (L/R strings) to operations whose operands are both numbers, left to right."""
    if expr.op is None:
        return []
    assert expr.left is not None and expr.right is not None
    if expr.left.op is None and expr.right.op is None:
        return [()]
    return [("L", *p) for p in _reducible(expr.left)] + [("R", *p) for p in _reducible(expr.right)]


def _reduce_at(expr: Expr, path: tuple[str, ...]) -> Expr:
    if not path:
        return number(evaluate(expr))
    assert expr.left is not None and expr.right is not None
    if path[0] == "L":
        return Expr(op=expr.op, left=_reduce_at(expr.left, path[1:]), right=expr.right)
    return Expr(op=expr.op, left=expr.left, right=_reduce_at(expr.right, path[1:]))


def gold_steps(
    expr: Expr, rng: random.Random | None = None, order: Literal["any", "left"] = "any"
) -> list[str]:
    """The gold solution: one evaluated operation per step, then ``\\boxed{value}``.

    ``order="any"`` picks uniformly among the operations ready to evaluate (needs ``rng``);
    ``"left"`` always takes the leftmost one.
    """
    if order == "any" and rng is None:
        raise ValueError("order='any' needs an rng")
    steps: list[str] = []
    while expr.op is not None:
        options = _reducible(expr)
        path = options[0] if order == "left" else rng.choice(options)  # type: ignore[union-attr]
        expr = _reduce_at(expr, path)
        steps.append(f"= {render(expr)}")
    steps.append(f"\\boxed{{{expr.value}}}")
    return steps


# --------------------------------------------------------------------------------------
# Generation


@dataclass(frozen=True)
class SynthConfig:
    """Options of the synthetic task; every intermediate value stays in [min_value, max_value]."""

    min_ops: int = 2
    max_ops: int = 4
    min_operand: int = 1
    max_operand: int = 9
    min_value: int = 0
    max_value: int = 30
    train_size: int = 50_000
    test_size: int = 1_000
    order: Literal["any", "left"] = "any"
    seed: int = 0

    def validate(self) -> None:
        if not 1 <= self.min_ops <= self.max_ops:
            raise MathverifyError("synthetic task: need 1 <= min_ops <= max_ops")
        if not 0 <= self.min_operand <= self.max_operand:
            raise MathverifyError("synthetic task: need 0 <= min_operand <= max_operand")
        if not 0 <= self.min_value <= self.max_value:
            raise MathverifyError("synthetic task: need 0 <= min_value <= max_value (no negatives)")
        if self.order not in ("any", "left"):
            raise MathverifyError(
                f"synthetic task: order must be 'any' or 'left', got {self.order!r}"
            )
        if self.train_size < 0 or self.test_size < 0:
            raise MathverifyError("synthetic task: sizes must be >= 0")


def _random_tree(n_ops: int, rng: random.Random, config: SynthConfig) -> Expr:
    if n_ops == 0:
        return number(rng.randint(config.min_operand, config.max_operand))
    left_ops = rng.randint(0, n_ops - 1)
    return Expr(
        op=rng.choice(OPS),
        left=_random_tree(left_ops, rng, config),
        right=_random_tree(n_ops - 1 - left_ops, rng, config),
    )


def _values_in_range(expr: Expr, low: int, high: int) -> bool:
    if expr.op is None:
        return low <= expr.value <= high
    assert expr.left is not None and expr.right is not None
    return (
        _values_in_range(expr.left, low, high)
        and _values_in_range(expr.right, low, high)
        and low <= evaluate(expr) <= high
    )


def random_expression(rng: random.Random, config: SynthConfig) -> Expr:
    """A random tree with min_ops..max_ops operations and every subtree value in range."""
    n_ops = rng.randint(config.min_ops, config.max_ops)
    for _ in range(100_000):
        tree = _random_tree(n_ops, rng, config)
        if _values_in_range(tree, config.min_value, config.max_value):
            return tree
    raise MathverifyError(
        f"synthetic task: no expression with {n_ops} operations keeps every value in "
        f"[{config.min_value}, {config.max_value}]; widen the value range"
    )


def make_problem(expr: Expr, problem_id: str, rng: random.Random, order: str = "any") -> Problem:
    value = evaluate(expr)
    return Problem(
        id=problem_id,
        problem=f"Compute {render(expr)}.",
        answer=str(value),
        source=SOURCE,
        meta={
            "expression": render(expr),
            "n_ops": count_ops(expr),
            "gold_steps": gold_steps(expr, rng, order),  # type: ignore[arg-type]
        },
    )


def _split(
    name: str, size: int, rng: random.Random, config: SynthConfig, taken: set[str]
) -> Iterator[Problem]:
    width = max(6, len(str(max(size - 1, 0))))
    misses = 0
    index = 0
    while index < size:
        expr = random_expression(rng, config)
        text = render(expr)
        if text in taken:
            misses += 1
            if misses > 100 * (size + 100):
                raise MathverifyError(
                    f"synthetic task: too few distinct expressions for {size} {name} problems; "
                    "widen the operation, operand or value ranges"
                )
            continue
        taken.add(text)
        yield make_problem(expr, f"synth-{name}-{index:0{width}d}", rng, config.order)
        index += 1


def make_splits(config: SynthConfig) -> tuple[list[Problem], list[Problem]]:
    """Seeded train and test problems; no expression appears twice, in or across splits.

    The test split is drawn first from its own stream, so it depends only on the seed and
    the task options, not on the train size.
    """
    config.validate()
    taken: set[str] = set()
    test = list(
        _split("test", config.test_size, random.Random(f"{config.seed}/test"), config, taken)
    )
    train = list(
        _split("train", config.train_size, random.Random(f"{config.seed}/train"), config, taken)
    )
    return train, test


# --------------------------------------------------------------------------------------
# Exact checking


@dataclass(frozen=True)
class StepCheck:
    """Gold labels of one solution: 1/0 per step (prefix-correct), first error, outcome.

    ``reasons[k]`` says why step k got its label: ``ok``, ``malformed``, ``wrong value``,
    ``unfaithful rewrite``, ``no progress``, ``early box`` or ``after error``.
    """

    labels: list[int]
    first_wrong_step: int | None
    final_correct: bool
    reasons: list[str] = field(default_factory=list)


def _rewrite_ops(before: Expr, after: Expr) -> int | None:
    """How many operations ``after`` evaluates relative to ``before``; None if not a rewrite."""
    if after.op is None:
        if evaluate(before) != after.value:
            return None
        return count_ops(before)
    if before.op != after.op:
        return None
    assert before.left and before.right and after.left and after.right
    left = _rewrite_ops(before.left, after.left)
    right = _rewrite_ops(before.right, after.right)
    if left is None or right is None:
        return None
    return left + right


def _parse_step(step: str) -> tuple[Expr, bool] | None:
    """``(expression, is_boxed)`` of a step, or None when it is malformed."""
    text = step.strip()
    boxed = _BOXED_STEP.match(text)
    if boxed:
        return number(int(boxed.group("number"))), True
    if text.startswith("="):
        text = text[1:]
    try:
        return parse_expression(text), False
    except ValueError:
        return None


def check_steps(problem: Problem | str, steps: list[str]) -> StepCheck:
    """Label each step of a solution to a synthetic problem exactly (see the module rules)."""
    previous = problem_expression(problem)
    target = evaluate(previous)
    labels: list[int] = []
    reasons: list[str] = []
    first_wrong: int | None = None
    for index, step in enumerate(steps):
        parsed = _parse_step(step)
        if parsed is None:
            reason = "malformed"
        else:
            expr, is_boxed = parsed
            evaluated = _rewrite_ops(previous, expr)
            if is_boxed and index != len(steps) - 1:
                reason = "early box"
            elif evaluate(expr) != target:
                reason = "wrong value"
            elif evaluated is None:
                reason = "unfaithful rewrite"
            elif evaluated == 0 and not is_boxed:
                reason = "no progress"
            else:
                reason = "ok"
            # Later steps are read against this one, right or wrong.
            previous = expr
        if reason == "ok" and first_wrong is not None:
            reason = "after error"
        if reason != "ok" and first_wrong is None:
            first_wrong = index
        labels.append(1 if reason == "ok" else 0)
        reasons.append(reason)
    final = _parse_step(steps[-1]) if steps else None
    final_correct = final is not None and final[1] and final[0].value == target
    return StepCheck(labels, first_wrong, final_correct, reasons)
