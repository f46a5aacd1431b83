"""The embedded synthetic task: integer arithmetic with gold step-by-step solutions and an exact checker.

A problem is an integer expression over ``+``, ``-``, ``*`` and parentheses, e.g.
``Compute (12+7)*3-5.``. Its gold solution rewrites the expression one operation at a time
(``= 19*3-5``, ``= 57-5``, ``= 52``) and ends with the step ``\\boxed{52}``. Any operation
whose operands are both numbers may be evaluated next, so the gold solutions follow varied
evaluation orders (``order="any"``) unless a fixed leftmost order is asked for. With
``regroup`` (the default) so may any adjacent pair of numbers in a chain of ``+`` (or of
``*``): ``5+7+9`` becomes ``12+9`` or ``5+16``, so two solutions of one problem compute
different sums and products, and a model's slip on one sum does not repeat on every path.

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
  dropping or moving them is not an operation. Chains of ``+`` (or of ``*``) are compared
  as flat operand lists (associativity): a run of adjacent operands may be replaced by its
  value, but operands keep their order (``5+7+9`` to ``14+7`` is wrong).
- Labels are prefix-correct (as in PRM800K/ProcessBench): once a step is wrong, every later
  step is wrong too, so ``labels`` is ones up to ``first_wrong_step`` and zeros from it.
- *A right value reached by a wrong rewrite* (e.g. ``= 60-8`` after the wrong ``= 20*3-5``,
  or an expression that equals the answer but is not derived from the previous one) is
  wrong: label 0.
- *A correct final answer after a wrong step* gives ``final_correct=True`` (the outcome is
  right) while ``first_wrong_step`` points at the earlier error and the boxed step is labeled 0.
- A boxed step before the last step is wrong; ``final_correct`` is true only when the last
  step is ``\\boxed{N}`` with N equal to the problem's value.
- *Code steps* (``code_steps=True``, the MARIO format of :mod:`mathverify.code_steps`): a step may
  start with fenced blocks, a python block and its output; the checker reads only the text
  after the step's last fence, so the code and its output are the policy's scratch work,
  not judged, and a step holding only blocks is malformed. Plain steps have no fence and
  read as before.

With ``code_steps`` the gold solution computes each step's operation in a one-line python
block and reads the output before writing the rewritten expression::

    ```python
    print(3*6)
    ```
    ```output
    18
    ```
    = 18+10

The problems (and evaluation orders) are those of the plain variant with the same seed.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from itertools import pairwise
from typing import Literal

from mathverify.errors import MathverifyError
from mathverify.records import Problem

__all__ = [
    "SOURCE",
    "Expr",
    "StepCheck",
    "SynthConfig",
    "check_steps",
    "code_step",
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
_FENCE = "```"
_ASSOCIATIVE = ("+", "*")


# --------------------------------------------------------------------------------------
# Expressions


@dataclass(frozen=True)
class Expr:
    """A node of an expression tree: a number (``op is None``) or a binary operation."""

    op: str | None = None
    value: int = 0
    left: Expr | None = None
    right: Expr | None = None


def number(value: int) -> Expr:
    return Expr(value=value)


def evaluate(expr: Expr) -> int:
    if expr.op is None:
        return expr.value
    assert expr.left is not None and expr.right is not None
    return _apply(expr.op, evaluate(expr.left), evaluate(expr.right))


def _apply(op: str, a: int, b: int) -> int:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    return a * b


def _operands(expr: Expr, op: str) -> list[Expr]:
    """The operands of the maximal ``op`` chain rooted at ``expr`` (``[expr]`` if none)."""
    if expr.op != op:
        return [expr]
    assert expr.left is not None and expr.right is not None
    return _operands(expr.left, op) + _operands(expr.right, op)


def _chain(op: str, operands: list[Expr]) -> Expr:
    """Operands joined by ``op``, left to right (the inverse of :func:`_operands`)."""
    tree = operands[0]
    for operand in operands[1:]:
        tree = Expr(op=op, left=tree, right=operand)
    return tree


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


def _subtree(expr: Expr, path: tuple[str, ...]) -> Expr:
    for side in path:
        assert expr.left is not None and expr.right is not None
        expr = expr.left if side == "L" else expr.right
    return expr


def code_step(evaluated: Expr, rewritten: Expr) -> str:
    """A gold code step: print the evaluated operation, read its output, rewrite."""
    return (
        f"```python\nprint({render(evaluated)})\n```\n"
        f"```output\n{evaluate(evaluated)}\n```\n= {render(rewritten)}"
    )


def _regroups(expr: Expr, parent_op: str | None = None) -> list[tuple[Expr, Expr]]:
    """``(evaluated, result)`` for each adjacent pair of numbers in a ``+`` or ``*`` chain.

    ``5+7+9`` gives ``5+7`` (``12+9``) and ``7+9`` (``5+16``): associativity lets either
    pair go first, as people regroup sums and products.
    """
    if expr.op is None:
        return []
    assert expr.left is not None and expr.right is not None
    found: list[tuple[Expr, Expr]] = []
    if expr.op in _ASSOCIATIVE and expr.op != parent_op:
        operands = _operands(expr, expr.op)
        for i, (a, b) in enumerate(pairwise(operands)):
            if a.op is None and b.op is None:
                pair = Expr(op=expr.op, left=a, right=b)
                rest = [*operands[:i], number(evaluate(pair)), *operands[i + 2 :]]
                found.append((pair, _chain(expr.op, rest)))
    for evaluated, left in _regroups(expr.left, expr.op):
        found.append((evaluated, Expr(op=expr.op, left=left, right=expr.right)))
    for evaluated, right in _regroups(expr.right, expr.op):
        found.append((evaluated, Expr(op=expr.op, left=expr.left, right=right)))
    return found


def _next_steps(expr: Expr, regroup: bool) -> list[tuple[Expr, Expr]]:
    """The distinct ``(evaluated operation, rewritten expression)`` a gold step may take."""
    steps = [(_subtree(expr, path), _reduce_at(expr, path)) for path in _reducible(expr)]
    if regroup:
        steps += _regroups(expr)
    return list({result: (evaluated, result) for evaluated, result in steps}.values())


def gold_steps(
    expr: Expr,
    rng: random.Random | None = None,
    order: Literal["any", "left"] = "any",
    regroup: bool = True,
    code_steps: bool = False,
) -> list[str]:
    """The gold solution: one evaluated operation per step, then ``\\boxed{value}``.

    ``order="any"`` picks uniformly among the operations ready to evaluate (needs ``rng``);
    ``"left"`` always takes the leftmost one. With ``regroup`` the ready operations also
    include adjacent pairs of a ``+`` or ``*`` chain (``5+7+9`` to ``5+16``), so different
    solutions of one problem compute different sums and products, as people's do.
    With ``code_steps`` each step is a :func:`code_step`; the random choices are the same.
    """
    if order == "any" and rng is None:
        raise ValueError("order='any' needs an rng")
    steps: list[str] = []
    while expr.op is not None:
        options = _next_steps(expr, regroup)
        evaluated, expr = options[0] if order == "left" else rng.choice(options)  # type: ignore[union-attr]
        steps.append(code_step(evaluated, expr) if code_steps else f"= {render(expr)}")
    steps.append(f"\\boxed{{{expr.value}}}")
    return steps


# --------------------------------------------------------------------------------------
# Generation


@dataclass(frozen=True)
class SynthConfig:
    """Options of the synthetic task; every intermediate value stays in [min_value, max_value]."""

    min_ops: int = 3
    max_ops: int = 4
    min_operand: int = 1
    max_operand: int = 9
    min_value: int = 0
    max_value: int = 30
    train_size: int = 50_000
    test_size: int = 1_000
    order: Literal["any", "left"] = "any"
    op_weights: tuple[float, float, float] = (3.0, 1.0, 2.0)
    regroup: bool = True
    code_steps: bool = False
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
        if len(self.op_weights) != len(OPS) or min(self.op_weights) < 0 or not any(self.op_weights):
            raise MathverifyError(
                "synthetic task: op_weights needs three weights >= 0 (for + - *), not all 0"
            )
        if self.train_size < 0 or self.test_size < 0:
            raise MathverifyError("synthetic task: sizes must be >= 0")


def _random_tree(n_ops: int, rng: random.Random, config: SynthConfig) -> Expr:
    if n_ops == 0:
        return number(rng.randint(config.min_operand, config.max_operand))
    left_ops = rng.randint(0, n_ops - 1)
    weights = config.op_weights
    op = rng.choice(OPS) if len(set(weights)) == 1 else rng.choices(OPS, weights)[0]
    return Expr(
        op=op,
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


def make_problem(
    expr: Expr,
    problem_id: str,
    rng: random.Random,
    order: str = "any",
    regroup: bool = True,
    code_steps: bool = False,
) -> Problem:
    value = evaluate(expr)
    return Problem(
        id=problem_id,
        problem=f"Compute {render(expr)}.",
        answer=str(value),
        source=SOURCE,
        meta={
            "expression": render(expr),
            "n_ops": count_ops(expr),
            "gold_steps": gold_steps(expr, rng, order, regroup, code_steps),  # type: ignore[arg-type]
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
        yield make_problem(
            expr,
            f"synth-{name}-{index:0{width}d}",
            rng,
            config.order,
            config.regroup,
            config.code_steps,
        )
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


def _rewrites(before: Expr, after: Expr) -> bool:
    """Whether ``after`` is ``before`` with some operations replaced by their values.

    Chains of ``+`` (or of ``*``) are compared as flat operand lists (associativity), so
    ``5+(7+9)`` may become ``5+16`` or ``12+9``; a run of adjacent operands may be replaced
    by its value, operands keep their order, and ``-`` keeps its tree.
    """
    if after.op is None:
        return evaluate(before) == after.value
    if before.op is None or before.op != after.op:
        return False
    assert before.left and before.right and after.left and after.right
    if before.op not in _ASSOCIATIVE:
        return _rewrites(before.left, after.left) and _rewrites(before.right, after.right)
    old, new = _operands(before, before.op), _operands(after, after.op)

    @cache
    def aligns(i: int, j: int) -> bool:
        if i == len(old) or j == len(new):
            return i == len(old) and j == len(new)
        if _rewrites(old[i], new[j]) and aligns(i + 1, j + 1):
            return True
        if new[j].op is not None:
            return False
        value = evaluate(old[i])
        for k in range(i + 1, len(old)):
            value = _apply(before.op, value, evaluate(old[k]))  # type: ignore[arg-type]
            if value == new[j].value and aligns(k + 1, j + 1):
                return True
        return False

    return aligns(0, 0)


def _parse_step(step: str) -> tuple[Expr, bool] | None:
    """``(expression, is_boxed)`` of a step, or None when it is malformed."""
    # A code step's python and output blocks are scratch work: read what follows them.
    text = step.rsplit(_FENCE, 1)[-1].strip()
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
            faithful = _rewrites(previous, expr)
            if is_boxed and index != len(steps) - 1:
                reason = "early box"
            elif evaluate(expr) != target:
                reason = "wrong value"
            elif not faithful:
                reason = "unfaithful rewrite"
            elif count_ops(expr) == count_ops(previous) and not is_boxed:
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
