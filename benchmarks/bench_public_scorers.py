"""Benchmark: scoring with a public-format scorer vs the bare transformers forward pass.

For each format, a random-init model of the format's class (a few million parameters; the
byte-level BPE tokenizer of ``tests/public_models.py``) scores the same batch of solutions
(64 by default, about 200 tokens each, distinct, so no prefix is shared) two ways:

- *bare*: the token ids (made by the format's encoder before the clock starts) right-padded
  into batches of ``--batch-size`` in input order, and ``model(input_ids, attention_mask)``
  in ``torch.no_grad`` (the full head: every label, or the whole vocabulary for a causal LM);
- *scorer*: ``scorer.score(problems, steps)`` from text: chat template, tokenisation, batches
  sorted by length, the decoder, the format's head at the score positions, probabilities.

Ratio = bare seconds / scorer seconds (>= 0.9 is the target; > 1: the scorer is faster).
Both sides alternate over ``--repeats`` rounds after one warm-up each; medians are
reported. The bare side skips the text work, so the ratio charges the scorer for it.
Run: ``python benchmarks/bench_public_scorers.py`` (writes ``--out`` JSON and prints it).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import public_models as pm  # noqa: E402

from mathverify.scoring import load_scorer  # noqa: E402
from mathverify.scoring.public import encode_solution  # noqa: E402

BUILDERS = {
    "math-shepherd": pm.save_math_shepherd,
    "qwen-prm": pm.save_qwen_prm,
    "rlhflow": pm.save_rlhflow,
    "orm-seqcls": pm.save_orm_seqcls,
}
WORDS = "we add the numbers so x = 2 + 3 * 4 - 5 step answer is boxed sum of and then".split()


def solutions(n: int, n_steps: int, words_per_step: int, seed: int) -> tuple[list, list]:
    rng = random.Random(seed)
    problems = [f"Problem {i}: " + " ".join(rng.choices(WORDS, k=12)) for i in range(n)]
    steps = [
        [
            " ".join(rng.choices(WORDS, k=rng.randint(words_per_step // 2, words_per_step)))
            for _ in range(n_steps)
        ]
        for _ in range(n)
    ]
    return problems, steps


def bare_forward(model: torch.nn.Module, ids: list[list[int]], pad: int, batch_size: int) -> None:
    with torch.no_grad():
        for start in range(0, len(ids), batch_size):
            rows = ids[start : start + batch_size]
            width = max(len(r) for r in rows)
            input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for r, row in enumerate(rows):
                input_ids[r, : len(row)] = torch.tensor(row)
                mask[r, : len(row)] = 1
            _ = model(input_ids=input_ids, attention_mask=mask).logits


def bench_format(fmt: str, args: argparse.Namespace, root: Path) -> dict:
    # Mistral-7B's own window (4096): the test models' short window is for correctness.
    window = {"sliding_window": 4096} if fmt == "math-shepherd" else {}
    path = BUILDERS[fmt](root / fmt, hidden=args.hidden, layers=args.layers, **window)
    scorer = load_scorer(path, fmt, device="cpu", batch_size=args.batch_size, prefix_cache_tokens=0)
    # The bare model: the class the checkpoint was saved as, loaded by transformers itself.
    model = scorer.model.backbone
    problems, steps = solutions(args.solutions, args.steps, args.words, args.seed)
    ids = [
        encode_solution(fmt, scorer.tokenizer, p, s, scorer.token_ids, scorer._pad)["input_ids"]
        for p, s in zip(problems, steps, strict=True)
    ]
    pad = scorer.tokenizer.pad_token_id
    bare_forward(model, ids, pad, args.batch_size)
    scorer.score(problems, steps)
    times: dict[str, list[tuple[float, float]]] = {"bare": [], "scorer": []}
    for _ in range(args.repeats):
        for side, run in (
            ("bare", lambda: bare_forward(model, ids, pad, args.batch_size)),
            ("scorer", lambda: scorer.score(problems, steps)),
        ):
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            times[side].append((time.perf_counter() - wall, time.process_time() - cpu))
    wall = {side: statistics.median(t[0] for t in ts) for side, ts in times.items()}
    cpu = {side: statistics.median(t[1] for t in ts) for side, ts in times.items()}
    return {
        "format": fmt,
        "model": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "mean_tokens": round(sum(map(len, ids)) / len(ids), 1),
        "bare_s": round(wall["bare"], 4),
        "scorer_s": round(wall["scorer"], 4),
        "ratio": round(wall["bare"] / wall["scorer"], 3),
        "bare_cpu_s": round(cpu["bare"], 4),
        "scorer_cpu_s": round(cpu["scorer"], 4),
        "cpu_ratio": round(cpu["bare"] / cpu["scorer"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formats", default=",".join(BUILDERS))
    parser.add_argument("--solutions", type=int, default=64)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--words", type=int, default=30, help="most words per step")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/bench_public_scorers.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [bench_format(fmt, args, Path(tmp)) for fmt in args.formats.split(",")]
    summary = {
        "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "torch": torch.__version__,
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "results": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
