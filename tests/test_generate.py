"""``mathverify generate`` end to end with a tiny random policy: seeds, resume, shards, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.generation import GenerationConfig, plan_chunks, write_solutions
from mathverify.models.card import ModelCard
from mathverify.models.tiny import save_random_policy
from mathverify.prompting import PromptFormat
from mathverify.records import Problem, RecordWriter, Solution, in_shard, read_all, write_records

runner = CliRunner()

PROBLEMS = [
    Problem(id=f"p{i}", problem=text, answer=answer, source="test")
    for i, (text, answer) in enumerate(
        [("1 + 2", "3"), ("4 * 5 - 6", "14"), ("(7 - 9) * 3", "-6"), ("8", "8"), ("2 * 2", "4")]
    )
]


@pytest.fixture(scope="session")
def policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A non-default separator shows that steps are split with the card's, not a constant.
    return save_random_policy(
        tmp_path_factory.mktemp("generate_policy"),
        prompt=PromptFormat(separator="\n"),
        hidden_size=64,
        num_layers=2,
        num_heads=2,
    )


@pytest.fixture
def problems_file(tmp_path: Path) -> Path:
    path = tmp_path / "problems.jsonl"
    write_records(path, PROBLEMS)
    return path


def run_generate(policy_dir: Path, problems: Path, out: Path, *extra: str):
    args = ["generate", "--policy", str(policy_dir), "--problems", str(problems), "-o", str(out)]
    args += ["--n", "3", "--max-tokens", "24", "--batch-size", "6", *extra]
    return runner.invoke(app, args)


def test_same_seed_same_bytes_and_records_are_complete(
    policy_dir: Path, problems_file: Path, tmp_path: Path
) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for out in (first, second):
        result = run_generate(policy_dir, problems_file, out, "--seed", "7")
        assert result.exit_code == 0, result.output
    assert first.read_bytes() == second.read_bytes()
    solutions = read_all(first, Solution)
    assert [s.key() for s in solutions] == [f"{p.id}#{i}" for p in PROBLEMS for i in range(3)]
    for solution in solutions:
        assert solution.policy == str(policy_dir)
        assert solution.steps == [s.strip() for s in solution.text.split("\n") if s.strip()]
        assert 1 <= solution.n_tokens <= 24
        assert solution.meta["seed"] == 7 and solution.meta["backend"] == "hf"
        assert solution.meta["temperature"] == 0.7 and solution.meta["max_tokens"] == 24
        assert solution.meta["finish_reason"] in ("eos", "length")
        # The engine settings that made it: the saved weights' dtype, on the CPU here.
        settings = solution.meta["backend_settings"]
        assert settings["dtype"] == "float32" and settings["device"] == "cpu"
        assert settings["batch_size"] == 6 and settings["transformers_version"]


def test_different_seed_different_output(
    policy_dir: Path, problems_file: Path, tmp_path: Path
) -> None:
    outs = [tmp_path / "s1.jsonl", tmp_path / "s2.jsonl"]
    for seed, out in zip(("1", "2"), outs, strict=True):
        result = run_generate(policy_dir, problems_file, out, "--seed", seed, "--temperature", "1")
        assert result.exit_code == 0, result.output
    texts = [[s.text for s in read_all(out, Solution)] for out in outs]
    assert texts[0] != texts[1]


def test_greedy_samples_are_identical(
    policy_dir: Path, problems_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "greedy.jsonl"
    result = run_generate(policy_dir, problems_file, out, "--temperature", "0", "--limit", "2")
    assert result.exit_code == 0, result.output
    solutions = read_all(out, Solution)
    assert len(solutions) == 6
    for problem in PROBLEMS[:2]:
        assert len({s.text for s in solutions if s.problem_id == problem.id}) == 1


def test_resume_after_a_partial_file_gives_the_uninterrupted_output(
    policy_dir: Path, problems_file: Path, tmp_path: Path
) -> None:
    full = tmp_path / "full.jsonl"
    assert run_generate(policy_dir, problems_file, full).exit_code == 0
    lines = full.read_bytes().splitlines(keepends=True)
    # Two whole problems, one sample of the third, and a torn line as a killed run leaves.
    partial = tmp_path / "partial.jsonl"
    partial.write_bytes(b"".join(lines[:7]) + lines[7][:20])
    result = run_generate(policy_dir, problems_file, partial, "--resume")
    assert result.exit_code == 0, result.output
    assert partial.read_bytes() == full.read_bytes()
    assert "7 kept from before" in result.stderr


def test_resume_skips_chunks_already_written(tmp_path: Path) -> None:
    class CountingPolicy:
        name = "counting"

        def __init__(self) -> None:
            self.prompts: list[list[str]] = []

        def complete(self, prompts, *, n, temperature, top_p, max_tokens, stop, seed):
            from mathverify.backends.base import Completion

            self.prompts.append(prompts)
            return [[Completion("\\boxed{1}", 3, "eos", -1.0)] * n for _ in prompts]

    config = GenerationConfig(n=2, batch_size=4)
    out = tmp_path / "out.jsonl"
    # p0 and p1 (the first chunk) written whole, p2 (in the second chunk) in part.
    write_records(
        out,
        [Solution(problem_id=p, sample_id=i, steps=["x"]) for p in ("p0", "p1") for i in (0, 1)]
        + [Solution(problem_id="p2", sample_id=0, steps=["x"])],
    )
    policy = CountingPolicy()
    with RecordWriter(out, Solution, resume=True) as writer:
        tokens = write_solutions(
            policy, PROBLEMS, writer, prompt_format=PromptFormat(), config=config, backend="test"
        )
    # The done chunk is not generated; the partly done one is, whole (its seed and inputs).
    assert [len(prompts) for prompts in policy.prompts] == [2, 1]
    assert tokens == 3 * 2 * 3
    rows = read_all(out, Solution)
    assert [s.key() for s in rows][5:] == ["p2#1", "p3#0", "p3#1", "p4#0", "p4#1"]
    assert rows[-1].answer == "1"


def test_plan_chunks_keeps_at_least_one_problem() -> None:
    assert [len(c) for c in plan_chunks(PROBLEMS, n=16, batch_size=4)] == [1] * 5
    assert [len(c) for c in plan_chunks(PROBLEMS, n=2, batch_size=6)] == [3, 2]


def test_shard_and_limit(policy_dir: Path, problems_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "shard.jsonl"
    result = run_generate(policy_dir, problems_file, out, "--shard", "1/2", "--limit", "1")
    assert result.exit_code == 0, result.output
    ids = {s.problem_id for s in read_all(out, Solution)}
    first_in_shard = next(p.id for p in PROBLEMS if in_shard(p.id, (1, 2)))
    assert ids == {first_in_shard}


def test_stdout_output_is_jsonl(policy_dir: Path, problems_file: Path) -> None:
    result = run_generate(policy_dir, problems_file, Path("-"), "--limit", "1", "--n", "2")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["sample_id"] for r in rows] == [0, 1]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing", "no such model directory"),
        (lambda d: d.mkdir() or d, "not a model directory (no config.json)"),
        (lambda d: ModelCard(kind="prm").save(d).parent, "is a prm model, expected policy"),
    ],
)
def test_bad_policy_dir_is_one_line_exit_2(
    problems_file: Path, tmp_path: Path, make, message
) -> None:
    policy = make(tmp_path / "model")
    result = run_generate(policy, problems_file, tmp_path / "out.jsonl")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert message in result.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_bad_sampling_option_is_one_line(
    policy_dir: Path, problems_file: Path, tmp_path: Path
) -> None:
    result = run_generate(policy_dir, problems_file, tmp_path / "o.jsonl", "--top-p", "1.5")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: top_p must be in (0, 1], got 1.5"
