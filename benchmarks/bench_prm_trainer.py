"""Benchmark: our PRM trainer (``VerifierTrainer`` on ``transformers.Trainer``) vs a bare PyTorch loop.

Both sides train the same model (a tiny Llama of the demo's size, hidden 128, 4 layers,
4 heads, character tokenizer, plus the PRM head; reset to the same initial weights before
every run) on the same batches in the same order: the examples come from
:func:`mathverify.models.verifier_examples.tokenize_prm_example`, are batched by the same collator, and
the trainer's sampler is made sequential so it sees exactly the bare loop's batches.

- **ours**: ``VerifierTrainer.train()`` with the arguments ``train-prm`` uses
  (:func:`training_arguments`: AdamW, cosine schedule with warmup, gradient clipping at 1.0,
  loss logging every 10 steps); no checkpoint or evaluation falls inside the timed steps.
- **bare**: ``for batch in batches: loss = model(**batch)["loss"]; loss.backward();
  opt.step(); opt.zero_grad()`` with ``torch.optim.AdamW`` at the same learning rate.

Throughput = training examples per second over the whole call (setup included). Runs
alternate (ours, bare, ours, bare, ...) so load on the shared machine hits both alike; the
ratio is the median over repeats of each back-to-back pair; the target is >= 0.9. Run:
``python benchmarks/bench_prm_trainer.py [--append-results]``; ``--append-results`` adds a
section to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import SequentialSampler
from transformers import LlamaForCausalLM, TrainerCallback

from mathverify.models.card import ModelCard
from mathverify.models.tiny import build_tokenizer, tiny_llama_config
from mathverify.models.verifier import Example, VerifierCollator, VerifierModel, pad_id
from mathverify.models.verifier_examples import tokenize_prm_example
from mathverify.prompting import PromptFormat
from mathverify.training.prm import prm_targets
from mathverify.training.verifier_common import ListDataset, VerifierTrainer, training_arguments
from mathverify.training.verifier_config import PRMTrainConfig

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
WARM_STEPS = 5  # steady-state rates start after this many steps


def make_examples(count: int, seed: int) -> list[Example]:
    """Arithmetic solutions shaped like the synthetic task's, with random first errors."""
    rng = random.Random(seed)
    tokenizer = build_tokenizer()
    fmt = PromptFormat()
    examples = []
    for i in range(count):
        a, b, c, d = (rng.randint(1, 99) for _ in range(4))
        steps = [
            f"= {a}+{b * c}-{d}",
            f"= {a + b * c}-{d}",
            f"= {a + b * c - d}",
            f"\\boxed{{{a + b * c - d}}}",
        ]
        wrong = rng.randint(0, len(steps))  # len(steps): all correct
        labels = [1 if k < wrong else 0 for k in range(len(steps))]
        encoded = tokenize_prm_example(
            tokenizer, fmt, f"Compute {a}+{b}*{c}-{d}.", steps, prm_targets(labels, "hard")
        )
        examples.append(Example(**encoded, group=f"bench-{i}"))
    return examples


class StepClock(TrainerCallback):
    """Wall and CPU time at the end of every optimizer step."""

    def __init__(self) -> None:
        self.marks: list[tuple[float, float]] = []

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN003, ANN201
        self.marks.append((time.perf_counter(), time.process_time()))


class SequentialTrainer(VerifierTrainer):
    """Our trainer with the data order fixed, so both sides see identical batches."""

    def _get_train_sampler(self, train_dataset=None):  # noqa: ANN001, ANN202
        return SequentialSampler(train_dataset or self.train_dataset)


Timing = dict[str, float]


def _timing(
    start: float, finished: float, marks: list[tuple[float, float]], warm: int, batch_size: int
) -> Timing:
    """Samples/s over the whole call, and in steady state (after ``warm`` steps), wall and CPU."""
    end = marks[-1]
    steady = (len(marks) - warm) * batch_size
    return {
        "whole": len(marks) * batch_size / (finished - start),
        "steady": steady / (end[0] - marks[warm - 1][0]),
        "steady_cpu": steady / (end[1] - marks[warm - 1][1]),
    }


def run_ours(
    model: VerifierModel, examples: list[Example], steps: int, batch_size: int, lr: float
) -> Timing:
    with tempfile.TemporaryDirectory() as tmp:
        config = PRMTrainConfig(
            input="-",
            problems="-",
            output=tmp,
            init="-",
            max_steps=steps,
            batch_size=batch_size,
            lr=lr,
            eval_fraction=0.0,
            eval_steps=steps + 1,  # no checkpoint before the last step
            progress=False,
            logging_steps=10,
        )
        clock = StepClock()
        start = time.perf_counter()
        trainer = SequentialTrainer(
            model=model,
            args=training_arguments(config, has_eval=False),
            data_collator=VerifierCollator(pad_id(build_tokenizer())),
            train_dataset=ListDataset(examples),
            card=ModelCard(kind="prm"),
            callbacks=[clock],
        )
        trainer.train()
        return _timing(start, time.perf_counter(), clock.marks, WARM_STEPS, batch_size)


def run_bare(
    model: VerifierModel, examples: list[Example], steps: int, batch_size: int, lr: float
) -> Timing:
    collate = VerifierCollator(pad_id(build_tokenizer()))
    marks: list[tuple[float, float]] = []
    start = time.perf_counter()
    model.train()
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0
    )
    done = 0
    while done < steps:
        for first in range(0, len(examples), batch_size):
            batch = collate(examples[first : first + batch_size])
            loss = model(**batch)["loss"]
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            done += 1
            marks.append((time.perf_counter(), time.process_time()))
            if done == steps:
                break
    return _timing(start, time.perf_counter(), marks, WARM_STEPS, batch_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--append-results", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    tokenizer = build_tokenizer()
    torch.manual_seed(0)
    initial = VerifierModel(
        LlamaForCausalLM(tiny_llama_config(tokenizer, hidden_size=128, num_layers=4, num_heads=4)),
        1,
    )
    examples = make_examples(args.examples, seed=0)
    lr = 1e-4

    # One short untimed run each: first-call costs (allocator, kernels) hit neither side.
    run_ours(copy.deepcopy(initial), examples, WARM_STEPS + 1, args.batch_size, lr)
    run_bare(copy.deepcopy(initial), examples, WARM_STEPS + 1, args.batch_size, lr)
    runs: dict[str, list[Timing]] = {"ours": [], "bare": []}
    for _ in range(args.repeats):
        runs["ours"].append(
            run_ours(copy.deepcopy(initial), examples, args.steps, args.batch_size, lr)
        )
        runs["bare"].append(
            run_bare(copy.deepcopy(initial), examples, args.steps, args.batch_size, lr)
        )

    def ratio(key: str) -> tuple[float, list[float]]:
        pairs = [o[key] / b[key] for o, b in zip(runs["ours"], runs["bare"], strict=True)]
        return statistics.median(pairs), pairs

    mean_tokens = sum(len(e.input_ids) for e in examples) / len(examples)
    lines = [
        "",
        f"## PRM trainer vs bare PyTorch loop ({datetime.date.today().isoformat()})",
        "",
        f"`python benchmarks/bench_prm_trainer.py --steps {args.steps} --batch-size {args.batch_size} "
        f"--repeats {args.repeats} --threads {args.threads}` on {platform.machine()} CPU, "
        f"torch {torch.__version__}, {args.threads} thread(s) on a machine whose 2 cores are shared "
        "with other jobs. Random-init tiny Llama (128x4, 4 heads) + 1-logit PRM head, "
        f"{len(examples)} synthetic-style solutions (mean {mean_tokens:.0f} tokens), same batches in "
        f"the same order on both sides. *steady*: steps {WARM_STEPS + 1}..{args.steps}, wall clock "
        "and process CPU time; *whole*: the whole call, setup included.",
        "",
        "| rate (samples/s) | ours (median) | bare (median) | ratio ours/bare (median of pairs) | pairs |",
        "|---|---|---|---|---|",
    ]
    for key, label in (
        ("steady", "steady, wall"),
        ("steady_cpu", "steady, CPU time"),
        ("whole", "whole call, wall"),
    ):
        median_ratio, pairs = ratio(key)
        ours = statistics.median(t[key] for t in runs["ours"])
        bare = statistics.median(t[key] for t in runs["bare"])
        lines.append(
            f"| {label} | {ours:.1f} | {bare:.1f} | **{median_ratio:.3f}** | {', '.join(f'{p:.3f}' for p in pairs)} |"
        )
    lines += [
        "",
        "Target: ratio >= 0.9. Ours runs the Trainer as `train-prm` does: AdamW with a cosine "
        "schedule and warmup, gradient clipping at 1.0, loss logging every 10 steps, and a final "
        "checkpoint (counted in *whole* only); the bare loop does none of that.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.append_results:
        if not RESULTS.exists():
            RESULTS.write_text("# Benchmarks\n", encoding="utf-8")
        with RESULTS.open("a", encoding="utf-8") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
