"""Public scorers on GPU: float32 = CPU float32; bf16 error vs the bare model's (qwen-prm).

Run at the repo root on a machine with CUDA: `PYTHONPATH=$PWD python scripts/gpu_check_public_scorers.py cuda`.
"""

import sys
import tempfile

import torch
from transformers import AutoModelForTokenClassification, AutoTokenizer

sys.path.insert(0, "tests")
import public_models as pm  # noqa: E402

from mathverify.scoring import load_scorer  # noqa: E402

DEV = sys.argv[1] if len(sys.argv) > 1 else "cuda"
P = ["What is the sum of 2 and 3?", "Let x^2 - 4 = 0 with x > 0. Find x."] * 8
S = [
    ["We add: 2 + 3 = 5.", "So the answer is $\\boxed{5}$."],
    ["Then x^2 = 4.", "So x = 2 or x = -2.", "Hence x = 2.", "\\boxed{2}"],
] * 8
S = [[f"{s} (sample {i})" for s in steps] for i, steps in enumerate(S)]
BUILD = {
    "math-shepherd": pm.save_math_shepherd,
    "qwen-prm": pm.save_qwen_prm,
    "rlhflow": pm.save_rlhflow,
    "orm-seqcls": pm.save_orm_seqcls,
}


def gap(a, b):
    return max(
        abs(x - y)
        for ra, rb in zip(a, b, strict=True)
        for x, y in zip(ra, rb, strict=True)
        if x is not None
    )


def search_like(scorer):
    out, beams = [], [[] for _ in range(4)]
    for d in range(3):
        steps = [beams[b] + [f"step {d} try {c}"] for b in range(4) for c in range(4)]
        out += scorer.score([P[b] for b in range(4) for _ in range(4)], steps)
        beams = [beam + [f"step {d} try 0"] for beam in beams]
    return out


def bare_qwen(path, dtype):
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForTokenClassification.from_pretrained(path, dtype=dtype).to(DEV).eval()
    out, sep = [], tok.encode("<extra_0>")[0]
    for q, steps in zip(P, S, strict=True):
        msgs = [
            {"role": "system", "content": pm.QWEN_SYSTEM},
            {"role": "user", "content": q},
            {"role": "assistant", "content": "<extra_0>".join(steps) + "<extra_0>"},
        ]
        ids = torch.tensor([tok.encode(tok.apply_chat_template(msgs, tokenize=False))], device=DEV)
        with torch.no_grad():
            probs = model(input_ids=ids).logits.float().softmax(-1)[0]
        out.append(probs[ids[0] == sep][:, 1].tolist())
    return out


with tempfile.TemporaryDirectory() as tmp:
    for fmt, build in BUILD.items():
        path = build(f"{tmp}/{fmt}", hidden=256, layers=4)
        cpu = load_scorer(
            path, fmt, device="cpu", dtype=torch.float32, batch_size=1, prefix_cache_tokens=0
        )
        gpu = load_scorer(path, fmt, device=DEV, dtype=torch.float32, batch_size=8)
        g1 = gap(gpu.score(P, S), [cpu.score([p], [s])[0] for p, s in zip(P, S, strict=True)])
        g2 = gap(search_like(gpu), search_like(cpu))
        print(
            f"{fmt:14s} float32 {DEV} vs cpu: batched {g1:.1e}, prefix cache {g2:.1e}", flush=True
        )
        assert g1 < 1e-3 and g2 < 1e-3, fmt
    path = f"{tmp}/qwen-prm"
    bare32, bare16 = bare_qwen(path, torch.float32), bare_qwen(path, torch.bfloat16)
    ours16 = load_scorer(path, "qwen-prm", device=DEV, dtype=torch.bfloat16).score(P, S)
    print(
        f"qwen-prm bf16: bare vs float32 {gap(bare16, bare32):.3f}, scorer vs float32 "
        f"{gap(ours16, bare32):.3f}, scorer vs bare bf16 {gap(ours16, bare16):.3f}"
    )
