"""MATH500 end to end over HTTP: ``data math500 | generate --backend openai | label --method
outcome | eval`` against a local fake OpenAI-compatible server.

The server answers each prompt with the problem's reference ``solution`` (which ends in
``\\boxed{answer}``): all 500 must be graded right. Then it answers with corrupted solutions:
the reference text followed by a last step boxing a wrong answer, so the extracted answer is
wrong by construction (the reference box is still in the text; only the last box counts):
an integer answer becomes the next integer, any other answer (intervals, text, matrices,
expressions, tuples) the number 1000000007, which no MATH500 answer equals (checked below).
All 500 must be graded wrong: no false positive.

Needs ``MATHVERIFY_DATA`` holding ``math500/test.jsonl`` (skips with the reason otherwise).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import require_data
from test_backend_openai import MODEL, FakeServer
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.prompting import PromptFormat

runner = CliRunner()
SENTINEL = "1000000007"
_INTEGER = re.compile(r"-?\d+")


def wrong_answer(gold: str) -> str:
    """An answer that cannot be equivalent to ``gold`` (see the module docstring)."""
    gold = gold.strip()
    return str(int(gold) + 1) if _INTEGER.fullmatch(gold) else SENTINEL


def corrupt(solution: str, gold: str) -> str:
    return f"{solution}\n\nSo the final answer is $\\boxed{{{wrong_answer(gold)}}}$."


@pytest.fixture(scope="module")
def math500_rows() -> list[dict]:
    path = require_data("math500", "test.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeServer]:
    fake = FakeServer()
    threading.Thread(target=fake.serve_forever, args=(0.05,), daemon=True).start()
    yield fake
    fake.shutdown()
    fake.server_close()


def invoke(args: list[str], stdin: str | None = None) -> str:
    result = runner.invoke(app, args, input=stdin)
    assert result.exit_code == 0, result.output
    return result.stdout


def run_pipeline(
    tmp_path: Path, server: FakeServer, answer: Callable[[str], str]
) -> tuple[list[dict], dict]:
    """The four stages, each reading the previous one's stdout; returns the labeled
    solutions and eval's JSON numbers."""
    problems = tmp_path / "math500.jsonl"
    invoke(["data", "math500", "-o", str(problems)])
    server.answer = answer
    solutions = invoke(
        ["generate", "--backend", "openai", "--base-url", server.url, "--model", MODEL,
         "--policy", MODEL, "-p", str(problems), "-o", "-", "-n", "1", "--temperature", "0",
         "--max-tokens", "100000", "--max-concurrency", "16"]
    )  # fmt: skip
    labeled = invoke(
        ["label", "--method", "outcome", "-p", str(problems), "-i", "-", "-o", "-",
         "--grade-workers", "2"],
        stdin=solutions,
    )  # fmt: skip
    numbers = tmp_path / "eval.json"
    invoke(["eval", "-", "-p", str(problems), "--json", str(numbers)], stdin=labeled)
    rows = [json.loads(line) for line in labeled.splitlines() if line]
    return rows, json.loads(numbers.read_text(encoding="utf-8"))


def answers_by_prompt(rows: list[dict], text: Callable[[dict], str]) -> Callable[[str], str]:
    """The server's answer function: the prompt the plain format builds for each problem."""
    prompt = PromptFormat()
    table = {prompt.prompt(row["problem"]): text(row) for row in rows}
    return table.__getitem__


def test_no_gold_answer_equals_the_sentinel(math500_rows) -> None:
    assert len(math500_rows) == 500
    assert not any(SENTINEL in row["answer"] for row in math500_rows)


def test_reference_solutions_grade_500_of_500(tmp_path, server, math500_rows) -> None:
    answer = answers_by_prompt(math500_rows, lambda row: row["solution"])
    rows, numbers = run_pipeline(tmp_path, server, answer)
    assert len(rows) == 500
    wrong = [r["problem_id"] for r in rows if r["outcome"] is not True]
    assert wrong == []
    [report] = numbers["reports"]
    assert (report["n_problems"], report["accuracy"]) == (500, 1.0)


def test_corrupted_solutions_grade_0_of_500(tmp_path, server, math500_rows) -> None:
    answer = answers_by_prompt(math500_rows, lambda row: corrupt(row["solution"], row["answer"]))
    rows, numbers = run_pipeline(tmp_path, server, answer)
    assert len(rows) == 500
    [report] = numbers["reports"]
    assert (report["n_problems"], report["accuracy"]) == (500, 0.0)
    false_positives = [r["problem_id"] for r in rows if r["outcome"] is not False]
    assert false_positives == []
    by_id = {row["unique_id"]: row for row in math500_rows}
    for r in rows:
        assert r["answer"] == wrong_answer(by_id[r["problem_id"]]["answer"])
