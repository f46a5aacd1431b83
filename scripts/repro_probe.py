"""Where do two runs of the same command diverge? Train the demo's tiny Llama a few steps
and sample from it under different thread counts and kernel ISA levels; compare to the bit.

    python scripts/repro_probe.py --out runs/probe     # ~1 min per setting on a quiet CPU

Each setting runs a fresh process (the variables are read when torch loads):
``ATEN_CPU_CAPABILITY`` caps ATen's vectorised kernels (default / avx2 / avx512),
``MKL_CBWR`` fixes MKL's code branch, ``MKL_ENABLE_INSTRUCTIONS`` and
``ONEDNN_MAX_CPU_ISA`` emulate a CPU without AVX-512, ``OMP_NUM_THREADS`` sets the thread
count, ``--deterministic`` turns on ``torch.use_deterministic_algorithms``. A worker trains
the demo's model config (random token batches, AdamW, fixed seed), then samples from it at
temperature 0.7; it prints the SHA-256 of the weights and of the sampled tokens. Settings
with the same weights hash trained identically to the bit.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

PIN = {"OMP_NUM_THREADS": "2", "ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2"}
NO_AVX512 = {"MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
VARIABLES = {*PIN, *NO_AVX512, "MKL_NUM_THREADS"}
# (name, environment, deterministic algorithms)
SETTINGS: list[tuple[str, dict[str, str], bool]] = [
    ("default (2 threads)", {}, False),
    ("default again", {}, False),
    ("1 thread", {"OMP_NUM_THREADS": "1"}, False),
    ("deterministic algorithms", {}, True),
    ("MKL_CBWR=AVX2", {"MKL_CBWR": "AVX2"}, False),
    ("ATEN avx2", {"ATEN_CPU_CAPABILITY": "avx2"}, False),
    ("ATEN default (no SIMD)", {"ATEN_CPU_CAPABILITY": "default"}, False),
    ("oneDNN max AVX2", {"ONEDNN_MAX_CPU_ISA": "AVX2"}, False),
    ("emulated AVX2-only CPU", {"ATEN_CPU_CAPABILITY": "avx2", **NO_AVX512}, False),
    ("pinned", PIN, False),
    ("pinned, emulated AVX2-only CPU", {**PIN, **NO_AVX512}, False),
    ("pinned, 1 thread", {**PIN, "OMP_NUM_THREADS": "1"}, False),
]


def worker(steps: int, deterministic: bool) -> dict[str, object]:
    """Train and sample in this process; the hashes and the last loss."""
    import torch
    from transformers import LlamaForCausalLM

    from mathverify.models.tiny import build_tokenizer, tiny_llama_config
    from mathverify.training.common import set_seed

    torch.use_deterministic_algorithms(deterministic)
    set_seed(0)
    tokenizer = build_tokenizer()
    model = LlamaForCausalLM(tiny_llama_config(tokenizer))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    data = torch.Generator().manual_seed(0)
    loss = torch.tensor(0.0)
    for _ in range(steps):
        batch = torch.randint(4, len(tokenizer), (64, 48), generator=data)
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    weights = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        weights.update(name.encode() + tensor.detach().contiguous().numpy().tobytes())
    torch.manual_seed(1)
    prompts = torch.randint(4, len(tokenizer), (16, 8), generator=data)
    with torch.no_grad():
        out = model.generate(
            prompts,
            do_sample=True,
            temperature=0.7,
            max_new_tokens=32,
            top_k=0,
            pad_token_id=tokenizer.pad_token_id,
        )
    return {
        "weights_sha256": weights.hexdigest()[:16],
        "samples_sha256": hashlib.sha256(out.numpy().tobytes()).hexdigest()[:16],
        "last_loss": float(loss),
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="directory for probe.json")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--only", nargs="+", help="run these settings (by name), in this order")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--deterministic", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.steps, args.deterministic)))
        return
    if not args.out:
        parser.error("--out is required")
    results = []
    by_name = {name: (name, extra, det) for name, extra, det in SETTINGS}
    unknown = set(args.only or []) - set(by_name)
    if unknown:
        parser.error(f"unknown settings: {sorted(unknown)}")
    chosen = [by_name[name] for name in args.only] if args.only else SETTINGS
    for name, extra, deterministic in chosen:
        env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
        env.update(extra)
        command = [sys.executable, __file__, "--worker", "--steps", str(args.steps)]
        command += ["--deterministic"] if deterministic else []
        start = time.time()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"{name}: worker failed\n{done.stderr[-2000:]}")
        row = {"setting": name, "env": extra, "deterministic": deterministic}
        row |= json.loads(done.stdout.strip().splitlines()[-1])
        row["seconds"] = round(time.time() - start, 1)
        results.append(row)
        print(
            f"{name:32s} weights {row['weights_sha256']} samples {row['samples_sha256']} "
            f"loss {row['last_loss']:.6f} {row['cpu_capability']:7s} {row['seconds']:5.1f} s",
            flush=True,
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "probe.json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
