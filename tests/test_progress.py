"""Progress inside a batch (issue #38): the library reports problems as they finish and where
a batch is; the CLI draws one bar on stderr (done of total, rate, ETA), off with --quiet,
and stdout carries only records."""

from __future__ import annotations

import json

from test_search import ScriptedPolicy, make_problems
from test_search_cli import FAST, scripted, write_problems  # noqa: F401 (a fixture)
from typer.testing import CliRunner

from mathverify import progress
from mathverify.cli import app
from mathverify.grading import GradingPool
from mathverify.provenance import Provenance
from mathverify.records import Problem
from mathverify.search import SEARCHES, SearchConfig
from mathverify.search.run import write_search

runner = CliRunner()


class Recorder:
    """A reporter that keeps every event, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def advance(self, n: int) -> None:
        self.events.append(("advance", n))

    def note(self, **parts: str) -> None:
        self.events.append(("note", parts))

    def advances(self) -> list[int]:
        return [n for kind, n in self.events if kind == "advance"]  # type: ignore[misc]

    def notes(self) -> list[dict[str, str]]:
        return [p for kind, p in self.events if kind == "note"]  # type: ignore[misc]


def short_and_long(n: int) -> list[Problem]:
    """``n`` problems of one step and ``n`` of five: one batch, two finishing depths."""
    short = make_problems(n, n_numbers=2)
    long = make_problems(n, n_numbers=6, seed=1)
    return [
        *(Problem(id=f"short{i}", problem=p.problem, answer=p.answer) for i, p in enumerate(short)),
        *(Problem(id=f"long{i}", problem=p.problem, answer=p.answer) for i, p in enumerate(long)),
    ]


def test_nothing_is_reported_without_a_reporter() -> None:
    progress.advance(3)
    progress.note(depth="1/2")  # no reporter installed: nothing happens, nothing fails


def test_sbs_reports_problems_as_they_finish_inside_one_batch() -> None:
    problems = short_and_long(2)
    config = SearchConfig(b1=1, b2=1, temperature=1.0, group_by="string", batch_problems=4)
    recorder = Recorder()
    with progress.reporting(recorder):
        SEARCHES["sbs"](problems, ScriptedPolicy(error_rate=0.0), None, config)
    advances = recorder.advances()
    # The one-step problems finish first, the five-step ones at depth 5: two reports.
    assert advances == [2, 2]
    depths = [n["depth"] for n in recorder.notes() if n.get("depth")]
    assert depths[:3] == ["1/16", "2/16", "3/16"]
    first_long_done = recorder.events.index(
        ("advance", 2), 1 + recorder.events.index(("advance", 2))
    )
    assert ("note", {"depth": "5/16"}) in recorder.events[:first_long_done]


def test_mcts_reports_each_simulation() -> None:
    problems = make_problems(2)
    config = SearchConfig(b2=2, simulations=3, temperature=1.0, gold_reward=True, group_by="string")
    recorder = Recorder()
    with GradingPool(workers=1) as pool, progress.reporting(recorder):
        SEARCHES["mcts"](problems, ScriptedPolicy(error_rate=0.3), None, config, pool=pool)
    simulations = [n["simulation"] for n in recorder.notes() if n.get("simulation")]
    assert simulations == ["1/3", "2/3", "3/3"]


def test_write_search_counts_every_problem_once_resumed_batches_too(tmp_path) -> None:
    problems = make_problems(5)
    out = tmp_path / "out.jsonl"
    config = SearchConfig(batch_problems=2)
    provenance = Provenance("search", {"method": "greedy"})
    with GradingPool(workers=1) as pool:
        write_search("greedy", problems[:2], (ScriptedPolicy(), None), config, pool,
                     output=str(out), provenance=provenance)  # fmt: skip
        recorder = Recorder()
        with progress.reporting(recorder):
            written = write_search("greedy", problems, (ScriptedPolicy(), None), config, pool,
                                   output=str(out), provenance=provenance, resume=True)  # fmt: skip
    assert (written.resumed, written.written) == (2, 3)
    assert sum(recorder.advances()) == 5
    assert recorder.advances()[0] == 2  # the batch written before counts at once
    assert {"batch": "2/3"} in recorder.notes() and {"batch": "1/3"} not in recorder.notes()


def test_search_draws_progress_on_stderr_and_only_records_on_stdout(tmp_path, scripted) -> None:  # noqa: F811
    problems = write_problems(tmp_path / "p.jsonl", make_problems(4))
    args = ["search", "-m", "greedy", "--policy", "x", "-p", problems, "-o", "-", *FAST]
    result = runner.invoke(app, [*args, "--batch-problems", "2"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["problem_id"] for row in rows] == ["p000", "p001", "p002", "p003"]
    assert "4/4 problems" in result.stderr and "eta" in result.stderr
    quiet = runner.invoke(app, [*args, "--batch-problems", "2", "--quiet"])
    assert quiet.exit_code == 0, quiet.output
    answers = [(row["problem_id"], row["answer"]) for row in rows]
    assert [
        (r["problem_id"], r["answer"]) for r in map(json.loads, quiet.stdout.splitlines())
    ] == answers
    assert "4/4" not in quiet.stderr and "eta" not in quiet.stderr
