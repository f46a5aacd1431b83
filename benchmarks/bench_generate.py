"""Benchmark: the hf backend through the library path ``mathverify generate`` uses, vs bare ``model.generate``.

Both sides get the same prompts, the same chunks of sequences, the same sampling options and
the same token budget, in the same run, alternating (ours, bare, ours, bare, ...) so load on
the shared machine hits both alike. Throughput is generated tokens per second: for ours the
``n_tokens`` of the solutions; for the bare loop each row's tokens up to and including eos.

- **full**: whole solutions, :func:`mathverify.generation.write_solutions` (prompts via
  PromptFormat, the batch tracker, logprobs, step split, answer extraction, Solution records
  written to ``os.devnull``)
  vs a loop of ``model.generate(do_sample=True, ...)`` over the same chunks.
- **step**: one step per prefix, :func:`mathverify.backends.next_steps` (stop at the step
  separator, batch-aware) vs ``model.generate(stop_strings=[separator], tokenizer=...)``
  (transformers' own stop-string criterion) on the same prefixes.

Ratio = ours tok/s / bare tok/s, the median over repeats of each back-to-back pair, by
wall clock and by the process's CPU time (the steadier one on a loaded machine); the
target is >= 0.9. The model is ``runs/demo/policy`` when it exists, else a random-init tiny Llama of the demo's size
(hidden 128, 4 layers, 4 heads, character tokenizer). Run:
``python benchmarks/bench_generate.py [--append-results]``; ``--append-results`` adds a
section to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import statistics
import time
from pathlib import Path

import torch

from mathverify.backends import next_steps
from mathverify.backends.hf import HFPolicy
from mathverify.generation import GenerationConfig, chunk_seed, plan_chunks, write_solutions
from mathverify.prompting import PromptFormat
from mathverify.records import Problem, RecordWriter, Solution

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
DEMO_POLICY = ROOT / "runs" / "demo" / "policy"


def make_problems(count: int, seed: int) -> list[Problem]:
    """Arithmetic problems shaped like the synthetic task's (kept local: no dependency on it)."""
    rng = random.Random(seed)
    problems = []
    for i in range(count):
        a, b, c = (rng.randint(1, 99) for _ in range(3))
        op1, op2 = rng.choice("+-*"), rng.choice("+-*")
        problems.append(Problem(id=f"bench-{i}", problem=f"Compute ({a}{op1}{b}){op2}{c}."))
    return problems


def load_model(threads: int) -> tuple[HFPolicy, str]:
    torch.set_num_threads(threads)
    if (DEMO_POLICY / "config.json").exists():
        return HFPolicy.load(str(DEMO_POLICY), device="cpu"), f"trained {DEMO_POLICY.name}"
    from transformers import LlamaForCausalLM

    from mathverify.models.tiny import build_tokenizer, tiny_llama_config

    tokenizer = build_tokenizer()
    torch.manual_seed(0)
    model = LlamaForCausalLM(
        tiny_llama_config(tokenizer, hidden_size=128, num_layers=4, num_heads=4)
    )
    return HFPolicy(model, tokenizer, name="random-tiny"), "random-init tiny Llama (128x4, 4 heads)"


def count_tokens(generated: torch.Tensor, eos_ids: list[int]) -> int:
    is_eos = torch.isin(generated, torch.tensor(eos_ids))
    has = is_eos.any(dim=1)
    first = is_eos.int().argmax(dim=1)
    return int(torch.where(has, first + 1, generated.shape[1]).sum())


def bare_generate(
    policy: HFPolicy, prompts: list[str], *, config: GenerationConfig, stop: str | None
) -> int:
    """``model.generate`` on left-padded prompts, as a script would call it; returns tokens."""
    batch = policy.tokenizer(prompts, return_tensors="pt", padding=True)
    extra = {"stop_strings": [stop], "tokenizer": policy.tokenizer} if stop else {}
    with torch.inference_mode():
        sequences = policy.model.generate(
            **batch,
            do_sample=True,
            temperature=config.temperature,
            top_p=config.top_p,
            top_k=0,
            max_new_tokens=config.max_tokens,
            pad_token_id=policy.pad_id,
            eos_token_id=policy.eos_ids,
            **extra,
        )
    generated = sequences[:, batch["input_ids"].shape[1] :]
    if not stop:
        return count_tokens(generated, policy.eos_ids)
    # Rows a stop string ended are padded after it: count up to the last non-pad token.
    real = generated != policy.pad_id
    last = torch.where(real.any(dim=1), real.shape[1] - real.flip(1).int().argmax(dim=1), 0)
    return int(torch.minimum(last, torch.full_like(last, config.max_tokens)).sum())


def run_full(policy: HFPolicy, problems: list[Problem], config: GenerationConfig) -> dict:
    fmt = PromptFormat()

    def ours() -> int:
        with RecordWriter(os.devnull, Solution) as writer:
            return write_solutions(
                policy, problems, writer, prompt_format=fmt, config=config, backend="hf"
            )

    def bare() -> int:
        tokens = 0
        for index, chunk in enumerate(plan_chunks(problems, config.n, config.batch_size)):
            torch.manual_seed(chunk_seed(config.seed, index))
            prompts = [fmt.prompt(p.problem) for p in chunk for _ in range(config.n)]
            tokens += bare_generate(policy, prompts, config=config, stop=None)
        return tokens

    return {"ours": ours, "bare": bare}


def run_step(policy: HFPolicy, problems: list[Problem], config: GenerationConfig) -> dict:
    fmt = PromptFormat()
    prefixes = [fmt.prefix(p.problem, ["= first step"]) for p in problems]

    def ours() -> int:
        results = next_steps(
            policy,
            prefixes,
            separator=fmt.separator,
            n=config.n,
            temperature=config.temperature,
            top_p=config.top_p,
            max_tokens=config.max_tokens,
            seed=config.seed,
        )
        return sum(s.n_tokens for per in results for s in per)

    def bare() -> int:
        torch.manual_seed(config.seed)
        prompts = [p for p in prefixes for _ in range(config.n)]
        tokens = 0
        for start in range(0, len(prompts), policy.batch_size):
            chunk = prompts[start : start + policy.batch_size]
            tokens += bare_generate(policy, chunk, config=config, stop=fmt.separator)
        return tokens

    return {"ours": ours, "bare": bare}


def measure(sides: dict, repeats: int) -> dict[str, object]:
    """Median tok/s of each side and the median of the per-repeat ratios, by wall and CPU time.

    On a shared machine the wall clock also counts time spent waiting for a core; CPU time
    of this (single-threaded) process counts only the work, so its ratio is the steadier one.
    """
    wall: dict[str, list[float]] = {"ours": [], "bare": []}
    cpu: dict[str, list[float]] = {"ours": [], "bare": []}
    tokens: dict[str, int] = {}
    sides["ours"]()  # warm-up: first-call allocations and the stop-token tables
    for repeat in range(repeats):
        # Alternate which side goes first, so neither always runs on a warmer machine.
        for name in ("ours", "bare") if repeat % 2 == 0 else ("bare", "ours"):
            start, start_cpu = time.perf_counter(), time.process_time()
            count = sides[name]()
            wall[name].append(count / (time.perf_counter() - start))
            cpu[name].append(count / (time.process_time() - start_cpu))
            tokens[name] = count

    def ratios(rates: dict[str, list[float]]) -> list[float]:
        return [o / b for o, b in zip(rates["ours"], rates["bare"], strict=True)]

    return {
        "ours_tok_s": statistics.median(wall["ours"]),
        "bare_tok_s": statistics.median(wall["bare"]),
        "ratio_wall": ratios(wall),
        "ratio_cpu": ratios(cpu),
        "ours_tokens": tokens["ours"],
        "bare_tokens": tokens["bare"],
    }


def describe(ratios: list[float]) -> str:
    return f"{statistics.median(ratios):.2f} [{min(ratios):.2f}-{max(ratios):.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=32)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--append-results", action="store_true")
    args = parser.parse_args()

    policy, model_name = load_model(args.threads)
    policy.batch_size = args.batch_size
    problems = make_problems(args.problems, seed=0)
    config = GenerationConfig(
        n=args.n, temperature=0.7, max_tokens=args.max_tokens, batch_size=args.batch_size
    )
    rows = {
        "full solutions": measure(run_full(policy, problems, config), args.repeats),
        "one step (stop at separator)": measure(run_step(policy, problems, config), args.repeats),
    }
    today = datetime.date.today().isoformat()
    lines = [
        "",
        f"## generate: hf backend vs bare model.generate ({today})",
        "",
        f"`python benchmarks/bench_generate.py --problems {args.problems} --n {args.n} "
        f"--max-tokens {args.max_tokens} --batch-size {args.batch_size} --repeats {args.repeats} "
        f"--threads {args.threads}`; {model_name}; CPU, 2 shared cores (other jobs running), "
        f"torch {torch.__version__} with {args.threads} thread(s), Python {platform.python_version()}. "
        "Sides alternate; tok/s is the median of the repeats (wall clock); a ratio is the "
        "median of the per-repeat ratios, min-max in brackets, by wall clock and by CPU time "
        "of the process (steadier under load). Target: ratio >= 0.9.",
        "",
        "| workload | ours tok/s | bare tok/s | ratio (wall) | ratio (CPU) | tokens ours / bare |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, row in rows.items():
        lines.append(
            f"| {name} | {row['ours_tok_s']:,.0f} | {row['bare_tok_s']:,.0f} | "
            f"{describe(row['ratio_wall'])} | {describe(row['ratio_cpu'])} | "
            f"{row['ours_tokens']} / {row['bare_tokens']} |"
        )
    section = "\n".join(lines) + "\n"
    print(section)
    if args.append_results:
        if not RESULTS.exists():
            RESULTS.write_text("# Benchmarks\n", encoding="utf-8")
        with RESULTS.open("a", encoding="utf-8") as handle:
            handle.write(section)


if __name__ == "__main__":
    main()
