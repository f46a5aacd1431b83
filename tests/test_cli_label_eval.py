"""`label --method outcome` and `eval` end to end: pipes, errors, kill and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.records import Problem, Solution, read_all, write_records

runner = CliRunner()


def make_inputs(tmp_path: Path, n_problems: int, n_samples: int) -> tuple[Path, Path]:
    problems = [Problem(id=f"p{i}", problem=f"{i}+0?", answer=str(i)) for i in range(n_problems)]
    solutions = [
        Solution(
            problem_id=f"p{i}",
            sample_id=j,
            steps=[f"\\boxed{{{i if j % 3 else i + 1}}}"],
            answer=str(i) if j % 3 else str(i + 1),
            n_tokens=5,
        )
        for i in range(n_problems)
        for j in range(n_samples)
    ]
    problems_path = tmp_path / "problems.jsonl"
    solutions_path = tmp_path / "solutions.jsonl"
    write_records(problems_path, problems)
    write_records(solutions_path, solutions)
    return problems_path, solutions_path


def test_label_outcome_then_eval(tmp_path):
    problems, solutions = make_inputs(tmp_path, 4, 3)
    out = tmp_path / "labeled.jsonl"
    result = runner.invoke(
        app,
        ["label", "--method", "outcome", "-p", str(problems), "-i", str(solutions), "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    labeled = read_all(out, Solution)
    assert [s.outcome for s in labeled] == [False, True, True] * 4
    assert all(s.label_source == "outcome" for s in labeled)

    report_path = tmp_path / "reports" / "report.json"  # a folder that does not exist yet
    result = runner.invoke(app, ["eval", str(out), "-p", str(problems), "--json", str(report_path)])
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())["reports"][0]
    assert report["accuracy"] == pytest.approx(2 / 3)
    assert report["pass_at"]["3"] == 1.0
    assert report["maj"]["3"] == 1.0
    # maj@1 is the expected vote of one sample drawn from the three: the accuracy, not the
    # verdict of the first sample (sample 0 of every problem is wrong).
    assert report["maj"]["1"] == pytest.approx(2 / 3)


def test_eval_grades_unlabeled_solutions_and_reads_stdin(tmp_path):
    problems, solutions = make_inputs(tmp_path, 3, 3)
    result = runner.invoke(
        app, ["eval", "-", "-p", str(problems), "--json", "-"], input=solutions.read_text()
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["reports"][0]
    assert report["accuracy"] == pytest.approx(2 / 3)


def test_label_with_unknown_problem_is_one_line_exit_2(tmp_path):
    problems, solutions = make_inputs(tmp_path, 2, 1)
    problems.write_text(problems.read_text().splitlines()[0] + "\n")
    result = runner.invoke(
        app, ["label", "--method", "outcome", "-p", str(problems), "-i", str(solutions)]
    )
    assert result.exit_code == 2
    assert "problem id 'p1' is not in the problems file" in result.stderr
    assert "Traceback" not in result.output


def test_bad_input_line_is_reported_with_file_line_field(tmp_path):
    problems, _ = make_inputs(tmp_path, 1, 1)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"problem_id": "p0", "sample_id": 0, "steps": ["a"]}\n{"problem_id": "p0"}\n')
    result = runner.invoke(app, ["label", "-m", "outcome", "-p", str(problems), "-i", str(bad)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {bad}:2: field 'sample_id': missing"


def test_debug_shows_the_traceback(tmp_path):
    problems, _ = make_inputs(tmp_path, 1, 1)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    env = {**os.environ, "MATHVERIFY_DEBUG": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mathverify",
            "label",
            "-m",
            "outcome",
            "-p",
            str(problems),
            "-i",
            str(bad),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr and "RecordError" in proc.stderr


def test_unknown_method(tmp_path):
    problems, solutions = make_inputs(tmp_path, 1, 1)
    result = runner.invoke(app, ["label", "-m", "nope", "-p", str(problems), "-i", str(solutions)])
    assert result.exit_code == 2
    assert "--method 'nope'" in result.stderr


def test_shard_splits_label_work(tmp_path):
    problems, solutions = make_inputs(tmp_path, 20, 2)
    seen = []
    for i in range(2):
        out = tmp_path / f"shard{i}.jsonl"
        args = ["label", "-m", "outcome", "-p", str(problems), "-i", str(solutions)]
        result = runner.invoke(app, [*args, "-o", str(out), "--shard", f"{i}/2"])
        assert result.exit_code == 0, result.output
        seen += [s.key() for s in read_all(out, Solution)]
    assert sorted(seen) == sorted(s.key() for s in read_all(solutions, Solution))


def test_killed_label_run_resumes_with_every_row_once(tmp_path):
    problems, solutions = make_inputs(tmp_path, 600, 10)
    out = tmp_path / "labeled.jsonl"
    cmd = [
        sys.executable, "-m", "mathverify", "label", "-m", "outcome",
        "-p", str(problems), "-i", str(solutions), "-o", str(out), "--resume",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, start_new_session=True, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if out.exists() and out.stat().st_size > 0 and len(out.read_bytes().splitlines()) >= 200:
            break
        if proc.poll() is not None:
            pytest.fail(f"label exited before it could be killed: {proc.stderr.read().decode()}")
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole job: the command and its grader workers
    proc.wait()
    partial = len(out.read_bytes().splitlines())
    assert 0 < partial < 6000, "the run must be killed mid-way for this test to mean anything"

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    labeled = read_all(out, Solution)
    keys = [s.key() for s in labeled]
    assert len(keys) == len(set(keys)) == 6000
    assert all(s.outcome == (s.sample_id % 3 != 0) for s in labeled)


def test_exact_labels_feed_eval_step_stats(tmp_path):
    from mathverify.data.synthetic import SynthConfig, make_splits

    _, test = make_splits(SynthConfig(train_size=0, test_size=3, seed=1))
    write_records(tmp_path / "p.jsonl", test)
    solutions = []
    for problem in test:
        gold = problem.meta["gold_steps"]
        solutions.append(
            Solution(problem_id=problem.id, sample_id=0, steps=gold, answer=problem.answer)
        )
        # a wrong first step, then the right box: right answer, wrong step
        broken = ["= 999", *gold[1:]]
        solutions.append(
            Solution(problem_id=problem.id, sample_id=1, steps=broken, answer=problem.answer)
        )
    write_records(tmp_path / "s.jsonl", solutions)
    args = [
        "label",
        "-m",
        "exact",
        "-p",
        str(tmp_path / "p.jsonl"),
        "-i",
        str(tmp_path / "s.jsonl"),
    ]
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "l.jsonl")])
    assert result.exit_code == 0, result.output
    labeled = read_all(tmp_path / "l.jsonl", Solution)
    assert [s.first_wrong_step for s in labeled] == [None, 0] * 3
    assert all(s.label_source == "exact" for s in labeled)
    result = runner.invoke(
        app, ["eval", str(tmp_path / "l.jsonl"), "-p", str(tmp_path / "p.jsonl"), "--json", "-"]
    )
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)["reports"][0]["step_labels"]
    assert stats["labeled"] == 6
    assert stats["right_answer_with_wrong_step"] == 0.5


def test_exact_labels_refuse_non_synthetic_problems(tmp_path):
    problems, solutions = make_inputs(tmp_path, 1, 1)
    result = runner.invoke(app, ["label", "-m", "exact", "-p", str(problems), "-i", str(solutions)])
    assert result.exit_code == 2
    assert "not a synthetic arithmetic problem" in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"problem_id": "p0", "sample_id": 0, "steps": ["\xff"]}\n', ":1: not valid UTF-8"),
        (b"not json\n", ":1: invalid JSON"),
        (b'{"sample_id": 0, "steps": []}\n', ":1: field 'problem_id': missing"),
    ],
)
def test_bad_input_through_the_cli_is_one_line(tmp_path, content, message):
    problems, _ = make_inputs(tmp_path, 1, 1)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(content)
    for args in (["label", "-m", "outcome"], ["eval"]):
        target = ["-i", str(bad)] if args[0] == "label" else [str(bad)]
        result = runner.invoke(app, [*args, "-p", str(problems), *target])
        assert result.exit_code == 2, result.output
        assert result.stderr.count("\n") == 1 and message in result.stderr


def test_empty_input_gives_an_empty_result(tmp_path):
    problems, _ = make_inputs(tmp_path, 1, 1)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(
        app, ["label", "-m", "outcome", "-p", str(problems), "-i", str(empty), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_text() == ""
    # No solution gives no accuracy: eval refuses rather than print 0.0.
    result = runner.invoke(app, ["eval", str(empty), "-p", str(problems), "--json", "-"])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "no solutions or search results" in result.stderr


def test_eval_against_the_mario_qaf_file(tmp_path):
    from conftest import require_data

    qaf = require_data("mario_eval", "math_testset_annotation.json")
    rows = json.loads(qaf.read_text())[:3]
    solutions = [
        Solution(
            problem_id=f"mario-{row['index']}",
            sample_id=0,
            steps=["x"],
            answer=row["answer"] if i < 2 else "12345",
        )
        for i, row in enumerate(rows)
    ]
    write_records(tmp_path / "s.jsonl", solutions)
    result = runner.invoke(
        app, ["eval", str(tmp_path / "s.jsonl"), "--qaf", str(qaf), "--json", "-"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["reports"][0]
    assert report["n_problems"] == 3 and report["accuracy"] == pytest.approx(2 / 3)
