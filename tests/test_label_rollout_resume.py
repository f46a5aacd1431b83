"""`label --method rollout` killed and resumed: no row lost or doubled, rows as if never killed.

The rollouts of a solution depend on the other solutions in its backend call (the HF
backend seeds per batch), so these tests compare whole rows, sampled token counts
included, against an uninterrupted run with the same seed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.models.tiny import save_random_policy
from mathverify.records import Problem, Solution, read_all, write_records

runner = CliRunner()

CHUNK = 4


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_policy(
        tmp_path_factory.mktemp("rollout_policy"), hidden_size=64, num_layers=1, num_heads=2
    )


def make_inputs(directory: Path, n_solutions: int) -> tuple[Path, Path]:
    """Three-step solutions of ``i + 1``; every third one boxes a wrong answer."""
    problems = [Problem(id=f"p{i}", problem=f"{i} + 1", answer=str(i + 1)) for i in range(8)]
    solutions = []
    for index in range(n_solutions):
        i = index % len(problems)
        answer = str(i + 1 if index % 3 else i + 2)
        steps = [f"= {i}+1", f"= {answer}", f"\\boxed{{{answer}}}"]
        solutions.append(
            Solution(
                problem_id=f"p{i}", sample_id=index // len(problems), steps=steps, answer=answer
            )
        )
    problems_path, solutions_path = directory / "problems.jsonl", directory / "solutions.jsonl"
    write_records(problems_path, problems)
    write_records(solutions_path, solutions)
    return problems_path, solutions_path


def label_args(policy: Path, problems: Path, solutions: Path, out: Path, max_tokens: int) -> list:
    # Temperature 2 keeps the random policy's end-of-text likely enough that sampled
    # lengths (the rows' rollout_tokens) differ between samples and seeds.
    return [
        "label", "--method", "rollout", "--policy", str(policy), "-p", str(problems),
        "-i", str(solutions), "-o", str(out), "--rollouts", "3", "--max-tokens", str(max_tokens),
        "--temperature", "2", "--chunk", str(CHUNK), "--seed", "5", "--grade-workers", "1",
    ]  # fmt: skip


def check_rows_vary(path: Path) -> None:
    """The comparison means something only if sampling shows in the rows."""
    rows = read_all(path, Solution)
    assert len({r.meta["rollout_tokens"] for r in rows}) > 3
    assert {r.step_labels[-1] for r in rows} == {0.0, 1.0}


def test_resume_from_a_row_inside_a_chunk_gives_the_uninterrupted_rows(
    policy_dir: Path, tmp_path: Path
) -> None:
    problems, solutions = make_inputs(tmp_path, 16)
    full = tmp_path / "full.jsonl"
    result = runner.invoke(app, label_args(policy_dir, problems, solutions, full, 16))
    assert result.exit_code == 0, result.output
    check_rows_vary(full)
    lines = full.read_bytes().splitlines(keepends=True)
    # A kill while the second chunk was being written: one chunk, one row, a torn line.
    partial = tmp_path / "partial.jsonl"
    partial.write_bytes(b"".join(lines[: CHUNK + 1]) + lines[CHUNK + 1][:25])
    args = label_args(policy_dir, problems, solutions, partial, 16)
    result = runner.invoke(app, [*args, "--resume"])
    assert result.exit_code == 0, result.output
    assert f"{CHUNK + 1} kept from before" in result.stderr
    assert partial.read_bytes() == full.read_bytes()


@pytest.mark.slow
def test_killed_rollout_run_resumes_with_every_row_once(policy_dir: Path, tmp_path: Path) -> None:
    problems, solutions = make_inputs(tmp_path, 96)
    reference = tmp_path / "reference.jsonl"
    result = runner.invoke(app, label_args(policy_dir, problems, solutions, reference, 48))
    assert result.exit_code == 0, result.output
    check_rows_vary(reference)

    out = tmp_path / "labeled.jsonl"
    cmd = [
        sys.executable, "-m", "mathverify",
        *label_args(policy_dir, problems, solutions, out, 48), "--resume",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, start_new_session=True, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if out.exists() and len(out.read_bytes().splitlines()) >= CHUNK:
            break
        if proc.poll() is not None:
            pytest.fail(f"label exited before it could be killed: {proc.stderr.read().decode()}")
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole job: the command and its grader worker
    proc.wait()
    partial = len(out.read_bytes().splitlines())
    assert 0 < partial < 96, "the run must be killed mid-way for this test to mean anything"

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    keys = [r.key() for r in read_all(out, Solution)]
    assert len(keys) == len(set(keys)) == 96
    assert out.read_bytes() == reference.read_bytes()
