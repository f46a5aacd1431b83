"""Code steps in the MARIO / AlphaMath format: finding code, formatting observations, running."""

from __future__ import annotations

import pytest

from mathverify.code_steps import (
    execute_step,
    find_code,
    history_code,
    observation_text,
    pending_code,
    program_with_history,
)
from mathverify.sandbox import Sandbox, SandboxConfig, SandboxResult

FENCE = "```"


def block(code: str, kind: str = "python") -> str:
    return f"{FENCE}{kind}\n{code}\n{FENCE}"


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox(SandboxConfig(timeout=2))


@pytest.mark.parametrize(
    ("step", "code"),
    [
        ("No code here, just a thought.", None),
        (f"Compute it.\n{block('print(1 + 1)')}", "print(1 + 1)"),
        (f"{block('a = 1')}\nthen\n{block('b = 2')}", "b = 2"),  # the last block
        (f"Action Input: {FENCE}python\nprint(2)\n{FENCE}", "print(2)"),  # ReAct style
        (f"{FENCE}py\nprint(3)\n{FENCE}", "print(3)"),
        (f"{FENCE}Python3\nprint(4)\n{FENCE}", "print(4)"),
        (f"{FENCE}python\nprint(5){FENCE}", "print(5)"),  # closing fence on the code line
        (
            f"{FENCE}python\n\nfor i in range(2):\n    print(i)\n\n{FENCE}",
            "for i in range(2):\n    print(i)",
        ),
        (f"{FENCE}python\nprint(6)\n", None),  # unclosed: the model stopped mid-block
        (f"{FENCE}python\n   \n{FENCE}", None),  # empty block
        (block("print(7)", kind=""), None),  # an untagged fence is not python
        (block("x = 1", kind="output"), None),
        (f"{block('print(8)')}\n{block('8', kind='output')}", "print(8)"),
    ],
)
def test_find_code(step: str, code: str | None) -> None:
    assert find_code(step) == code


@pytest.mark.parametrize(
    ("step", "code"),
    [
        (f"{block('print(8)')}\n{block('8', kind='output')}", None),  # already observed
        (f"{block('print(8)')}\n{block('8', kind='output')}\n{block('print(9)')}", "print(9)"),
        (f"{block('print(8)')}", "print(8)"),
        ("just text", None),
    ],
)
def test_pending_code(step: str, code: str | None) -> None:
    assert pending_code(step) == code


def result(
    status: str = "ok", stdout: str = "", message: str = "exit code 0", **extra
) -> SandboxResult:
    return SandboxResult(
        status=status,  # type: ignore[arg-type]
        stdout=stdout,
        stderr="",
        returncode=0,
        seconds=0.01,
        message=message,
        **extra,
    )


@pytest.mark.parametrize(
    ("sandbox_result", "text"),
    [
        (result(stdout="45\n"), "```output\n45\n```"),
        (result(stdout="a\nb\n\n"), "```output\na\nb\n```"),
        (result(stdout=""), "```output\n\n```"),
        (
            result("error", "partial\n", "ZeroDivisionError: division by zero"),
            "```output\npartial\nZeroDivisionError: division by zero\n```",
        ),
        (
            result("timeout", "", "timed out after 5 s (wall clock); process killed"),
            "```output\nTimeoutError: timed out after 5 s (wall clock); process killed\n```",
        ),
        (
            result("refused", "", "sandbox.SandboxRefused: sandbox refused network access"),
            "```output\nsandbox.SandboxRefused: sandbox refused network access\n```",
        ),
        (
            result(
                "output_truncated",
                "xxxx",
                "output passed 4 bytes; process killed",
                stdout_truncated=True,
            ),
            "```output\nxxxx\n... (output truncated)\noutput passed 4 bytes; process killed\n```",
        ),
        (result(stdout="0123456789" * 3), "```output\n01234\n...\n56789\n```"),
    ],
)
def test_observation_text(sandbox_result: SandboxResult, text: str) -> None:
    limit = 10 if len(sandbox_result.stdout) == 30 else 1000
    assert observation_text(sandbox_result, max_chars=limit) == text


@pytest.mark.parametrize(
    ("steps", "history"),
    [
        ([], []),
        (["thought only"], []),
        ([f"{block('x = 1')}\n{block('', kind='output')}"], ["x = 1"]),
        ([block("never ran")], []),  # no output block: it was not executed
        (
            [f"{block('while True: pass')}\n{block('TimeoutError: timed out', kind='output')}"],
            [],
        ),
        (
            [
                f"{block('a = 1')}\n{block('', kind='output')}",
                f"{block('b = a + 1')}\n{block('NameError: x', kind='output')}",
            ],
            ["a = 1", "b = a + 1"],  # failed blocks are replayed too, like AlphaMath
        ),
    ],
)
def test_history_code(steps: list[str], history: list[str]) -> None:
    assert history_code(steps) == history


def test_program_without_history_is_the_code() -> None:
    assert program_with_history("print(1)") == "print(1)"


def test_execute_step_appends_the_observation(sandbox: Sandbox) -> None:
    step = f"Let me add.\n{block('print(sum(range(10)))')}\n"
    new_step, run = execute_step(step, sandbox)
    assert run is not None and run.status == "ok"
    assert (
        new_step == f"Let me add.\n{block('print(sum(range(10)))')}\n{block('45', kind='output')}"
    )


@pytest.mark.parametrize(
    "step",
    [
        "A thought with no code.",
        f"{block('print(1)')}\n{block('1', kind='output')}",
    ],
)
def test_execute_step_leaves_steps_without_pending_code(sandbox: Sandbox, step: str) -> None:
    assert execute_step(step, sandbox) == (step, None)


def test_execute_step_reports_errors_as_observations(sandbox: Sandbox) -> None:
    new_step, run = execute_step(block("print('before')\n1 / 0"), sandbox)
    assert run is not None and run.status == "error"
    assert new_step.endswith(block("before\nZeroDivisionError: division by zero", kind="output"))


def test_later_steps_see_earlier_variables_without_their_output(sandbox: Sandbox) -> None:
    set_x = block('x = 3\nprint("x is set")')
    first, _ = execute_step(f"Set x.\n{set_x}", sandbox)
    failed, _ = execute_step(block("y = undefined_name"), sandbox)
    timed_out, _ = execute_step(block("x = 100\nwhile True:\n    pass"), sandbox)
    assert timed_out.endswith(FENCE) and "TimeoutError" in timed_out

    step = f"Square it.\n{block('print(x ** 2)')}"
    new_step, run = execute_step(step, sandbox, previous_steps=[first, failed, timed_out])
    assert run is not None and run.status == "ok", run.stderr
    assert run.stdout == "9\n"  # no replayed "x is set", and the timed-out x = 100 not replayed
    assert new_step.endswith(block("9", kind="output"))

    alone, run_alone = execute_step(step, sandbox)
    assert run_alone is not None and run_alone.status == "error"
    assert "NameError: name 'x' is not defined" in alone
