"""The OpenAI-compatible backend against a small fake server on 127.0.0.1.

The fake speaks the ``/v1/completions`` protocol the way vLLM does (``stop_reason``,
``logprobs`` with one entry per generated token, aggregate ``usage``) and can be told to
answer with errors, drop connections, or die after a number of requests, so the retry,
error and ``--resume`` paths run for real over HTTP. ``FakeServer.answer`` makes it answer
each prompt with a given text (test_math500_pipeline.py serves reference solutions).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mathverify.backends import load_policy, next_steps
from mathverify.backends.openai import (
    OpenAIPolicy,
    map_finish_reason,
    normalize_base_url,
    parse_choices,
)
from mathverify.backends.seeding import request_seed
from mathverify.cli import app
from mathverify.errors import MathverifyError
from mathverify.records import Problem, Solution, read_all

MODEL = "fake-policy"
SEP = "\n\n"


def fake_solution(prompt: str, seed: int | None, index: int, temperature: float) -> str:
    """A deterministic three-step "solution" that depends on the prompt and, when sampling, the seed."""
    key = f"{prompt}|{seed if temperature > 0 else 'greedy'}|{index if temperature > 0 else 0}"
    digest = int(hashlib.sha256(key.encode()).hexdigest(), 16)
    return f"look {digest % 97}{SEP}think {digest % 89}{SEP}\\boxed{{{digest % 7}}}"


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), FakeHandler)
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.fail_statuses: list[int] = []  # answer the next requests with these statuses
        self.die_after: int | None = None  # serve this many completions, then die
        self.with_logprobs = True
        # Completion text for a prompt (the sampling options ignored); None: fake_solution.
        self.answer: Callable[[str], str] | None = None
        self.delay = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self.dead = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def die(self) -> None:
        """Stop listening, as a killed server would: later connections are refused."""
        if not self.dead:
            self.dead = True
            threading.Thread(target=self._stop, daemon=True).start()

    def _stop(self) -> None:
        self.shutdown()
        self.server_close()


class FakeHandler(BaseHTTPRequestHandler):
    server: FakeServer

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": MODEL, "object": "model"}]})
        else:
            self._send(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        server = self.server
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with server.lock:
            server.requests.append(payload)
            served = len(server.requests)
            status = server.fail_statuses.pop(0) if server.fail_statuses else None
            dying = server.die_after is not None and served > server.die_after
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
        try:
            if dying:
                server.die()
                self.close_connection = True
                return  # no answer at all: the client sees the connection close
            if server.delay:
                time.sleep(server.delay)
            if status is not None:
                answer = status, {"error": {"message": f"injected {status}"}}
            elif payload.get("model") != MODEL:
                message = f"The model `{payload.get('model')}` does not exist."
                answer = 404, {"error": {"message": message, "code": 404}}
            elif not isinstance(payload.get("prompt"), str):
                answer = 400, {"error": {"message": "prompt must be a string"}}
            else:
                answer = 200, self._complete(payload)
        finally:
            # Out of flight before the answer leaves: once the client has it, it may send
            # its next request, which must not find this one still counted.
            with server.lock:
                server.in_flight -= 1
        self._send(*answer)

    def _complete(self, payload: dict[str, Any]) -> dict[str, Any]:
        stops = payload.get("stop") or []
        choices = []
        total = 0
        for index in range(payload.get("n", 1)):
            if self.server.answer is not None:
                text = self.server.answer(payload["prompt"])
            else:
                text = fake_solution(
                    payload["prompt"], payload.get("seed"), index, payload.get("temperature", 1.0)
                )
            # One token per character; the stop string's characters and the eos token count.
            tokens = list(text) + ["<eos>"]
            finish, stop_reason = "stop", None
            cuts = [(text.find(s), s) for s in stops if s in text]
            if cuts:
                at, stop_string = min(cuts)
                tokens = list(text[: at + len(stop_string)])
                text, stop_reason = text[:at], stop_string
            if len(tokens) > payload["max_tokens"]:
                tokens = tokens[: payload["max_tokens"]]
                text, finish, stop_reason = "".join(tokens).replace("<eos>", ""), "length", None
            total += len(tokens)
            choice: dict[str, Any] = {
                "index": index,
                "text": text,
                "finish_reason": finish,
                "stop_reason": stop_reason,
                "logprobs": None,
            }
            if self.server.with_logprobs and payload.get("logprobs") is not None:
                choice["logprobs"] = {"tokens": tokens, "token_logprobs": [-0.5] * len(tokens)}
            choices.append(choice)
        return {
            "id": "cmpl-1",
            "object": "text_completion",
            "model": MODEL,
            "choices": choices,
            "usage": {"prompt_tokens": 1, "completion_tokens": total, "total_tokens": total + 1},
        }


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer()
    thread = threading.Thread(target=fake.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield fake
    if not fake.dead:
        fake.shutdown()
        fake.server_close()


def policy_for(server: FakeServer, **options: Any) -> OpenAIPolicy:
    options.setdefault("backoff", 0.01)
    return OpenAIPolicy(server.url, MODEL, **options)


# ---------------------------------------------------------------------------------------
# Protocol


def test_complete_sends_sampling_options_and_parses_choices(server: FakeServer) -> None:
    policy = policy_for(server)
    prompts = ["Problem: 1+1\n", "Problem: 2+2\n"]
    out = policy.complete(prompts, n=3, temperature=0.7, top_p=0.9, max_tokens=50, seed=5)

    assert [len(per_prompt) for per_prompt in out] == [3, 3]
    by_prompt = {r["prompt"]: r for r in server.requests}
    for index, prompt in enumerate(prompts):
        request = by_prompt[prompt]
        assert request["model"] == MODEL
        assert request["n"] == 3
        assert request["temperature"] == 0.7
        assert request["top_p"] == 0.9
        assert request["max_tokens"] == 50
        assert request["seed"] == request_seed(5, index)
        assert request["logprobs"] == 0
        assert "stop" not in request
        for sample, completion in enumerate(out[index]):
            text = fake_solution(prompt, request_seed(5, index), sample, 0.7)
            assert completion.text == text
            assert completion.finish_reason == "eos"
            assert completion.n_tokens == len(text) + 1  # the eos token counts
            assert completion.logprob == pytest.approx(-0.5 * (len(text) + 1))


def test_greedy_asks_once_and_repeats(server: FakeServer) -> None:
    out = policy_for(server).complete(["p"], n=4, temperature=0.0, max_tokens=50)
    assert server.requests[0]["n"] == 1
    assert len(out[0]) == 4 and len({c.text for c in out[0]}) == 1


def test_stop_and_length(server: FakeServer) -> None:
    policy = policy_for(server)
    [[stopped]] = policy.complete(["q"], temperature=0, max_tokens=50, stop=[SEP])
    full = fake_solution("q", None, 0, 0)
    assert server.requests[0]["stop"] == [SEP]
    assert stopped.text == full.split(SEP)[0]
    assert stopped.finish_reason == "stop"
    assert stopped.n_tokens == len(stopped.text) + len(SEP)
    [[cut]] = policy.complete(["q"], temperature=0, max_tokens=3)
    assert (cut.text, cut.n_tokens, cut.finish_reason) == (full[:3], 3, "length")


def test_same_seed_same_samples_other_seed_other_samples(server: FakeServer) -> None:
    policy = policy_for(server)
    first = policy.complete(["p", "q"], n=2, temperature=1.0, max_tokens=60, seed=1)
    again = policy.complete(["p", "q"], n=2, temperature=1.0, max_tokens=60, seed=1)
    other = policy.complete(["p", "q"], n=2, temperature=1.0, max_tokens=60, seed=2)
    assert first == again
    assert first != other


def test_next_steps_stops_at_the_separator(server: FakeServer) -> None:
    policy = policy_for(server)
    prompt = "Problem: x\n"
    full = fake_solution(prompt, None, 0, 0)
    steps = full.split(SEP)
    # The fake continues any prefix with the same solution; feed it prefixes that are
    # distinct prompts and check the step boundary and the finished flag.
    [[first]] = next_steps(policy, [prompt], separator=SEP, max_tokens=100)
    assert (first.step, first.finished, first.finish_reason) == (steps[0], False, "stop")
    [[last]] = next_steps(
        policy, [prompt], separator="<never>", max_tokens=100
    )  # no separator in the text: the model ends the solution
    assert (last.step, last.finished, last.finish_reason) == (full, True, "eos")


def test_aggregate_usage_without_logprobs_is_split_evenly(server: FakeServer) -> None:
    server.with_logprobs = False
    out = policy_for(server).complete(["p"], n=3, temperature=1.0, max_tokens=60, seed=0)
    total = sum(len(fake_solution("p", request_seed(0, 0), i, 1.0)) + 1 for i in range(3))
    counts = [c.n_tokens for c in out[0]]
    assert sum(counts) == total
    assert max(counts) - min(counts) <= 1
    assert all(c.logprob is None for c in out[0])


def test_concurrency_is_bounded(server: FakeServer) -> None:
    server.delay = 0.05
    policy = policy_for(server, max_concurrency=3)
    out = policy.complete([f"p{i}" for i in range(12)], temperature=0, max_tokens=60)
    assert [c[0].text for c in out] == [fake_solution(f"p{i}", None, 0, 0) for i in range(12)]
    assert 2 <= server.max_in_flight <= 3


@pytest.mark.parametrize(
    ("choice", "stops", "expected"),
    [
        ({"finish_reason": "length"}, [SEP], "length"),
        ({"finish_reason": "stop", "stop_reason": SEP}, [SEP], "stop"),
        ({"finish_reason": "stop", "stop_reason": None}, [SEP], "eos"),
        ({"finish_reason": "stop", "stop_reason": 151643}, [SEP], "eos"),  # extra eos id
        ({"finish_reason": "stop", "matched_stop": SEP}, [SEP], "stop"),  # SGLang
        ({"finish_reason": "stop", "matched_stop": 2}, [SEP], "eos"),
        ({"finish_reason": "eos_token"}, [SEP], "eos"),  # TGI
        ({"finish_reason": "stop_sequence"}, [SEP], "stop"),
        ({"finish_reason": "stop"}, [SEP], "stop"),  # server says nothing more
        ({"finish_reason": "stop"}, [], "eos"),
    ],
)
def test_finish_reason_mapping(choice: dict[str, Any], stops: list[str], expected: str) -> None:
    assert map_finish_reason(choice, stops) == expected


def test_unknown_finish_reason_is_an_error() -> None:
    with pytest.raises(MathverifyError, match="abort"):
        map_finish_reason({"finish_reason": "abort"}, [])


def test_wrong_number_of_choices_is_an_error() -> None:
    response = {"choices": [{"index": 0, "text": "a", "finish_reason": "length"}]}
    with pytest.raises(MathverifyError, match="1 choices, expected 2"):
        parse_choices(response, n=2, stops=[], url="u")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/v1"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000/v1"),
        ("http://127.0.0.1:8000/v1/", "http://127.0.0.1:8000/v1"),
        ("https://host/api/v1", "https://host/api/v1"),
    ],
)
def test_normalize_base_url(given: str, expected: str) -> None:
    assert normalize_base_url(given) == expected


def test_bad_base_url() -> None:
    with pytest.raises(MathverifyError, match="--base-url"):
        normalize_base_url("127.0.0.1:8000")


# ---------------------------------------------------------------------------------------
# Faults


def test_5xx_is_retried_then_succeeds(server: FakeServer) -> None:
    server.fail_statuses = [503, 500]
    out = policy_for(server, max_retries=2).complete(["p"], temperature=0, max_tokens=60)
    assert out[0][0].text == fake_solution("p", None, 0, 0)
    assert len(server.requests) == 3


def test_5xx_past_the_retries_fails_with_the_last_error(server: FakeServer) -> None:
    server.fail_statuses = [503] * 5
    with pytest.raises(MathverifyError, match=r"no answer after 3 tries \(HTTP 503 injected 503\)"):
        policy_for(server, max_retries=2).complete(["p"], temperature=0, max_tokens=60)
    assert len(server.requests) == 3


def test_4xx_is_not_retried(server: FakeServer) -> None:
    server.fail_statuses = [422]
    with pytest.raises(MathverifyError, match="HTTP 422: injected 422"):
        policy_for(server).complete(["p"], temperature=0, max_tokens=60)
    assert len(server.requests) == 1


def test_wrong_model_names_the_served_models(server: FakeServer) -> None:
    policy = OpenAIPolicy(server.url, "no-such-model", backoff=0.01)
    with pytest.raises(
        MathverifyError, match=r"'no-such-model' is not served.*serves: fake-policy"
    ):
        policy.complete(["p"], temperature=0, max_tokens=60)
    with pytest.raises(MathverifyError, match=r"'no-such-model' is not served"):
        OpenAIPolicy.connect("no-such-model", base_url=server.url)


def test_server_down_is_a_clear_error_after_retries(server: FakeServer) -> None:
    url = server.url
    server.die()
    time.sleep(0.2)
    policy = OpenAIPolicy(url, MODEL, max_retries=2, backoff=0.05)
    started = time.perf_counter()
    with pytest.raises(MathverifyError, match=r"no answer after 3 tries .*is the server running"):
        policy.complete(["p"], temperature=0, max_tokens=60)
    # Backoff 0.05 then 0.1: the retries wait, but not forever.
    assert 0.14 <= time.perf_counter() - started < 10


def test_dropped_connection_is_retried(server: FakeServer) -> None:
    # The first request gets no answer (the connection closes) and the server stops
    # listening: the retry is refused, and the error counts both tries.
    server.die_after = 0
    with pytest.raises(MathverifyError, match="no answer after 2 tries"):
        policy_for(server, max_retries=1).complete(["p"], temperature=0, max_tokens=60)


def test_load_policy_openai(server: FakeServer) -> None:
    policy = load_policy("openai", MODEL, base_url=server.url)
    assert isinstance(policy, OpenAIPolicy)
    assert policy.name == MODEL


# ---------------------------------------------------------------------------------------
# The generate command


def write_problems(path: Path, count: int) -> None:
    problems = [
        Problem(id=f"p{i:02d}", problem=f"Compute {i}+1.", answer="1") for i in range(count)
    ]
    path.write_text("".join(p.to_json() + "\n" for p in problems), encoding="utf-8")


def run_generate(problems: Path, output: Path, url: str, *extra: str) -> Any:
    return CliRunner().invoke(
        app,
        [
            "generate",
            "--backend",
            "openai",
            "--base-url",
            url,
            "--model",
            MODEL,
            "--policy",
            MODEL,
            "--problems",
            str(problems),
            "-o",
            str(output),
            "--n",
            "2",
            "--temperature",
            "0.8",
            "--max-tokens",
            "80",
            "--batch-size",
            "4",
            "--seed",
            "3",
            *extra,
        ],
    )


def test_generate_with_openai_backend(server: FakeServer, tmp_path: Path) -> None:
    problems = tmp_path / "problems.jsonl"
    write_problems(problems, 5)
    result = run_generate(problems, tmp_path / "out.jsonl", server.url)
    assert result.exit_code == 0, result.output
    rows = read_all(tmp_path / "out.jsonl", Solution)
    assert [r.key() for r in rows] == [f"p{i:02d}#{s}" for i in range(5) for s in range(2)]
    for row in rows:
        assert row.meta["backend"] == "openai"
        assert row.meta["finish_reason"] == "eos"
        assert len(row.steps) == 3 and row.answer is not None
        assert row.n_tokens == len(row.text) + 1
    assert {r["n"] for r in server.requests} == {2}
    assert {r["logprobs"] for r in server.requests} == {0}
    assert all(row.meta["logprob"] is not None for row in rows)
    settings = rows[0].meta["backend_settings"]
    assert settings["base_url"] == server.url and settings["model"] == MODEL
    assert settings["logprobs"] is True


def test_generate_no_logprobs_asks_for_none(server: FakeServer, tmp_path: Path) -> None:
    problems = tmp_path / "problems.jsonl"
    write_problems(problems, 3)
    result = run_generate(problems, tmp_path / "out.jsonl", server.url, "--no-logprobs")
    assert result.exit_code == 0, result.output
    rows = read_all(tmp_path / "out.jsonl", Solution)
    assert len(rows) == 6
    assert all("logprobs" not in r for r in server.requests)
    # Token counts then come from the response's usage (one total per request, split over
    # its samples); the solution's logprob is null.
    for problem_id in {r.problem_id for r in rows}:
        mine = [r for r in rows if r.problem_id == problem_id]
        assert sum(r.n_tokens for r in mine) == sum(len(r.text) + 1 for r in mine)
    for row in rows:
        assert row.meta["logprob"] is None
        assert row.meta["backend_settings"]["logprobs"] is False


def test_killed_server_then_resume_loses_and_doubles_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mathverify.backends.openai.DEFAULT_BACKOFF", 0.01)
    problems = tmp_path / "problems.jsonl"
    write_problems(problems, 10)

    def start(**settings: Any) -> FakeServer:
        fake = FakeServer()
        for name, value in settings.items():
            setattr(fake, name, value)
        threading.Thread(target=fake.serve_forever, args=(0.05,), daemon=True).start()
        return fake

    # Reference: one uninterrupted run.
    reference_server = start()
    try:
        assert run_generate(problems, tmp_path / "ref.jsonl", reference_server.url).exit_code == 0
    finally:
        reference_server.die()
    reference = (tmp_path / "ref.jsonl").read_text(encoding="utf-8")

    # 10 problems, 2 per chunk (batch 4 / n 2): the server dies during the third chunk.
    dying = start(die_after=5)
    out = tmp_path / "out.jsonl"
    result = run_generate(problems, out, dying.url)
    assert result.exit_code == 2
    assert "no answer after" in result.output and "is the server running" in result.output
    partial = read_all(out, Solution)
    assert 0 < len(partial) < 20

    revived = start()
    try:
        result = run_generate(problems, out, revived.url, "--resume")
        assert result.exit_code == 0, result.output
    finally:
        revived.die()
    rows = read_all(out, Solution)
    keys = [r.key() for r in rows]
    assert len(keys) == len(set(keys)) == 20

    # Same rows as the uninterrupted run (chunks and seeds do not depend on the crash), but
    # for the server each row names (each of the three listened on its own port).
    def lines(text: str) -> list[str]:
        for fake in (reference_server, dying, revived):
            text = text.replace(fake.url, "SERVER")
        return sorted(text.splitlines())

    assert lines(out.read_text(encoding="utf-8")) == lines(reference)
    # The resumed run asked only for what was missing (whole unfinished chunks).
    assert len(revived.requests) < 10
