"""``train-prm`` under two CPU processes (DDP over gloo), unchanged from the single-process run.

Each rank logs a hash of its final weights (no collective after training); the ranks must
agree, and the directory rank 0 saved must hold exactly those weights. Both launchers are
tried: ``torchrun`` and ``accelerate launch --multi_gpu`` (``--cpu`` would silently run one
process; the trainer picks the CPU itself when there is no CUDA).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from test_train_verifiers import make_data, make_policy

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


LAUNCHERS = {
    "torchrun": lambda port: [
        sys.executable, "-m", "torch.distributed.run",
        "--nproc_per_node", "2", "--master_port", str(port),
    ],
    "accelerate": lambda port: [
        sys.executable, "-m", "accelerate.commands.launch",
        "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(port),
    ],
}  # fmt: skip


@pytest.mark.parametrize("launcher", list(LAUNCHERS))
def test_two_ranks_train_identical_weights(tmp_path: Path, launcher: str) -> None:
    from mathverify.models.verifier import weights_sha256
    from mathverify.scoring import load_scorer

    problems, solutions = make_data(tmp_path, n_problems=8)
    policy = make_policy(tmp_path / "policy")
    out = tmp_path / "prm"
    command = [
        *LAUNCHERS[launcher](_free_port()),
        "-m", "mathverify", "train-prm",
        "-i", str(solutions), "-p", str(problems), "-o", str(out), "--init", str(policy),
        "--max-steps", "6", "--batch-size", "4", "--eval-steps", "3", "--lr", "1e-3", "--quiet",
        "--recipe", "finetune",  # every weight moves, so DDP's gradient averaging is tested
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(command, capture_output=True, text=True, timeout=400, env=env)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    hashes = dict(re.findall(r"rank (\d+): weights sha256 ([0-9a-f]{64})", log))
    assert sorted(hashes) == ["0", "1"], log[-4000:]
    assert hashes["0"] == hashes["1"]
    # 8 problems, 1 held out: 14 training solutions over 2 ranks x 4 = 2 steps per epoch.
    assert "train-prm: 6 steps on 14 examples (2 held out)" in log
    scorer = load_scorer(out, device="cpu")
    assert weights_sha256(scorer.model) == hashes["0"]
