"""A cardless chat policy (BPE, Qwen2-style) and a qwen-prm stand-in on CUDA: greedy text on
CUDA equals CPU float32; bf16 runs; SBS(3,5) and MCTS with the public PRM run on CUDA.

Run at the repo root on a machine with CUDA: `PYTHONPATH=$PWD python scripts/gpu_check_chat_policy.py`."""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, "tests")
import bpe_models  # noqa: E402
import public_models as pm  # noqa: E402

from mathverify.records import Problem, RecordWriter  # noqa: E402

POL, PRM, P = "/tmp/gpu/pol", "/tmp/gpu/prm", "/tmp/gpu/problems.jsonl"
bpe_models.build_model("qwen", POL, hidden_size=64, num_heads=2)
pm.save_qwen_prm(PRM, hidden=64, layers=2)
with RecordWriter(P, Problem) as writer:
    writer.write_all(bpe_models.problems(32))


def mv(*args, cpu=False):
    start = time.time()
    env = {**os.environ, **({"CUDA_VISIBLE_DEVICES": ""} if cpu else {})}
    done = subprocess.run(
        [sys.executable, "-m", "mathverify", *args], capture_output=True, text=True, env=env
    )
    print(
        f"$ mathverify {' '.join(args)}\n  rc={done.returncode} {time.time() - start:.1f}s",
        flush=True,
    )
    if done.returncode:
        print(done.stderr[-3000:], flush=True)
    return done.returncode


def texts(path):
    return [json.loads(line)["text"] for line in open(path)]


gen = ["generate", "--policy", POL, "-p", P, "-n", "1", "--temperature", "0", "--max-tokens", "64"]
mv(*gen, "--dtype", "float32", "-o", "/tmp/gpu/cpu.jsonl", cpu=True)
mv(*gen, "--dtype", "float32", "-o", "/tmp/gpu/cuda.jsonl")
mv(*gen, "--dtype", "bfloat16", "-o", "/tmp/gpu/bf16.jsonl")
a, b, c = texts("/tmp/gpu/cpu.jsonl"), texts("/tmp/gpu/cuda.jsonl"), texts("/tmp/gpu/bf16.jsonl")
print(
    f"greedy text equal, cuda float32 vs cpu float32: {sum(x == y for x, y in zip(a, b, strict=True))}/{len(a)}"
)
print(
    f"greedy text equal, cuda bf16 vs cpu float32: {sum(x == y for x, y in zip(a, c, strict=True))}/{len(a)}"
)
print(
    "prompt format:",
    json.loads(open("/tmp/gpu/cuda.jsonl").readline())["meta"].get("prompt_format"),
)
common = [
    "--policy",
    POL,
    "-p",
    P,
    "--scorer",
    PRM,
    "--scorer-format",
    "qwen-prm",
    "--max-depth",
    "6",
    "--max-step-tokens",
    "32",
]
for method in (
    ["--method", "sbs", "--b1", "3", "--b2", "5"],
    ["--method", "mcts", "--b2", "3", "--simulations", "8"],
):
    for device in ("cpu", "cuda"):
        out = f"/tmp/gpu/{method[1]}-{device}.jsonl"
        mv("search", *method, *common, "--device", device, "--dtype", "float32", "-o", out)
    same = sum(
        json.loads(x)["answer"] == json.loads(y)["answer"]
        for x, y in zip(
            open(f"/tmp/gpu/{method[1]}-cpu.jsonl"),
            open(f"/tmp/gpu/{method[1]}-cuda.jsonl"),
            strict=True,
        )
    )
    print(f"{method[1]}: answers equal cpu vs cuda float32: {same}/32", flush=True)
