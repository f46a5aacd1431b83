"""``ReactPolicy`` around the OpenAI-compatible backend, over HTTP to a fake server.

The fake server of ``test_backend_openai`` answers with the scripted code-step policy's
text (cut at the request's stop strings, one token per character), so the output fence
stop, the continuation requests and the token accounting go through the real client.
"""

from __future__ import annotations

import re

import pytest
import test_backend_openai
from test_backend_openai import MODEL, server  # noqa: F401 (a fixture)
from test_react_policy import FORMAT, SEP, CodeStepPolicy

from mathverify.backends import next_steps
from mathverify.backends.code_runner import ReactConfig, ReactPolicy
from mathverify.backends.openai import OpenAIPolicy
from mathverify.code_steps import OUTPUT_FENCE
from mathverify.data.synthetic import check_steps
from mathverify.sandbox import SandboxConfig
from mathverify.steps import split_steps


@pytest.fixture
def react_openai(server, monkeypatch):  # noqa: F811
    script = CodeStepPolicy()
    monkeypatch.setattr(
        test_backend_openai,
        "fake_solution",
        lambda prompt, seed, index, temperature: script.continuation(prompt),
    )
    inner = OpenAIPolicy(server.url, MODEL, backoff=0.01)
    config = ReactConfig(sandbox=SandboxConfig(timeout=2.0), workers=2)
    return ReactPolicy(inner, separator=SEP, config=config), server


def test_openai_backend_whole_solutions(react_openai):
    policy, fake = react_openai
    problems = ["Compute (1+2)*6+(4+6).", "Compute 9-2*3."]
    out = policy.complete([FORMAT.prompt(p) for p in problems], n=2, max_tokens=300)
    for problem, completions in zip(problems, out, strict=True):
        for completion in completions:
            steps = split_steps(completion.text, SEP)
            check = check_steps(problem, steps)
            assert check.final_correct and all(check.labels), completion.text
            # The server counts a token per generated character, the stop strings and the
            # end of sequence; the observations are not generated.
            observations = re.findall(r"```output\n.*?\n```", completion.text)
            generated = len(completion.text) - sum(len(o) for o in observations)
            stops = len(OUTPUT_FENCE) * len(observations)
            assert completion.n_tokens == generated + stops + 1
    assert all(OUTPUT_FENCE in request["stop"] for request in fake.requests)
    assert policy.stats.statuses == {"ok": 2 * (4 + 2)}


def test_openai_backend_step_wise(react_openai):
    policy, _ = react_openai
    problem = "Compute 2*3+4*5."
    steps = next_steps(policy, [FORMAT.prompt(problem)], separator=SEP, n=2)[0]
    assert [s.step for s in steps] == ["```python\nprint(2*3)\n```\n```output\n6\n```\n= 6+4*5"] * 2
    assert not any(s.finished for s in steps)
