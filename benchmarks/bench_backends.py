"""Benchmark: ``generate``'s throughput with the hf, vllm and openai backends, and vllm vs bare vLLM.

All in one run, on the same problems and sampling options, rounds alternating between the
sides so load on the shared machine hits them alike:

- **hf**, **vllm**, **openai**: :func:`mathverify.generation.write_solutions` (the path
  ``mathverify generate`` runs after loading the model, records written to ``os.devnull``)
  with each backend; ``openai`` talks to vLLM's OpenAI-compatible server
  (``python -m vllm.entrypoints.openai.api_server``) on the same model directory, started
  here on a free port of 127.0.0.1 and stopped after.
- **bare vllm**: one ``vllm.LLM.generate`` call over all prompts with one unseeded
  ``SamplingParams`` on the same engine as **vllm** (what a user of vLLM would write), no
  records. Its samples are independent draws, like ours, so both sides generate the same
  work up to noise: the baseline of the target.
- **vllm, no logprobs**: **vllm** on the same engine with ``logprobs=False``
  (``generate --no-logprobs``): the records then carry no log-probability and vLLM is asked
  for exactly what the bare call asks for.
- **bare vllm, same requests**: bare ``vllm.LLM.generate`` with the requests our backend
  makes, written as a vLLM user would: one ``SamplingParams`` per prompt with its own seed
  and ``logprobs=0`` (the chosen token's log-probability, for ``cumulative_logprob``). Its
  ratio to **vllm** is what our code adds for the same work.
- **bare vllm, one seed**: the same as **bare vllm** with ``seed=config.seed``. vLLM gives the ``n`` samples
  of every prompt the seeds ``seed .. seed+n-1``, so all prompts share ``n`` random streams
  and their lengths are correlated: a different workload (here more samples run to the
  token limit, so batches stay full longer and tokens per second are higher), shown for
  comparison only.

Throughput is generated tokens per second of the generation alone (engines and server
started before timing), by wall clock and by CPU time (this process, where the offline
engine runs, plus the server process and its children: the steadier measure on a loaded
machine). Ratios are medians over rounds of per-round ratios.
Targets: vllm / bare vllm >= 0.9 (also reported: vllm, no logprobs / bare vllm, and vllm /
bare vllm, same requests). Needs vLLM: run it in the vLLM environment,
``build/venv-vllm/bin/python benchmarks/bench_backends.py [--append-results]`` (build it
with ``scripts/setup_vllm_venv.sh``). The policy is ``--policy``, default ``runs/demo/policy``.
"""

from __future__ import annotations

import argparse
import datetime
import functools
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
DEMO_POLICY = ROOT / "runs" / "demo" / "policy"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(policy: str, log_path: Path, timeout: float) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        policy,
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
        "512",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(url + "/models", timeout=5):
                return process, url
        except OSError:
            time.sleep(2)
    process.terminate()
    raise SystemExit(f"server not up after {timeout}s; see {log_path}")


class Clock:
    """Wall seconds and CPU seconds (this process + the server's process tree) of a block."""

    def __init__(self, server_pid: int) -> None:
        import psutil

        self.server = psutil.Process(server_pid)

    def cpu(self) -> float:
        total = time.process_time()
        for process in [self.server, *self.server.children(recursive=True)]:
            times = process.cpu_times()
            total += times.user + times.system
        return total

    def measure(self, work: Any) -> tuple[int, float, float]:
        wall, cpu = time.perf_counter(), self.cpu()
        tokens = work()
        return tokens, time.perf_counter() - wall, self.cpu() - cpu


def generate_tokens(
    policy: Any, problems: list[Any], prompt_format: Any, config: Any, backend: str
) -> int:
    from mathverify.generation import write_solutions
    from mathverify.records import RecordWriter, Solution

    with RecordWriter(os.devnull, Solution) as writer:
        return write_solutions(
            policy, problems, writer, prompt_format=prompt_format, config=config, backend=backend
        )


def bare_tokens(
    llm: Any, prompts: list[str], config: Any, *, seeded: bool, same_requests: bool = False
) -> int:
    from vllm import SamplingParams

    from mathverify.backends.seeding import request_seed

    def params(seed: int | None, **options: Any) -> Any:
        return SamplingParams(
            n=config.n,
            temperature=config.temperature,
            top_p=config.top_p,
            max_tokens=config.max_tokens,
            seed=seed,
            **options,
        )

    if same_requests:
        requests = [params(request_seed(config.seed, i), logprobs=0) for i in range(len(prompts))]
    else:
        requests = params(config.seed if seeded else None)
    outputs = llm.generate(prompts, requests, use_tqdm=False)
    return sum(len(c.token_ids) for o in outputs for c in o.outputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--policy", default=str(DEMO_POLICY))
    parser.add_argument("--problems", type=int, default=100)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=256,
        help="generate's --batch-size: sequences per backend call (256, its default, splits "
        "100 problems x 4 samples into two calls)",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads for hf")
    parser.add_argument("--server-timeout", type=float, default=900)
    parser.add_argument("--append-results", action="store_true")
    args = parser.parse_args()
    if not (Path(args.policy) / "config.json").exists():
        raise SystemExit(f"{args.policy}: no model there; train one or pass --policy")

    load_before = os.getloadavg()[0]
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    import torch

    torch.set_num_threads(args.threads)
    from mathverify.backends import load_policy
    from mathverify.data.synthetic import SynthConfig, make_splits
    from mathverify.generation import GenerationConfig, policy_prompt_format

    _, problems = make_splits(SynthConfig(train_size=0, test_size=args.problems, seed=11))
    prompt_format = policy_prompt_format(args.policy)
    prompts = [prompt_format.prompt(p.problem) for p in problems]

    log_path = ROOT / "build" / "bench_backends_server.log"
    log_path.parent.mkdir(exist_ok=True)
    server, url = start_server(args.policy, log_path, args.server_timeout)
    try:
        policies = {
            "hf": load_policy("hf", args.policy, dtype="float32"),
            "vllm": load_policy(
                "vllm", args.policy, dtype="float32", enforce_eager=True, max_model_len=512
            ),
            "openai": load_policy("openai", args.policy, base_url=url),
        }
        from mathverify.backends.vllm import VLLMPolicy

        policies["vllm, no logprobs"] = VLLMPolicy(
            policies["vllm"].llm, name=args.policy, logprobs=False
        )
        clock = Clock(server.pid)
        sides = [*policies, "bare vllm", "bare vllm, same requests", "bare vllm, one seed"]
        rates: dict[str, list[float]] = {name: [] for name in sides}
        cpu_rates: dict[str, list[float]] = {name: [] for name in rates}
        token_counts: dict[str, list[int]] = {name: [] for name in rates}
        # Round -1 is a warm-up, not timed: a side's first call pays one-off costs (lazy
        # imports, first allocations) that would be charged to whichever side runs first.
        for round_index in range(-1, args.rounds):
            config = GenerationConfig(
                n=args.n,
                temperature=args.temperature,
                max_tokens=args.max_tokens,
                seed=round_index if round_index >= 0 else 1000,
                batch_size=args.batch_size,
            )
            work: dict[str, Any] = {
                name: functools.partial(
                    generate_tokens, policy, problems, prompt_format, config, name.split(",")[0]
                )
                for name, policy in policies.items()
            }
            work["bare vllm"] = functools.partial(
                bare_tokens, policies["vllm"].llm, prompts, config, seeded=False
            )
            work["bare vllm, same requests"] = functools.partial(
                bare_tokens, policies["vllm"].llm, prompts, config, seeded=True, same_requests=True
            )
            work["bare vllm, one seed"] = functools.partial(
                bare_tokens, policies["vllm"].llm, prompts, config, seeded=True
            )
            order = list(work.items())
            for name, job in order if round_index % 2 == 0 else reversed(order):
                if round_index < 0:
                    job()
                    continue
                tokens, seconds, cpu_seconds = clock.measure(job)
                token_counts[name].append(tokens)
                rates[name].append(tokens / seconds)
                cpu_rates[name].append(tokens / cpu_seconds)
            if round_index >= 0:
                print({k: round(v[-1], 1) for k, v in rates.items()}, file=sys.stderr)
    finally:
        server.terminate()
        server.wait(timeout=60)

    def ratio(a: str, b: str, table: dict[str, list[float]] = rates) -> float:
        return statistics.median(x / y for x, y in zip(table[a], table[b], strict=True))

    import vllm

    load = os.getloadavg()[0]
    lines = [
        "",
        f"## Generation backends: hf vs vllm vs openai, and vllm vs bare vLLM ({datetime.date.today()})",
        "",
        "`build/venv-vllm/bin/python benchmarks/bench_backends.py --rounds "
        f"{args.rounds} --batch-size {args.batch_size}` on "
        f"{platform.machine()} CPU ({os.cpu_count()} cores, load average {load_before:.1f} "
        f"before, {load:.1f} at the end), vllm-cpu {vllm.__version__}, float32, eager mode. Policy "
        f"`{args.policy}`; {args.problems} synthetic problems x n={args.n} samples, temperature "
        f"{args.temperature}, max {args.max_tokens} tokens; generation only (engines and server "
        "started and warmed up by one untimed round first); rounds alternate the order of "
        "the sides.",
        "",
        "| side | tokens (median) | wall tok/s (median) | per round | wall ratio to hf "
        "| CPU tok/s (median) | CPU ratio to hf |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, values in rates.items():
        per_round = ", ".join(f"{v:.0f}" for v in values)
        lines.append(
            f"| {name} | {statistics.median(token_counts[name]):.0f} | "
            f"{statistics.median(values):.0f} | {per_round} | "
            f"{ratio(name, 'hf'):.2f}x | {statistics.median(cpu_rates[name]):.0f} | "
            f"{ratio(name, 'hf', cpu_rates):.2f}x |"
        )
    lines += [
        "",
        "`generate --backend vllm` / bare `vllm.LLM.generate`: "
        f"**{ratio('vllm', 'bare vllm'):.2f}x** wall, "
        f"**{ratio('vllm', 'bare vllm', cpu_rates):.2f}x** CPU time (target >= 0.9); "
        "`generate --no-logprobs` / bare: "
        f"**{ratio('vllm, no logprobs', 'bare vllm'):.2f}x** wall, "
        f"**{ratio('vllm, no logprobs', 'bare vllm', cpu_rates):.2f}x** CPU time; "
        "`generate` / bare with the same requests (per-prompt seeds, logprobs=0): "
        f"**{ratio('vllm', 'bare vllm, same requests'):.2f}x** wall, "
        f"**{ratio('vllm', 'bare vllm, same requests', cpu_rates):.2f}x** CPU time; "
        f"against the one-seed bare call: {ratio('vllm', 'bare vllm, one seed'):.2f}x wall, "
        f"{ratio('vllm', 'bare vllm, one seed', cpu_rates):.2f}x CPU time; "
        f"openai (vLLM server) / vllm offline: {ratio('openai', 'vllm'):.2f}x wall, "
        f"{ratio('openai', 'vllm', cpu_rates):.2f}x CPU time.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.append_results:
        if not RESULTS.exists():
            RESULTS.write_text("# Benchmarks\n", encoding="utf-8")
        with RESULTS.open("a", encoding="utf-8") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
