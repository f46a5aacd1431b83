"""vLLM for real: the offline engine and vLLM's OpenAI-compatible server against the HF backend.

Run with ``make test-vllm`` (it builds ``build/venv-vllm``, the separate environment the CPU
build of vLLM needs, and runs ``pytest -m vllm`` there). Every test here but the first
needs vLLM and is marked ``vllm``.

The policy is ``$MATHVERIFY_TEST_POLICY`` when set, else the demo's ``runs/demo/policy``
when it exists, else a random-init tiny Llama of the demo's shape (character tokenizer,
head size 32): training one here would take half an hour on a busy 2-core CPU. A random
model's greedy text never ends and never reaches a step separator, so the end-of-sequence
and separator paths are checked on sampled text, where they occur. Problems are 100
synthetic test problems. Greedy decoding in float32 must give the
same text under hf, vllm and openai (a vLLM server on the same directory, started on a
free port of 127.0.0.1 and stopped after) for at least 98 of them; sampling must give the
same accuracy within noise.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mathverify import backends
from mathverify.backends import load_policy, next_steps
from mathverify.cli import app
from mathverify.errors import MathverifyError
from mathverify.records import Problem, Solution, read_all

REPO = Path(__file__).resolve().parents[1]
DEMO_POLICY = REPO / "runs" / "demo" / "policy"
POLICY_ENV = "MATHVERIFY_TEST_POLICY"
N_PROBLEMS = 100
MAX_TOKENS = 160
SERVER_START_TIMEOUT = 900  # seconds; vLLM's startup on a busy 2-core CPU is slow
HAS_VLLM = importlib.util.find_spec("vllm") is not None

# The engine runs in this process (no spawned engine core), which starts faster on CPU and
# keeps the test free of `if __name__ == "__main__"` concerns.
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
# torch.compile and the warm-up it needs take minutes on this CPU and change no result.
ENGINE_OPTIONS: dict[str, Any] = {"enforce_eager": True, "max_model_len": 512}


@pytest.mark.skipif(HAS_VLLM, reason="vLLM is installed: the missing-vLLM message cannot show")
def test_missing_vllm_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(MathverifyError, match=r"pip install 'mathverify\[vllm\]'.*make test-vllm"):
        load_policy("vllm", str(tmp_path))


# ---------------------------------------------------------------------------------------
# Our decoding of completions (no vLLM needed): the text vLLM's detokenizer would give


def _output(token_ids: list[int], finish_reason: str, stop_reason: int | str | None) -> Any:
    from types import SimpleNamespace

    return SimpleNamespace(
        token_ids=token_ids, finish_reason=finish_reason, stop_reason=stop_reason
    )


@pytest.mark.parametrize(
    ("text", "finish_reason", "stop_reason", "append_eos", "expected"),
    [
        ("1+2=3", "length", None, False, "1+2=3"),
        ("1+2=3", "stop", None, True, "1+2=3"),  # end of sequence: left out of the text
        ("x\n\ny", "length", None, False, "x\n\ny"),  # the separator token decodes whole
        ("1+2", "stop", "\n\n", False, "1+2"),  # a stop string ends it: last token kept
    ],
)
def test_decode_completion_matches_plain_decode(
    text: str, finish_reason: str, stop_reason: str | None, append_eos: bool, expected: str
) -> None:
    from mathverify.backends.vllm import decode_completion
    from mathverify.models.tiny import build_tokenizer

    tokenizer = build_tokenizer()
    ids = tokenizer.encode(text, add_special_tokens=False)
    if append_eos:
        ids.append(tokenizer.eos_token_id)
    prompt = tokenizer.encode("Problem: 1+2\n", add_special_tokens=False)
    output = _output(ids, finish_reason, stop_reason)
    assert decode_completion(tokenizer._tokenizer, prompt, output) == expected


def test_decode_completion_keeps_the_leading_space_the_prompt_gives() -> None:
    """A SentencePiece-style decoder strips the first token's space when decoded alone;
    after the prompt (as vLLM decodes) the space stays."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    from mathverify.backends.vllm import decode_completion

    vocab = {"<unk>": 0, "\u2581hello": 1, "\u2581world": 2}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    assert tokenizer.decode([2]) == "world"
    assert decode_completion(tokenizer, [1], _output([2, 2], "length", None)) == " world world"


# ---------------------------------------------------------------------------------------
# Fixtures (module scope: an engine or a server takes minutes to start on CPU)


def _random_policy(directory: Path) -> Path:
    import torch
    from transformers import LlamaForCausalLM

    from mathverify.models.card import ModelCard
    from mathverify.models.tiny import build_tokenizer, tiny_llama_config

    torch.manual_seed(0)
    tokenizer = build_tokenizer()
    LlamaForCausalLM(tiny_llama_config(tokenizer)).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    ModelCard(kind="policy", base_model="random-init tiny").save(directory)
    return directory


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    if os.environ.get(POLICY_ENV):
        return os.environ[POLICY_ENV]
    if (DEMO_POLICY / "mathverify.json").exists():
        return str(DEMO_POLICY)
    return str(_random_policy(tmp_path_factory.mktemp("policy")))


@pytest.fixture(scope="module")
def problems_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mathverify.data.synthetic import SynthConfig, make_splits

    _, test = make_splits(SynthConfig(train_size=0, test_size=N_PROBLEMS, seed=11))
    path = tmp_path_factory.mktemp("problems") / "test.jsonl"
    path.write_text("".join(p.to_json() + "\n" for p in test), encoding="utf-8")
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def vllm_server(policy_dir: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """vLLM's OpenAI-compatible server on the policy, on a free local port; yields its URL."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    command = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        policy_dir,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--dtype",
        "float32",
        "--seed",
        "0",
        "--enforce-eager",
        "--no-enable-chunked-prefill",  # see mathverify.backends.vllm: seeded requests on CPU
        "--max-model-len",
        str(ENGINE_OPTIONS["max_model_len"]),
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-3000:]
                pytest.fail(f"vLLM server exited with {process.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(url + "/models", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vLLM server not up after {SERVER_START_TIMEOUT}s; log: {log_path}")
            time.sleep(2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def vllm_policy(policy_dir: str, vllm_server: str) -> Any:
    # Started after the server is up, so the two do not fight for the CPU while starting.
    return load_policy("vllm", policy_dir, dtype="float32", seed=0, **ENGINE_OPTIONS)


@pytest.fixture
def cached_vllm(vllm_policy: Any, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Make `generate --backend vllm` reuse the engine already started; returns its options."""
    calls: list[dict[str, Any]] = []

    def loader(path_or_name: str, **options: Any) -> Any:
        calls.append({"path": path_or_name, **options})
        return vllm_policy

    monkeypatch.setitem(backends.BACKENDS, "vllm", loader)
    return calls


def _generate(policy_dir: str, problems: Path, out: Path, backend: str, *extra: str) -> Path:
    result = CliRunner().invoke(
        app,
        [
            "generate",
            "--backend",
            backend,
            "--policy",
            policy_dir,
            "--problems",
            str(problems),
            "-o",
            str(out),
            # the server's dtype is its own (--dtype is refused with --backend openai)
            *(("--dtype", "float32") if backend != "openai" else ()),
            "--max-tokens",
            str(MAX_TOKENS),
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    return out


def _accuracy(rows: list[Solution], problems: dict[str, Problem]) -> float:
    return sum(r.answer == problems[r.problem_id].answer for r in rows) / len(rows)


# ---------------------------------------------------------------------------------------
# Parity


@pytest.mark.vllm
def test_greedy_parity_hf_vllm_openai(
    policy_dir: str,
    problems_file: Path,
    vllm_server: str,
    cached_vllm: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    greedy = ("--n", "1", "--temperature", "0")
    outputs = {
        "hf": _generate(policy_dir, problems_file, tmp_path / "hf.jsonl", "hf", *greedy),
        "vllm": _generate(policy_dir, problems_file, tmp_path / "vllm.jsonl", "vllm", *greedy),
        "openai": _generate(
            policy_dir,
            problems_file,
            tmp_path / "openai.jsonl",
            "openai",
            *greedy,
            "--base-url",
            vllm_server,
            "--model",
            policy_dir,
        ),
    }
    assert cached_vllm[0]["dtype"] == "float32"
    assert cached_vllm[0]["tensor_parallel_size"] == 1
    rows = {
        name: {r.problem_id: r for r in read_all(path, Solution)} for name, path in outputs.items()
    }
    assert all(len(by_id) == N_PROBLEMS for by_id in rows.values())
    for name, by_id in rows.items():
        assert {r.meta["backend"] for r in by_id.values()} == {name}

    same = [
        pid
        for pid, hf in rows["hf"].items()
        if hf.text == rows["vllm"][pid].text == rows["openai"][pid].text
    ]
    report = {"same_text": len(same), "of": N_PROBLEMS}
    print(json.dumps(report))
    assert len(same) >= 98, report
    for pid in same:
        hf, vllm, openai = (rows[name][pid] for name in ("hf", "vllm", "openai"))
        # Same tokens, same way of ending, same log-probability (float32, other kernels).
        assert hf.n_tokens == vllm.n_tokens == openai.n_tokens, pid
        assert (
            hf.meta["finish_reason"] == vllm.meta["finish_reason"] == openai.meta["finish_reason"]
        )
        assert vllm.meta["logprob"] == pytest.approx(hf.meta["logprob"], rel=1e-3, abs=1e-3)
        assert openai.meta["logprob"] == pytest.approx(hf.meta["logprob"], rel=1e-3, abs=1e-3)


def _two_proportion_z(p1: float, p2: float, n: int) -> float:
    pooled = (p1 + p2) / 2
    if pooled in (0.0, 1.0):
        return 0.0
    return abs(p1 - p2) / math.sqrt(2 * pooled * (1 - pooled) / n)


def _mean_z(a: list[int], b: list[int]) -> float:
    """Welch's z statistic for equal means of two samples."""
    spread = math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))
    return abs(statistics.mean(a) - statistics.mean(b)) / spread if spread else 0.0


@pytest.mark.vllm
def test_sampled_accuracy_parity_and_same_seed_samples(
    policy_dir: str,
    problems_file: Path,
    vllm_server: str,
    vllm_policy: Any,
    cached_vllm: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    n = 4
    # Small chunks (16 problems x 4 samples a call): the offline engine then runs batches
    # near the server's size, where per-request seeded samples do not depend on the batch.
    sampled = ("--n", str(n), "--temperature", "1.0", "--seed", "5", "--batch-size", "64")
    hf = read_all(
        _generate(policy_dir, problems_file, tmp_path / "hf.jsonl", "hf", *sampled), Solution
    )
    vllm = read_all(
        _generate(policy_dir, problems_file, tmp_path / "vllm.jsonl", "vllm", *sampled), Solution
    )
    openai = read_all(
        _generate(
            policy_dir,
            problems_file,
            tmp_path / "openai.jsonl",
            "openai",
            *sampled,
            "--base-url",
            vllm_server,
            "--model",
            policy_dir,
        ),
        Solution,
    )
    problems = {p.id: p for p in read_all(problems_file, Problem)}
    accuracy = {
        name: _accuracy(rows, problems)
        for name, rows in (("hf", hf), ("vllm", vllm), ("openai", openai))
    }
    count = N_PROBLEMS * n
    # Different random streams (torch vs vLLM's per-request generators): equal up to noise,
    # judged by a two-proportion z statistic (|z| < 3.5: a false alarm about 1 in 2000 runs).
    z_hf_vllm = _two_proportion_z(accuracy["hf"], accuracy["vllm"], count)
    z_hf_openai = _two_proportion_z(accuracy["hf"], accuracy["openai"], count)
    # The server and the offline engine derive the same per-request seeds.
    same = sum(a.text == b.text for a, b in zip(vllm, openai, strict=True))
    report = {**accuracy, "z_hf_vllm": z_hf_vllm, "vllm_openai_same_text": same, "of": count}
    assert len({r.text for r in vllm}) > N_PROBLEMS, "samples do not differ: not sampling"
    for a, b in zip(vllm, openai, strict=True):
        if a.text == b.text:
            assert (a.n_tokens, a.meta["finish_reason"]) == (b.n_tokens, b.meta["finish_reason"])
            assert a.meta["logprob"] == pytest.approx(b.meta["logprob"], rel=1e-3, abs=1e-3)
    # Mean length is another statistic the three must share up to noise (it is what
    # separates them when accuracy is near 0, as with a random model).
    z_length = _mean_z([r.n_tokens for r in hf], [r.n_tokens for r in vllm])
    report["z_length_hf_vllm"] = z_length
    print(json.dumps(report))
    assert z_length < 3.5, report
    # A trained policy may end every sample before the limit: the length path is checked
    # on a call too short to end any other way than by the limit or end of sequence.
    assert "eos" in {r.meta["finish_reason"] for r in vllm}, report
    prompts = [p.problem for p in read_all(problems_file, Problem)[:8]]
    short = [
        c for cs in vllm_policy.complete(prompts, n=2, temperature=1.0, max_tokens=3) for c in cs
    ]
    assert "length" in {c.finish_reason for c in short}
    assert all(c.n_tokens == 3 for c in short if c.finish_reason == "length")
    assert z_hf_vllm < 3.5 and z_hf_openai < 3.5, report
    assert same >= 0.95 * count, report


@pytest.mark.vllm
def test_step_wise_generation(
    policy_dir: str, problems_file: Path, vllm_server: str, vllm_policy: Any
) -> None:
    """next_steps over each backend: greedy steps equal to hf's; sampled steps equal on the
    offline engine and the server (same per-request seeds), stopping at the separator."""
    from mathverify.backends.openai import OpenAIPolicy
    from mathverify.generation import policy_prompt_format

    prompt_format = policy_prompt_format(policy_dir)
    problems = read_all(problems_file, Problem)[:30]
    hf = load_policy("hf", policy_dir, dtype="float32")
    openai = OpenAIPolicy(vllm_server, policy_dir)
    prefixes = [prompt_format.prompt(p.problem) for p in problems]
    separator = prompt_format.separator

    greedy = {
        name: next_steps(policy, prefixes, separator=separator, max_tokens=MAX_TOKENS)
        for name, policy in (("hf", hf), ("vllm", vllm_policy), ("openai", openai))
    }
    agree = 0
    for i in range(len(prefixes)):
        a, b, c = (greedy[name][i][0] for name in ("hf", "vllm", "openai"))
        if a.step == b.step == c.step:
            agree += 1
            assert a.finished == b.finished == c.finished
            assert a.n_tokens == b.n_tokens == c.n_tokens
    assert agree >= len(prefixes) - 1

    # Two rounds of sampled steps: the second continues each prefix after its first step.
    for round_index in range(2):
        sampled = {
            name: next_steps(
                policy,
                prefixes,
                separator=separator,
                n=4,
                temperature=1.0,
                max_tokens=MAX_TOKENS,
                seed=round_index,
            )
            for name, policy in (("vllm", vllm_policy), ("openai", openai))
        }
        pairs = [
            (a, b)
            for per_a, per_b in zip(sampled["vllm"], sampled["openai"], strict=True)
            for a, b in zip(per_a, per_b, strict=True)
        ]
        same = [(a, b) for a, b in pairs if a.step == b.step]
        assert len(same) >= 0.95 * len(pairs), (len(same), len(pairs))
        for a, b in same:
            assert (a.finished, a.n_tokens, a.finish_reason) == (
                b.finished,
                b.n_tokens,
                b.finish_reason,
            )
        stopped = [a for a, _ in pairs if a.finish_reason == "stop"]
        assert stopped, "no sampled step stopped at the separator"
        assert all(separator not in a.step for a, _ in pairs)
        prefixes = [
            prefix + per_prompt[0].step + separator
            for prefix, per_prompt in zip(prefixes, sampled["vllm"], strict=True)
        ]


@pytest.mark.vllm
def test_no_logprobs_same_samples_without_logprob(
    policy_dir: str,
    problems_file: Path,
    vllm_policy: Any,
    cached_vllm: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    """`generate --no-logprobs` reaches the engine, and asking for no log-probabilities
    changes nothing but the missing logprob: same seeded samples, same token counts."""
    from mathverify.backends.vllm import VLLMPolicy

    out = _generate(
        policy_dir, problems_file, tmp_path / "v.jsonl", "vllm", "--n", "1", "--no-logprobs"
    )
    assert cached_vllm[0]["logprobs"] is False
    assert len(read_all(out, Solution)) == N_PROBLEMS

    # The same engine, asked without log-probabilities (the cached loader above hands the
    # CLI the engine as it is, so the comparison is made here).
    bare = VLLMPolicy(vllm_policy.llm, name=vllm_policy.name, logprobs=False)
    assert bare.settings()["logprobs"] is False and vllm_policy.settings()["logprobs"] is True
    prompts = [p.problem for p in read_all(problems_file, Problem)[:20]]
    options = {"n": 2, "temperature": 1.0, "max_tokens": MAX_TOKENS, "seed": 9}
    with_logprobs = vllm_policy.complete(prompts, **options)
    without = bare.complete(prompts, **options)
    pairs = [
        (a, b)
        for per_a, per_b in zip(with_logprobs, without, strict=True)
        for a, b in zip(per_a, per_b, strict=True)
    ]
    assert all(a.logprob is not None and b.logprob is None for a, b in pairs)
    same = [(a, b) for a, b in pairs if a.text == b.text]
    assert len(same) >= 0.95 * len(pairs), (len(same), len(pairs))
    assert all((a.n_tokens, a.finish_reason) == (b.n_tokens, b.finish_reason) for a, b in same)
