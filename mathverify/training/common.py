"""Helpers every trainer shares: seeding, device choice, and Trainer settings safe on CPU and GPU.

The same settings run on a laptop CPU (fp32, no gradient checkpointing, no workers) and on
a GPU (bf16 where supported); training is budgeted in optimizer steps, not wall-clock time,
so a run is reproducible from its seed.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from mathverify.models.compat import checkpointing_field


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def on_gpu() -> bool:
    return torch.cuda.is_available()


def trainer_kwargs(
    *,
    output_dir: str,
    max_steps: int,
    batch_size: int,
    learning_rate: float,
    seed: int,
    warmup: float = 0.05,
    weight_decay: float = 0.0,
    scheduler: str = "cosine",
    gradient_accumulation_steps: int = 1,
    logging_steps: int = 50,
) -> dict[str, Any]:
    """Keyword arguments for ``TrainingArguments`` or a subclass (SFTConfig, ...).

    Nothing is saved during training (the caller saves the final model) and nothing is
    reported to trackers. On CPU: fp32, ``use_cpu``; on GPU: bf16 when the card supports it.
    Gradient checkpointing stays off (TRL turns it on by default; small models don't need it).
    """
    gpu = on_gpu()
    return {
        "output_dir": output_dir,
        "max_steps": max_steps,
        "per_device_train_batch_size": batch_size,
        "gradient_accumulation_steps": gradient_accumulation_steps,
        "learning_rate": learning_rate,
        "lr_scheduler_type": scheduler,
        "warmup_steps": warmup,
        "weight_decay": weight_decay,
        "seed": seed,
        "data_seed": seed,
        "logging_steps": logging_steps,
        "save_strategy": "no",
        "report_to": "none",
        "use_cpu": not gpu,
        "bf16": gpu and torch.cuda.is_bf16_supported(),
        "fp16": False,
        checkpointing_field(): False,
        "dataloader_num_workers": 0,
        "disable_tqdm": True,
    }


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
