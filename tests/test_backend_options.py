"""Backend-specific options given with another backend are errors, in every command.

A user passed ``--tensor-parallel-size 8 --base-url http://x`` with ``--backend hf`` and
both were dropped silently. :func:`mathverify.cli.policy_options.open_policy` (which
generate, label and search call) now refuses such an option, naming it and the backend,
before anything loads; the policy path below does not even exist.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.cli.policy_options import BACKEND_ONLY, check_backend_options
from mathverify.errors import MathverifyError
from mathverify.records import Problem, Solution, write_records

runner = CliRunner()

# A port nothing listens on: a command that got as far as connecting would fail otherwise.
NO_SERVER = ["--base-url", "http://127.0.0.1:9/v1"]

CASES = [
    # (backend, its own required options, the foreign option, its flag in the message)
    ("hf", [], ["--tensor-parallel-size", "8"], "--tensor-parallel-size applies to the vllm"),
    ("hf", [], ["--gpu-memory-utilization", "0.5"], "--gpu-memory-utilization applies to"),
    ("hf", [], ["--base-url", "http://x"], "--base-url applies to the openai backend"),
    ("hf", [], ["--model", "served-name"], "--model applies to the openai backend"),
    ("hf", [], ["--max-concurrency", "4"], "--max-concurrency applies to the openai"),
    ("hf", [], ["--no-logprobs"], "--no-logprobs applies to the vllm and openai backends"),
    ("vllm", [], ["--device", "cpu"], "--device applies to the hf backend"),
    ("vllm", [], ["--max-concurrency", "4"], "--max-concurrency applies to the openai"),
    ("vllm", [], ["--base-url", "http://x"], "--base-url applies to the openai backend"),
    ("openai", NO_SERVER, ["--dtype", "float32"], "--dtype applies to the hf and vllm"),
    ("openai", NO_SERVER, ["--device", "cpu"], "--device applies to the hf backend"),
    ("openai", NO_SERVER, ["--tensor-parallel-size", "2"], "--tensor-parallel-size applies"),
    ("openai", NO_SERVER, ["--gpu-memory-utilization", "0.5"], "--gpu-memory-utilization"),
]


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, Path]:
    problems, solutions = tmp_path / "problems.jsonl", tmp_path / "solutions.jsonl"
    write_records(problems, [Problem(id="p0", problem="1 + 1", answer="2")])
    write_records(solutions, [Solution(problem_id="p0", sample_id=0, steps=["\\boxed{2}"])])
    return {"problems": problems, "solutions": solutions, "out": tmp_path / "out.jsonl"}


def command_args(command: str, inputs: dict[str, Path]) -> list[str]:
    policy = ["--policy", str(inputs["problems"].parent / "no-such-policy")]
    problems, out = ["-p", str(inputs["problems"])], ["-o", str(inputs["out"])]
    if command == "generate":
        return ["generate", *policy, *problems, *out]
    if command == "label":
        return ["label", "-m", "rollout", *policy, *problems, "-i", str(inputs["solutions"]), *out]
    return ["search", "-m", "greedy", *policy, *problems, *out]


def applies(command: str, foreign: list[str]) -> bool:
    """--logprobs is generate's alone; search's --device also places its scorer."""
    return not (
        (command != "generate" and foreign[0] == "--no-logprobs")
        or (command == "search" and foreign[0] == "--device")
    )


@pytest.mark.parametrize(
    ("command", "backend", "required", "foreign", "message"),
    [
        (command, *case)
        for command in ("generate", "label", "search")
        for case in CASES
        if applies(command, case[2])
    ],
)
def test_an_option_of_another_backend_is_an_error_naming_both(
    inputs: dict[str, Path],
    command: str,
    backend: str,
    required: list[str],
    foreign: list[str],
    message: str,
) -> None:
    args = [*command_args(command, inputs), "--backend", backend, *required, *foreign]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr and f"not --backend {backend}" in result.stderr
    assert not inputs["out"].exists()


def test_the_users_command_names_a_dropped_option(inputs: dict[str, Path]) -> None:
    args = [*command_args("generate", inputs), "--backend", "hf"]
    result = runner.invoke(app, [*args, "--tensor-parallel-size", "8", "--base-url", "http://x"])
    assert result.exit_code == 2
    assert "--tensor-parallel-size" in result.stderr or "--base-url" in result.stderr
    assert "not --backend hf" in result.stderr


@pytest.mark.parametrize("backend", ["hf", "vllm", "openai"])
def test_defaults_and_unset_values_are_not_given(backend: str) -> None:
    check_backend_options(backend, **{name: opt.default for name, opt in BACKEND_ONLY.items()})
    check_backend_options(backend, **dict.fromkeys(BACKEND_ONLY))


def test_every_backend_reads_its_own_options() -> None:
    for name, option in BACKEND_ONLY.items():
        for backend in option.backends:
            value = "x" if option.default is None else not option.default
            check_backend_options(backend, **{name: value})


def test_an_unknown_backend_is_refused_before_its_options() -> None:
    with pytest.raises(MathverifyError, match="unknown backend 'nope'"):
        check_backend_options("nope", dtype="float32")
