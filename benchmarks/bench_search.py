"""Benchmark: SBS(3, 5) batched across problems vs the same search one problem at a time.

Both sides run :func:`mathverify.search.sbs` with the same policy, scorer, problems and
settings, in the same process, alternating (batched, one-at-a-time, batched, ...) so load
on the shared machine hits both alike. *Batched* sends the live beams of all problems to
the backend in one ``next_steps`` call per depth (``batch_problems`` = all problems);
*one at a time* searches each problem alone (``batch_problems=1``), one backend call and
one scorer call per depth per problem. Target: batched >= 3x faster.

Bookkeeping share: within the batched search, the seconds outside the backend's
``next_steps`` and the scorer's ``score`` (prompt building, tree nodes, selection, answer
extraction, result records) over the search's wall time, from the timings each result
records. Target: < 10%.

Models: ``runs/demo/policy`` and ``runs/demo/prm`` when they exist (``make demo``).
Otherwise a random-init tiny Llama of the demo's size (hidden 128, 4 layers, character
tokenizer) whose ``generation_config.sequence_bias`` raises the step separator and the
end-of-sequence token (so its random text comes in steps of about ten tokens and solutions
of a few steps, like a trained model's), and a random-init PRM on the same backbone.
Problems are synthetic arithmetic ones (:mod:`mathverify.data.synthetic`, seeded).

Run: ``python benchmarks/bench_search.py [--problems 100] [--threads 1] [--append-results]``;
``--hidden/--layers`` size the random-init models (``--random-init`` forces them).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from mathverify.backends.hf import HFPolicy
from mathverify.data.synthetic import SynthConfig, make_splits
from mathverify.generation import policy_prompt_format
from mathverify.models.card import ModelCard
from mathverify.records import Problem, SearchResult
from mathverify.scoring import load_scorer
from mathverify.search import SearchConfig, sbs

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
DEMO_POLICY = ROOT / "runs" / "demo" / "policy"
DEMO_PRM = ROOT / "runs" / "demo" / "prm"
SEPARATOR_BIAS = 2.4  # about one separator in ten tokens over a ~100-token vocabulary
EOS_BIAS = 1.0  # about one end in forty tokens


def random_models(directory: Path, hidden: int, layers: int) -> tuple[str, str]:
    """Save a random-init tiny policy and PRM under ``directory``; return their paths."""
    from transformers import LlamaForCausalLM

    from mathverify.models.tiny import build_tokenizer, tiny_llama_config
    from mathverify.models.verifier import save_verifier
    from mathverify.training.verifier_common import build_model

    policy_dir, prm_dir = directory / "policy", directory / "prm"
    tokenizer = build_tokenizer()
    torch.manual_seed(0)
    config = tiny_llama_config(
        tokenizer, hidden_size=hidden, num_layers=layers, num_heads=max(1, hidden // 32)
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(policy_dir)
    tokenizer.save_pretrained(policy_dir)
    ModelCard(kind="policy").save(policy_dir)
    prm = build_model(str(policy_dir), 1, seed=0)
    save_verifier(prm, prm_dir, tokenizer, ModelCard(kind="prm", label_scheme="hard"))
    return str(policy_dir), str(prm_dir)


def load_models(
    work: Path, threads: int, hidden: int, layers: int, random_init: bool
) -> tuple[HFPolicy, Any, str, Any]:
    torch.set_num_threads(threads)
    demo = (DEMO_POLICY / "config.json").exists() and (DEMO_PRM / "mathverify.json").exists()
    if demo and not random_init:
        policy_path, prm_path = str(DEMO_POLICY), str(DEMO_PRM)
        label = "trained runs/demo/policy + runs/demo/prm"
        biased = False
    else:
        policy_path, prm_path = random_models(work, hidden, layers)
        label = (
            f"random-init tiny Llama (hidden {hidden}, {layers} layers) policy with "
            "separator/eos bias + random-init PRM on the same backbone"
        )
        biased = True
    policy = HFPolicy.load(policy_path, device="cpu", dtype="float32")
    if biased:
        tokenizer = policy.tokenizer
        separator = tokenizer.convert_tokens_to_ids("\n\n")
        policy.model.generation_config.sequence_bias = {
            (separator,): SEPARATOR_BIAS,
            (tokenizer.eos_token_id,): EOS_BIAS,
        }
    scorer = load_scorer(prm_path, device="cpu", batch_size=64)
    return policy, scorer, label, policy_prompt_format(policy_path)


def bookkeeping(results: list[SearchResult]) -> dict[str, float]:
    """Seconds in the backend, the scorer and elsewhere, summed over the batches of a run."""
    # The results of one batch share one timing dict.
    batches = {id(r.meta["timing"]): r.meta["timing"] for r in results}
    total = sum(t["batch_seconds"] for t in batches.values())
    backend = sum(t["backend_seconds"] for t in batches.values())
    scorer = sum(t["scorer_seconds"] for t in batches.values())
    return {
        "total": total,
        "backend": backend,
        "scorer": scorer,
        "other": total - backend - scorer,
        "backend_calls": sum(t["backend_calls"] for t in batches.values()),
        "scorer_calls": sum(t["scorer_calls"] for t in batches.values()),
    }


def run(
    problems: list[Problem], policy: HFPolicy, scorer: Any, config: SearchConfig
) -> tuple[float, float, list[SearchResult]]:
    """Wall seconds, CPU seconds of this process, and the results of one search."""
    start, cpu = time.perf_counter(), time.process_time()
    results = sbs(problems, policy, scorer, config)
    return time.perf_counter() - start, time.process_time() - cpu, results


def load_average() -> str:
    """The 1-minute load average of the machine, as ``uptime`` shows it."""
    return f"{os.getloadavg()[0]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=100)
    parser.add_argument("--b1", type=int, default=3)
    parser.add_argument("--b2", type=int, default=5)
    parser.add_argument("--max-depth", type=int, default=8)
    parser.add_argument("--max-step-tokens", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--random-init", action="store_true", help="Random-init models even when demo ones exist."
    )
    parser.add_argument("--hidden", type=int, default=128, help="Random-init model width.")
    parser.add_argument("--layers", type=int, default=4, help="Random-init model depth.")
    parser.add_argument("--append-results", action="store_true")
    args = parser.parse_args()

    _, problems = make_splits(SynthConfig(train_size=0, test_size=args.problems, seed=7))
    with tempfile.TemporaryDirectory() as tmp:
        policy, scorer, label, prompt = load_models(
            Path(tmp), args.threads, args.hidden, args.layers, args.random_init
        )
        base = SearchConfig(
            b1=args.b1,
            b2=args.b2,
            temperature=1.0,
            seed=0,
            max_depth=args.max_depth,
            max_step_tokens=args.max_step_tokens,
            prompt=prompt,
        )
        batched_config = SearchConfig(**{**base.__dict__, "batch_problems": len(problems)})
        single_config = SearchConfig(**{**base.__dict__, "batch_problems": 1})
        # Warm up both paths (first-call allocations, lazy imports) on a few problems.
        run(problems[:2], policy, scorer, batched_config)
        batched_times, single_times = [], []
        batched_cpu, single_cpu = [], []
        load_before = load_average()
        batched_results: list[SearchResult] = []
        single_results: list[SearchResult] = []
        for _ in range(args.repeats):
            seconds, cpu, batched_results = run(problems, policy, scorer, batched_config)
            batched_times.append(seconds)
            batched_cpu.append(cpu)
            seconds, cpu, single_results = run(problems, policy, scorer, single_config)
            single_times.append(seconds)
            single_cpu.append(cpu)
        load_after = load_average()

    batched_s, single_s = statistics.median(batched_times), statistics.median(single_times)
    split = bookkeeping(batched_results)
    single_split = bookkeeping(single_results)
    speedup = single_s / batched_s
    cpu_speedup = statistics.median(single_cpu) / statistics.median(batched_cpu)
    share = split["other"] / split["total"]
    nodes = sum(r.meta["n_nodes"] for r in batched_results)
    depth = sum(len(r.steps) for r in batched_results) / len(batched_results)
    lines = [
        f"## bench_search: SBS({args.b1},{args.b2}) batched across problems vs one at a time "
        f"({datetime.date.today().isoformat()})",
        "",
        f"- machine: {platform.machine()}, {platform.processor() or 'cpu'}, torch threads "
        f"{args.threads}, CPU; the machine is shared with other jobs (1-minute load "
        f"average {load_before} before the runs, {load_after} after)",
        f"- models: {label}",
        f"- {len(problems)} synthetic problems, temperature 1.0, max depth {args.max_depth}, "
        f"max {args.max_step_tokens} tokens per step, {args.repeats} repeat(s), median; "
        f"{nodes} candidate steps in the batched run, chosen solutions of {depth:.1f} steps on average",
        "",
        "| run | seconds | CPU s | backend calls | scorer calls | backend s | scorer s | other s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        f"| batched (all {len(problems)} problems per call) | {batched_s:.1f} | "
        f"{statistics.median(batched_cpu):.1f} | "
        f"{split['backend_calls']} | {split['scorer_calls']} | {split['backend']:.1f} | "
        f"{split['scorer']:.1f} | {split['other']:.2f} |",
        f"| one problem at a time | {single_s:.1f} | {statistics.median(single_cpu):.1f} | "
        f"{single_split['backend_calls']} | "
        f"{single_split['scorer_calls']} | {single_split['backend']:.1f} | "
        f"{single_split['scorer']:.1f} | {single_split['other']:.2f} |",
        "",
        f"- speed-up of batching: **{speedup:.2f}x** (target >= 3x: "
        f"{'met' if speedup >= 3 else 'NOT met'}); by CPU time of the process (steadier "
        f"when other jobs load the machine): **{cpu_speedup:.2f}x**",
        f"- bookkeeping share of the batched search (outside backend and scorer): "
        f"**{100 * share:.1f}%** (target < 10%: {'met' if share < 0.10 else 'NOT met'})",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.append_results:
        if not RESULTS.exists():
            RESULTS.write_text("# Benchmarks\n", encoding="utf-8")
        with RESULTS.open("a", encoding="utf-8") as handle:
            handle.write("\n" + text)


if __name__ == "__main__":
    main()
