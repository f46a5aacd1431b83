"""``generate``: each solution names what made it, and ``--resume`` refuses other settings.

A user resumed a partial file with another temperature and got rows of two temperatures in
one file, silently. The settings are stored with every row and a resume compares them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mathverify import __version__
from mathverify.cli import app
from mathverify.models.tiny import save_random_policy
from mathverify.records import Problem, Solution, read_all, write_records

runner = CliRunner()

PROBLEMS = [Problem(id=f"p{i}", problem=f"{i} + 1", answer=str(i + 1)) for i in range(4)]


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_policy(
        tmp_path_factory.mktemp("provenance_policy"), hidden_size=64, num_layers=1, num_heads=2
    )


@pytest.fixture
def problems_file(tmp_path: Path) -> Path:
    path = tmp_path / "problems.jsonl"
    write_records(path, PROBLEMS)
    return path


def run_generate(policy: Path, problems: Path, out: Path, *extra: str):
    args = ["generate", "--policy", str(policy), "--problems", str(problems), "-o", str(out)]
    args += ["--n", "2", "--max-tokens", "8", "--batch-size", "4", "--seed", "3", *extra]
    return runner.invoke(app, args)


def test_each_solution_names_its_policy_sampling_and_version(
    policy_dir: Path, problems_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "s.jsonl"
    result = run_generate(policy_dir, problems_file, out, "--temperature", "0.9")
    assert result.exit_code == 0, result.output
    for solution in read_all(out, Solution):
        made = solution.meta["provenance"]["generate"]
        assert made["policy"] == str(policy_dir) and made["backend"] == "hf"
        assert made["dtype"] == "auto" and made["prompt_format"] == "auto"
        assert (made["n"], made["temperature"], made["top_p"]) == (2, 0.9, 1.0)
        assert (made["max_tokens"], made["seed"], made["batch_size"]) == (8, 3, 4)
        assert made["step_format"] == "plain"
        assert made["mathverify_version"] == __version__
        # Machine details are not settings: a resume may move to another machine.
        assert "device" not in made and "max_concurrency" not in made


@pytest.mark.parametrize(
    ("changed", "field"),
    [
        (["--temperature", "1.3"], "temperature"),
        (["--seed", "4"], "seed"),
        (["--top-p", "0.5"], "top_p"),
        (["--max-tokens", "9"], "max_tokens"),
        (["--n", "3"], "n"),
        # The hf backend seeds each chunk of batch_size sequences: another size, other text.
        (["--batch-size", "2"], "batch_size"),
        (["--prompt-format", "plain"], "prompt_format"),
        (["--dtype", "float32"], "dtype"),
    ],
)
def test_resume_with_other_settings_is_refused_naming_the_field(
    policy_dir: Path, problems_file: Path, tmp_path: Path, changed: list[str], field: str
) -> None:
    partial = tmp_path / "partial.jsonl"
    assert run_generate(policy_dir, problems_file, partial).exit_code == 0
    lines = partial.read_bytes().splitlines(keepends=True)
    partial.write_bytes(b"".join(lines[:3]))  # a killed run
    before = partial.read_bytes()

    result = run_generate(policy_dir, problems_file, partial, "--resume", *changed)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert f"cannot resume: generate setting '{field}'" in result.stderr
    assert partial.read_bytes() == before  # nothing appended


def test_resume_with_another_policy_is_refused_before_it_loads(
    policy_dir: Path, problems_file: Path, tmp_path: Path
) -> None:
    partial = tmp_path / "partial.jsonl"
    assert run_generate(policy_dir, problems_file, partial, "--limit", "1").exit_code == 0
    before = partial.read_bytes()
    # No model at this path: the refusal names the setting, not the missing directory.
    result = run_generate(tmp_path / "elsewhere", problems_file, partial, "--resume")
    assert result.exit_code == 2
    assert "generate setting 'policy'" in result.stderr
    assert partial.read_bytes() == before


def test_device_option_reaches_the_hf_backend(
    policy_dir: Path, problems_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "s.jsonl"
    result = run_generate(policy_dir, problems_file, out, "--device", "cpu", "--limit", "1")
    assert result.exit_code == 0, result.output
    assert {s.meta["backend_settings"]["device"] for s in read_all(out, Solution)} == {"cpu"}
