"""``ReactPolicy``: a scripted policy that writes code steps, run through the wrapper.

The scripted policy solves synthetic problems in the code-step format (leftmost operation
first) but *hallucinates* every output block it writes itself (the value of the whole
expression plus 100) and then gives up with ``= 999``; after a real observation it writes the
right rewrite only if the observation holds the true value. So a correct solution proves the
wrapper cut the policy at its output fence, ran the code, and fed the real output back.
"""

from __future__ import annotations

import re

import pytest

from mathverify.backends import Completion, next_steps
from mathverify.backends.code_runner import ReactConfig, ReactPolicy, wrap_policy
from mathverify.code_steps import OUTPUT_FENCE
from mathverify.data.synthetic import (
    check_steps,
    evaluate,
    gold_steps,
    parse_expression,
    problem_expression,
)
from mathverify.errors import MathverifyError
from mathverify.prompting import PromptFormat
from mathverify.sandbox import SandboxConfig
from mathverify.steps import extract_answer, split_steps

FORMAT = PromptFormat(template="{problem}\n")
SEP = FORMAT.separator
WRONG = 999  # the scripted policy's answer when it gives up; no problem's value
_OUTPUT_AT_END = re.compile(r"```output\n(?P<body>[^`]*?)\n```\s*$")


def current_expression(prompt: str):
    """The expression the solution has reached: the last ``= EXPR`` line, else the problem's."""
    problem, _, rest = prompt.partition("\n")
    lines = [line[2:] for line in rest.split("\n") if line.startswith("= ")]
    return parse_expression(lines[-1]) if lines else problem_expression(problem)


def cut(text: str, stop: list[str] | None) -> tuple[str, str]:
    """``text`` cut at the first stop string, and the finish reason."""
    hits = [(text.find(s), s) for s in stop or () if s in text]
    if not hits:
        return text, "eos"
    return text[: min(hits)[0]], "stop"


def attempt(expr) -> str:
    """The rest of a solution from ``expr`` by a policy that trusts its own (wrong) output."""
    if expr.op is None:
        return f"\\boxed{{{expr.value}}}"
    code = gold_steps(expr, order="left", code_steps=True)[0].split("```output")[0]
    return f"{code}```output\n{evaluate(expr) + 100}\n```\n= {WRONG}{SEP}\\boxed{{{WRONG}}}"


class CodeStepPolicy:
    """Writes code steps for synthetic problems from where the prompt is (see module doc)."""

    name = "code-steps"

    def __init__(self, code: str | None = None) -> None:
        self.code = code  # if set: every step runs this code and writes "= 0"
        self.calls: list[tuple[int, int, int, tuple[str, ...]]] = []

    def continuation(self, prompt: str) -> str:
        observed = _OUTPUT_AT_END.search(prompt)
        if self.code is not None:
            if observed:
                return f"\n= 0{SEP}\\boxed{{0}}"
            return f"```python\n{self.code}\n```\n```output\n?\n```\n= 0{SEP}\\boxed{{0}}"
        expr = current_expression(prompt)
        if not observed:
            return attempt(expr)
        first = gold_steps(expr, order="left", code_steps=True)[0]
        expected = re.search(r"```output\n(\d+)\n```", first).group(1)
        if observed["body"] != expected:
            return f"\n= {WRONG}{SEP}\\boxed{{{WRONG}}}"
        rewrite = first.rsplit("```", 1)[1]
        return f"{rewrite}{SEP}{attempt(parse_expression(rewrite.strip()[2:]))}"

    def complete(
        self, prompts, *, n=1, temperature=0.0, top_p=1.0, max_tokens=256, stop=None, seed=0
    ):
        self.calls.append((len(prompts), n, max_tokens, tuple(stop or ())))
        out = []
        for prompt in prompts:
            text, finish = cut(self.continuation(prompt), stop)
            tokens = len(text) + (1 if finish != "length" else 0)
            if tokens > max_tokens:
                text, finish, tokens = text[:max_tokens], "length", max_tokens
            out.append([Completion(text, tokens, finish, -0.1 * tokens) for _ in range(n)])
        return out


@pytest.fixture(scope="module")
def react_config() -> ReactConfig:
    return ReactConfig(sandbox=SandboxConfig(timeout=2.0), workers=1)


def test_whole_solutions_run_the_code_and_read_the_real_output(react_config):
    inner = CodeStepPolicy()
    policy = ReactPolicy(inner, separator=SEP, config=react_config)
    problems = ["Compute (1+2)*6+(4+6).", "Compute 8*(6-3)+5."]
    out = policy.complete([FORMAT.prompt(p) for p in problems], n=2, max_tokens=400)
    for problem, completions in zip(problems, out, strict=True):
        assert len(completions) == 2
        completion = completions[0]
        steps = split_steps(completion.text, SEP)
        check = check_steps(problem, steps)
        assert check.labels == [1] * len(steps) and check.final_correct, completion.text
        outputs = [int(v) for v in re.findall(r"```output\n(\d+)\n```", completion.text)]
        assert outputs and max(outputs) < 100  # none of the hallucinated (value + 100) ones
        assert completion.finish_reason == "eos"
        assert extract_answer(completion.text) == str(eval(problem[8:-1]))
        # Observations are not generated: the tokens are the policy's text without them.
        observations = re.findall(r"```output\n.*?\n```", completion.text)
        assert len(observations) == len(steps) - 1
        assert completion.n_tokens < len(completion.text)
    assert policy.stats.runs == 2 * 2 * 4 - 2  # 4 + 3 operations, two samples each
    assert policy.stats.statuses == {"ok": 14}
    # The first call asks for n samples; continuations are single rows with the output fence.
    assert inner.calls[0][:2] == (2, 2)
    assert all(call[1] == 1 and OUTPUT_FENCE in call[3] for call in inner.calls[1:])


def test_without_the_wrapper_the_hallucinated_output_misleads():
    text = CodeStepPolicy().complete([FORMAT.prompt("Compute 2*3+1.")])[0][0].text
    assert "```output\n107\n```" in text and extract_answer(text) == str(WRONG)


def test_step_wise_search_gets_one_code_step_per_call(react_config):
    policy = ReactPolicy(CodeStepPolicy(), separator=SEP, config=react_config)
    problem = "Compute 2*3+4*5."
    steps: list[str] = []
    for _ in range(6):
        (proposal,) = next_steps(policy, [FORMAT.prefix(problem, steps)], separator=SEP)[0:1]
        step = proposal[0]
        steps.append(step.step)
        if step.finished:
            break
    assert steps[0] == "```python\nprint(2*3)\n```\n```output\n6\n```\n= 6+4*5"
    assert steps[-1] == "\\boxed{26}"
    check = check_steps(problem, steps)
    assert check.labels == [1] * 4 and check.final_correct


def test_later_steps_see_earlier_variables(react_config):
    policy = ReactPolicy(CodeStepPolicy(code="print(x * 2)"), separator=SEP, config=react_config)
    earlier = "```python\nx = 21\n```\n```output\n\n```\n= 0"
    prefix = FORMAT.prefix("Compute 1+1.", [earlier])
    step = next_steps(policy, [prefix], separator=SEP)[0][0]
    assert "```output\n42\n```" in step.step


@pytest.mark.parametrize(
    ("code", "status", "shown"),
    [
        ("while True:\n    pass", "timeout", "TimeoutError: "),
        ("import socket\nsocket.socket()", "refused", "SandboxRefused: "),
        ("open('/etc/passwd').read()", "refused", "SandboxRefused: "),
        ("x = bytearray(10**10)", "memory", "MemoryError"),
        ("while True:\n    print('x' * 1000)", "output_truncated", "(output truncated)"),
        ("1/0", "error", "ZeroDivisionError"),
        ("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)", "refused", "refused"),
    ],
)
def test_sandbox_failures_are_written_into_the_step(code, status, shown):
    config = ReactConfig(sandbox=SandboxConfig(timeout=1.0), workers=1)
    policy = ReactPolicy(CodeStepPolicy(code=code), separator=SEP, config=config)
    step = next_steps(policy, [FORMAT.prompt("Compute 1+1.")], separator=SEP)[0][0]
    observation = re.search(r"```output\n(.*?)\n```", step.step, re.DOTALL).group(1)
    assert shown in observation
    assert policy.stats.statuses == {status: 1}
    assert step.step.endswith("= 0") and not step.finished


def test_max_code_runs_is_recorded_in_the_text():
    class Looper(CodeStepPolicy):
        def continuation(self, prompt: str) -> str:
            return "```python\nprint(1)\n```\n```output\n1\n```\n"

    config = ReactConfig(sandbox=SandboxConfig(timeout=2.0), max_runs=2, workers=1)
    policy = ReactPolicy(Looper(), separator=SEP, config=config)
    completion = policy.complete([FORMAT.prompt("Compute 1+1.")], max_tokens=500)[0][0]
    assert completion.text.count("```output\n1\n```") == 2
    assert completion.text.endswith("not run: more than 2 code blocks in one completion\n```")
    assert completion.finish_reason == "length"
    assert policy.stats.runs == 2 and policy.stats.not_run == 1


def test_the_token_budget_holds_across_continuations(react_config):
    policy = ReactPolicy(CodeStepPolicy(), separator=SEP, config=react_config)
    for max_tokens in (20, 40, 70, 100):
        completion = policy.complete(
            [FORMAT.prompt("Compute (1+2)*6+(4+6).")], max_tokens=max_tokens
        )
        assert completion[0][0].n_tokens <= max_tokens
        assert completion[0][0].finish_reason == "length"


def test_a_blank_line_in_code_does_not_end_the_step(react_config):
    class BlankLine(CodeStepPolicy):
        def continuation(self, prompt: str) -> str:
            if _OUTPUT_AT_END.search(prompt):
                return "\n= 2"
            if prompt.endswith("x = 1\n"):
                return "print(x + 1)\n```\n```output\n?\n```\n= 2"
            return f"```python\nx = 1{SEP}print(x + 1)\n```\n```output\n?\n```\n= 2"

    policy = ReactPolicy(BlankLine(), separator=SEP, config=react_config)
    step = next_steps(policy, [FORMAT.prompt("Compute 1+1.")], separator=SEP)[0][0]
    assert step.step == "```python\nx = 1\nprint(x + 1)\n```\n```output\n2\n```\n= 2"
    # In a whole solution the blank line is folded too, so splitting keeps the step whole.
    whole = policy.complete([FORMAT.prompt("Compute 1+1.")])[0][0].text
    assert split_steps(whole, SEP)[0].startswith("```python\nx = 1\nprint(x + 1)\n```")


def test_an_observation_never_holds_the_separator(react_config):
    policy = ReactPolicy(
        CodeStepPolicy(code="print('a\\n\\n\\nb')"), separator=SEP, config=react_config
    )
    step = next_steps(policy, [FORMAT.prompt("Compute 1+1.")], separator=SEP)[0][0]
    assert "```output\na\nb\n```" in step.step


def test_same_call_same_completions(react_config):
    policy = ReactPolicy(CodeStepPolicy(), separator=SEP, config=react_config)
    prompts = [FORMAT.prompt("Compute 3*4-5.")]
    assert policy.complete(prompts, n=3, seed=7) == policy.complete(prompts, n=3, seed=7)


def test_plain_format_leaves_the_policy_alone_and_bad_settings_fail():
    inner = CodeStepPolicy()
    assert wrap_policy(inner, "plain", separator=SEP) is inner
    assert isinstance(wrap_policy(inner, "react", separator=SEP), ReactPolicy)
    with pytest.raises(MathverifyError, match="step-format"):
        wrap_policy(inner, "mario", separator=SEP)
    with pytest.raises(MathverifyError, match="separator"):
        ReactPolicy(inner, separator="\n")
    with pytest.raises(MathverifyError, match="max_runs"):
        ReactConfig(max_runs=0)


@pytest.mark.parametrize(
    ("text", "open_at", "last_at"),
    [
        ("no code", None, None),
        ("```python\nx = 1", 10, 10),
        ("```python\nx = 1\n```", None, 10),
        ("a\n```py\nx\n```\n```output\n1\n```\n```python\ny", 40, 40),
    ],
)
def test_open_and_last_code_block_starts(text, open_at, last_at):
    from mathverify.code_steps import last_code_start, open_code_start

    assert open_code_start(text) == open_at
    assert last_code_start(text) == last_at
