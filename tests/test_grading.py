"""The grader: equal/unequal tables for both graders, and a pool that no input can hang or crash."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

from mathverify.errors import MathverifyError
from mathverify.grading import (
    EMPTY_PREDICTION,
    EQUAL,
    ERROR,
    NO_GOLD,
    NOT_EQUAL,
    TIMEOUT,
    GradingPool,
    Verdict,
    grade,
    parse_graders,
)
from mathverify.grading.graders import as_latex_answer
from mathverify.grading.sympy_grader import normalize_answer, split_structure

TIMEOUT_S = 2.0
GRADERS = ("math-verify", "sympy")

# (prediction, gold): both graders must call these equal.
EQUAL_PAIRS = [
    ("14/3", "\\frac{14}{3}"),
    ("\\dfrac{14}{3}", "\\frac{14}{3}"),
    ("\\frac13", "\\dfrac{1}{3}"),
    ("0.5", "\\frac12"),
    ("\\sqrt{2}/2", "\\frac{\\sqrt2}{2}"),
    ("2\\sqrt{2}", "\\sqrt{8}"),
    ("x=5", "5"),
    ("5", "x=5"),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\frac{\\pi}{2})"),
    ("C", "\\text{(C)}"),
    ("(C)", "\\text{(C)}"),
    ("18.90", "\\$18.90"),
    ("10", "10\\%"),
    ("90", "90^\\circ"),
    ("1000", "1,000"),
    ("1,\\!000", "1000"),
    ("5", "5\\text{ cm}"),
    ("5 \\mbox{ cm}^2", "5"),
    ("3.0", "3"),
    ("-2,1", "1,-2"),
    ("[2,5)", "[2,5)"),
    ("(-\\infty,3]", "(-\\infty, 3]"),
    ("(-\\infty, 0) \\cup (1, \\infty)", "(-\\infty,0)\\cup(1,\\infty)"),
    ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}"),
    ("1+2x", "2x+1"),
    ("(x+1)^2", "x^2+2x+1"),
    ("Monday", "\\text{Monday}"),
    ("\\boxed{7}", "7"),
    ("\\infty", "\\infty"),
    ("\\frac{28}{4}=7", "7"),
    ("(b,c)=(6,5)", "(6,5)"),
    ("\\frac{411}{333}", "\\frac{137}{111}"),
    ("10.5\\pi", "\\frac{21}{2}\\pi"),
    ("\\frac{1}{\\sin x \\cos x} - \\tan x", "\\cot x"),
]

# (prediction, gold): equal for our sympy grader; Math-Verify 0.9 misses these.
SYMPY_EQUAL_PAIRS = [
    ("8\\sqrt{3}", "8\\sqrt{3} \\text { square inches}"),
    ("A,D", "\\text{A,D}"),
    ("0.0011_2", "0.0011_{2}"),
]

# (prediction, gold): both graders must call these unequal.
UNEQUAL_PAIRS = [
    ("4.6667", "\\frac{14}{3}"),
    ("13", "12"),
    ("\\frac{1}{3}", "\\frac{1}{2}"),
    ("(2,5)", "[2,5)"),
    ("(2,1)", "(1,2)"),
    ("\\begin{pmatrix}1\\\\3\\end{pmatrix}", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}"),
    ("2y+1", "2x+1"),
    ("Tuesday", "\\text{Monday}"),
    ("\\text{(B)}", "\\text{(C)}"),
    ("3.14", "\\pi"),
    ("1,2,3", "1,2"),
    ("-5", "5"),
    ("x^2+y^2=1", "x^2+y^2=2"),
    ("3+4=8", "7"),
]

# (raw answer, normalised form) for the sympy grader's normaliser.
NORMALIZED = [
    ("\\boxed{\\dfrac{1}{2}}", "\\frac{1}{2}"),
    ("$x = 5$", "5"),
    ("\\left( 1, 2 \\right)", "(1,2)"),
    ("1,\\!234", "1234"),
    ("12{,}000", "12000"),
    ("45^{\\circ}", "45"),
    ("50\\%", "50"),
    ("\\$3.50", "3.50"),
    ("12\\text{ inches}", "12"),
    ("6 \\mbox{ cm}^2", "6"),
    ("\\text{(d)}", "D"),
    ("\\text{Monday}", "Monday"),
    ("\\frac12", "\\frac{1}{2}"),
    ("\\sqrt3", "\\sqrt{3}"),
    ("x \\in [2, 5)", "[2,5)"),
    ("7.", "7"),
    ("0.0011_2", "0.0011_{2}"),
    ("(100,200)", "(100,200)"),
]

STRUCTURES = [
    ("(1,2]", "sequence"),
    ("(a+b)(c+d)", "scalar"),
    ("\\{1,2\\}", "set"),
    ("1,2", "set"),
    ("(0,1)\\cup(2,3)", "union"),
    ("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "matrix"),
    ("(3)", "scalar"),
]

# Inputs that have hung or crashed graders: each must give a verdict in time.
NASTY_PAIRS = [
    pytest.param("\\boxed{9^{9^{9^{9}}}}", "1", id="tower"),  # math-verify computes it for ever
    pytest.param("\\frac{1}{2}+" * 17_000, "1", id="200kB"),
    pytest.param("\\frac{1}{2", "0.5", id="unbalanced-open"),
    pytest.param("{" * 5_000, "1", id="5000-open-braces"),
    pytest.param("}}}1", "1", id="stray-close"),
    pytest.param("\\begin{pmatrix}1\\\\2", "1", id="unclosed-env"),
    pytest.param("\\boxed{", "\\boxed{", id="unclosed-box"),
    pytest.param("\\left(", "(", id="lone-left"),
    pytest.param("\x00\udcff", "1", id="odd-chars"),
]


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory):
    audit = tmp_path_factory.mktemp("grading") / "audit.jsonl"
    with GradingPool(workers=2, timeout=TIMEOUT_S, graders=GRADERS, audit_path=audit) as pool:
        yield pool


@pytest.mark.parametrize("grader", GRADERS)
@pytest.mark.parametrize(("pred", "gold"), EQUAL_PAIRS)
def test_equal_pairs(pool: GradingPool, grader: str, pred: str, gold: str) -> None:
    pool.grade(pred, gold)
    verdict = pool.verdicts_of(pred, gold)[grader]
    assert (verdict.equal, verdict.reason, verdict.grader) == (True, EQUAL, grader)


@pytest.mark.parametrize(("pred", "gold"), SYMPY_EQUAL_PAIRS)
def test_sympy_only_equal_pairs(pool: GradingPool, pred: str, gold: str) -> None:
    pool.grade(pred, gold)
    assert pool.verdicts_of(pred, gold)["sympy"].reason == EQUAL


@pytest.mark.parametrize("grader", GRADERS)
@pytest.mark.parametrize(("pred", "gold"), UNEQUAL_PAIRS)
def test_unequal_pairs(pool: GradingPool, grader: str, pred: str, gold: str) -> None:
    pool.grade(pred, gold)
    verdict = pool.verdicts_of(pred, gold)[grader]
    assert (verdict.equal, verdict.reason, verdict.grader) == (False, NOT_EQUAL, grader)


@pytest.mark.parametrize(("raw", "normalized"), NORMALIZED)
def test_sympy_normalizer(raw: str, normalized: str) -> None:
    assert normalize_answer(raw) == normalized


@pytest.mark.parametrize(("text", "kind"), STRUCTURES)
def test_sympy_structure(text: str, kind: str) -> None:
    assert split_structure(text)[0] == kind


@pytest.mark.parametrize(
    ("answer", "wrapped"),
    [
        ("\\frac{14}{3}", "\\boxed{\\frac{14}{3}}"),
        ("The answer is $5$", "The answer is $5$"),
        ("so \\boxed{5}", "so \\boxed{5}"),
        ("\\$18.90", "\\boxed{\\$18.90}"),
    ],
)
def test_gold_wrapping_for_math_verify(answer: str, wrapped: str) -> None:
    assert as_latex_answer(answer) == wrapped


@pytest.mark.parametrize(
    ("pred", "gold", "reason"),
    [
        (None, "1", EMPTY_PREDICTION),
        ("", "1", EMPTY_PREDICTION),
        ("  \n", "1", EMPTY_PREDICTION),
        ("1", None, NO_GOLD),
        ("1", "", NO_GOLD),
        (None, None, NO_GOLD),
    ],
)
def test_missing_answers(
    pool: GradingPool, pred: str | None, gold: str | None, reason: str
) -> None:
    verdict = pool.grade(pred, gold)
    assert verdict == Verdict(False, reason, 0.0, None, "math-verify")


def test_numbers_are_graded_as_their_text(pool: GradingPool) -> None:
    verdicts = pool.grade_many([(18, "18"), ("2.5", 2.5), (3, 4)])  # type: ignore[list-item]
    assert [v.reason for v in verdicts] == [EQUAL, EQUAL, NOT_EQUAL]


@pytest.mark.parametrize(("pred", "gold"), NASTY_PAIRS)
def test_nasty_input_gets_verdict_in_time(pool: GradingPool, pred: str, gold: str) -> None:
    start = time.monotonic()
    verdict = pool.grade(pred, gold)
    assert time.monotonic() - start < TIMEOUT_S + 1.0
    assert verdict.reason in (EQUAL, NOT_EQUAL, TIMEOUT, ERROR, "gold not parsed")
    assert verdict.grader == "math-verify"
    if "9^{9^{9^{9}}}" in pred:
        assert verdict.reason == TIMEOUT and TIMEOUT_S - 0.1 <= verdict.seconds < TIMEOUT_S + 1.0
    # and the pool keeps grading
    assert pool.grade("\\frac{2}{4}", "0.5").equal


def test_all_workers_busy_in_parallel(pool: GradingPool) -> None:
    # two pairs that each run until the timeout take one timeout with two workers, not two
    start = time.monotonic()
    verdicts = pool.grade_many([("9^{9^{9^{9}}}", "3"), ("9^{9^{9^{9}}}", "4")])
    assert [v.reason for v in verdicts] == [TIMEOUT, TIMEOUT]
    assert time.monotonic() - start < 2 * TIMEOUT_S


def test_verdicts_are_cached_and_duplicates_graded_once(pool: GradingPool) -> None:
    first = pool.grade_many([("\\frac{6}{4}", "1.5"), ("\\frac{6}{4}", "1.5")])
    again = pool.grade("\\frac{6}{4}", "1.5")
    assert first[0] is first[1] is again
    assert again.equal


def test_audit_records_disagreements_only(pool: GradingPool) -> None:
    # math-verify reads the unclosed \frac{1}{2 as 1/2; our normaliser refuses it
    pool.grade_many([("\\frac{1}{2", "0.5"), ("\\frac{1}{2}", "0.5"), ("\\frac{1}{2", "0.5")])
    assert pool.audit_path is not None
    records = [json.loads(line) for line in pool.audit_path.read_text().splitlines()]
    mine = [r for r in records if r["pred"] == "\\frac{1}{2" and r["gold"] == "0.5"]
    assert len(mine) == 1
    assert [(v["grader"], v["equal"]) for v in mine[0]["verdicts"]] == [
        ("math-verify", True),
        ("sympy", False),
    ]
    assert all(len({v["equal"] for v in r["verdicts"]}) == 2 for r in records)


def test_parent_kills_a_worker_past_its_deadline() -> None:
    # Without the worker's own timer only the parent's kill can stop the tower.
    with GradingPool(workers=1, timeout=1.0, soft_timeout=False) as pool:
        pid = pool.worker_pids[0]
        start = time.monotonic()
        verdict = pool.grade("9^{9^{9^{9}}}", "1")
        assert verdict.reason == TIMEOUT
        assert time.monotonic() - start < 1.0 + 1.0
        assert pool.n_restarts == 1 and pool.worker_pids != [pid]
        assert pool.grade("\\frac{14}{3}", "14/3").equal


def test_killed_workers_are_replaced_and_pool_survives() -> None:
    with GradingPool(workers=1, timeout=10.0) as pool:
        # killed in the middle of a pair: that pair gets an error verdict at once
        killer = threading.Timer(0.5, os.kill, (pool.worker_pids[0], signal.SIGKILL))
        killer.start()
        start = time.monotonic()
        verdict = pool.grade("9^{9^{9^{9}}}", "1")
        killer.join()
        assert verdict.reason == ERROR and not verdict.equal
        assert verdict.error is not None and "died" in verdict.error
        assert time.monotonic() - start < 5.0
        assert pool.grade("(1,2)", "\\left(1, 2\\right)").equal
        # killed while idle: its replacement grades the next pairs as if nothing happened
        os.kill(pool.worker_pids[0], signal.SIGKILL)
        time.sleep(0.3)
        verdicts = pool.grade_many([("2", "2"), ("3", "2")])
        assert [v.reason for v in verdicts] == [EQUAL, NOT_EQUAL]
        assert pool.n_restarts == 2


def test_grade_function() -> None:
    verdict = grade("\\frac{14}{3}", "14/3", timeout=TIMEOUT_S)
    assert (verdict.equal, verdict.reason, verdict.grader) == (True, EQUAL, "math-verify")
    assert grade(None, "1").reason == EMPTY_PREDICTION
    assert not grade("15/3", "14/3", timeout=TIMEOUT_S).equal


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("math-verify", ("math-verify",)),
        ("math-verify,sympy", ("math-verify", "sympy")),
        (" sympy , math-verify ", ("sympy", "math-verify")),
    ],
)
def test_parse_graders(spec: str, expected: tuple[str, ...]) -> None:
    assert parse_graders(spec) == expected


@pytest.mark.parametrize("spec", ["", ",", "mathverify", "math-verify,regex", "sympy,sympy"])
def test_parse_graders_rejects(spec: str) -> None:
    with pytest.raises(MathverifyError, match="--graders"):
        parse_graders(spec)


@pytest.mark.parametrize(
    "kwargs",
    [{"workers": 0}, {"timeout": 0}, {"graders": ()}, {"graders": ("wolfram",)}],
)
def test_pool_rejects_bad_settings(kwargs: dict) -> None:
    with pytest.raises(MathverifyError, match="grading pool"):
        GradingPool(**kwargs)
