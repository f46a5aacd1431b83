"""What the ORM and PRM trainers share: the dataset, the train/eval split, the
``transformers.Trainer`` subclass, and one training run with eval split, early stopping,
checkpoints and resume.

The verifier model, its on-disk format and the collator live one layer down, in
:mod:`mathverify.models.verifier` (scoring loads the same model); how one example is
tokenised is :mod:`mathverify.models.verifier_examples`.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import (
    EarlyStoppingCallback,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
)
from transformers.trainer_utils import get_last_checkpoint

from mathverify.errors import MathverifyError
from mathverify.models.card import CARD_NAME, ModelCard, load_card
from mathverify.models.compat import check_overrides
from mathverify.models.prompts import model_prompt_format
from mathverify.models.verifier import (
    IGNORE,
    Example,
    VerifierCollator,
    VerifierModel,
    load_backbone,
    load_verifier_weights,
    pad_id,
    save_verifier,
    weights_sha256,
)
from mathverify.prompting import PromptFormat
from mathverify.training.common import set_seed, trainer_kwargs
from mathverify.training.verifier_config import VerifierTrainConfig


class ListDataset(torch.utils.data.Dataset):
    def __init__(self, items: Sequence[Example]) -> None:
        self.items = list(items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Example:
        return self.items[index]


def split_by_group(
    examples: Sequence[Example], eval_fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """Train/eval split by problem (``group``), reproducible from ``seed``.

    With ``eval_fraction > 0`` at least one problem goes to eval and at least one stays in
    train; with fewer than two problems there is no eval split.
    """
    if not 0.0 <= eval_fraction < 1.0:
        raise MathverifyError(f"--eval-fraction {eval_fraction}: must be in [0, 1)")
    groups = sorted({e.group for e in examples})
    if eval_fraction == 0.0 or len(groups) < 2:
        return list(examples), []
    random.Random(seed).shuffle(groups)
    n_eval = min(len(groups) - 1, max(1, round(eval_fraction * len(groups))))
    held_out = set(groups[:n_eval])
    train = [e for e in examples if e.group not in held_out]
    held = [e for e in examples if e.group in held_out]
    return train, held


# --------------------------------------------------------------------------------------
# Frozen backbone: the head's inputs computed once


@dataclass
class FeatureExample:
    """An example whose head inputs are fixed: ``features`` [S, width] at its S labeled score
    positions and their targets ``labels`` [S]."""

    features: torch.Tensor
    labels: torch.Tensor
    group: str = ""


class FeatureCollator:
    """Pads :class:`FeatureExample` rows to ``{"features": [B, S, width], "labels": [B, S]}``
    (``IGNORE`` past each row's S): what :meth:`VerifierModel.forward` reads without its
    backbone."""

    def __call__(self, batch: Sequence[FeatureExample]) -> dict[str, torch.Tensor]:
        slots = max(len(x.labels) for x in batch)
        width = batch[0].features.shape[-1]
        features = torch.zeros((len(batch), slots, width), dtype=batch[0].features.dtype)
        labels = torch.full((len(batch), slots), IGNORE, dtype=torch.float32)
        for row, item in enumerate(batch):
            n = len(item.labels)
            features[row, :n] = item.features
            labels[row, :n] = item.labels
        return {"features": features, "labels": labels}


# Config fields that turn on dropout in Hugging Face decoders (attention dropout is a
# functional call there, not a module).
_DROPOUT_FIELDS = ("dropout", "pdrop")


def backbone_is_fixed(model: VerifierModel) -> bool:
    """True when training cannot change what the head reads: no backbone parameter learns
    and the backbone has no active dropout (modules or config rates above 0)."""
    if any(p.requires_grad for p in model.backbone.parameters()):
        return False
    if any(isinstance(m, nn.Dropout) and m.p > 0 for m in model.backbone.modules()):
        return False
    config = model.backbone.config.get_text_config().to_dict()
    return not any(
        isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
        for key, value in config.items()
        if any(part in key for part in _DROPOUT_FIELDS)
    )


def cache_features(
    model: VerifierModel,
    examples: Sequence[Example],
    collator: VerifierCollator,
    batch_size: int,
    device: torch.device | str = "cpu",
) -> list[FeatureExample]:
    """Each example's head inputs at its labeled positions, computed once (eval mode, no
    gradient, batches of similar length); examples keep their order and groups.

    With a fixed backbone (:func:`backbone_is_fixed`) training on these is training the
    head on the same inputs the full forward computes at every step, up to the last bits
    that batching changes in float sums.
    """
    was_training = model.training
    model.eval()
    model.to(device)
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids))
    cached: list[FeatureExample | None] = [None] * len(examples)
    try:
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                batch = collator([examples[i] for i in rows])
                labels = batch.pop("labels")
                batch = {k: v.to(device) for k, v in batch.items()}
                inputs = model.head_inputs(
                    batch["input_ids"], batch["attention_mask"], batch.get("step_index")
                ).cpu()
                for row, index in enumerate(rows):
                    keep = labels[row] != IGNORE
                    cached[index] = FeatureExample(
                        inputs[row][keep].clone(), labels[row][keep].clone(), examples[index].group
                    )
    finally:
        model.train(was_training)
    return [c for c in cached if c is not None]


# --------------------------------------------------------------------------------------
# Training


@dataclass
class TrainResult:
    """What a training run did; ``weights_sha256`` is computed on each rank independently."""

    output: str
    global_step: int
    n_train: int
    n_eval: int
    train_loss: float
    eval_loss: float | None
    best_checkpoint: str | None
    weights_sha256: str
    rank: int
    log_history: list[dict[str, Any]] = field(default_factory=list)


class VerifierTrainer(Trainer):
    """``Trainer`` that saves and loads checkpoints in the verifier's directory format.

    It overrides three private ``Trainer`` methods (there is no public hook for a model
    saved in its own format); :func:`~mathverify.models.compat.check_overrides` checks
    that the installed release still calls them with these signatures.
    """

    def __init__(self, *args: Any, card: ModelCard, **kwargs: Any) -> None:
        check_overrides(type(self))
        super().__init__(*args, **kwargs)
        self.card = card

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        output_dir = output_dir or self.args.output_dir
        if not self.args.should_save:
            return
        model = self.accelerator.unwrap_model(self.model, keep_torch_compile=False)
        save_verifier(model, output_dir, self.processing_class, self.card, state_dict=state_dict)
        torch.save(self.args, os.path.join(output_dir, "training_args.bin"))

    def _load_from_checkpoint(
        self, resume_from_checkpoint: str, model: nn.Module | None = None
    ) -> None:
        load_verifier_weights(model if model is not None else self.model, resume_from_checkpoint)

    def _load_best_model(self) -> None:
        load_verifier_weights(self.model, self.state.best_model_checkpoint)


def _distributed_cpu() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()


def training_arguments(config: VerifierTrainConfig, *, has_eval: bool) -> TrainingArguments:
    """Trainer settings: CPU-safe defaults from training/common, plus eval/checkpoint policy."""
    if config.max_steps < 1 or config.batch_size < 1 or config.eval_steps < 1:
        raise MathverifyError("--max-steps, --batch-size and --eval-steps must be at least 1")
    kwargs = trainer_kwargs(
        output_dir=config.output,
        max_steps=config.max_steps,
        batch_size=config.batch_size,
        learning_rate=config.lr,
        seed=config.seed,
        warmup=config.warmup,
        weight_decay=config.weight_decay,
        gradient_accumulation_steps=config.grad_accum,
        logging_steps=config.logging_steps,
    )
    kwargs.update(
        per_device_eval_batch_size=config.batch_size,
        save_strategy="steps",
        save_steps=config.eval_steps,
        save_total_limit=config.save_total_limit,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=config.eval_steps if has_eval else None,
        load_best_model_at_end=has_eval,
        metric_for_best_model="eval_loss" if has_eval else None,
        greater_is_better=False if has_eval else None,
        prediction_loss_only=True,
        # The collator reads Example objects; the model's forward names every tensor it gets.
        remove_unused_columns=False,
        disable_tqdm=not config.progress,
        # Every trainable parameter gets a gradient (an untied LM head is frozen).
        ddp_find_unused_parameters=False,
    )
    if _distributed_cpu():
        kwargs["ddp_backend"] = "gloo"
    return TrainingArguments(**kwargs)


def check_output(config: VerifierTrainConfig) -> None:
    """Refuse to mix a new run's checkpoints with an earlier run's (``--resume`` continues it)."""
    output = Path(config.output)
    if config.resume or not output.is_dir():
        return
    if get_last_checkpoint(str(output)) is not None:
        raise MathverifyError(
            f"{output}: holds checkpoints of an earlier run; pass --resume to continue it, "
            "or choose another --output"
        )


def resolve_resume(config: VerifierTrainConfig) -> str | None:
    """The checkpoint ``--resume`` continues from, or None to start fresh."""
    if not config.resume:
        return None
    if not Path(config.output).is_dir():
        return None
    return get_last_checkpoint(config.output)


def init_prompt_format(
    init: str,
    tokenizer: PreTrainedTokenizerBase,
    requested: str = "auto",
    system: str | None = None,
) -> tuple[PromptFormat, str]:
    """The prompt format to train ``init`` with, bound to ``tokenizer``, and its display name.

    ``init``'s card gives the format; a model without one gets the chat format when its
    tokenizer has a chat template, else the plain one (``requested``/``system`` as
    ``--prompt-format``/``--system``: :func:`mathverify.models.prompts.model_prompt_format`).
    The trained model's card records the format, so a chat model stays a chat model.
    """
    prompt_format = model_prompt_format(
        init, requested=requested, system=system, tokenizer=tokenizer
    )
    if (Path(init) / CARD_NAME).exists():
        return prompt_format, load_card(init).base_model or init
    return prompt_format, init


def build_model(
    init: str,
    n_outputs: int,
    seed: int,
    step_features: str = "hidden",
    head: str = "linear",
    freeze_backbone: bool = False,
) -> VerifierModel:
    """The backbone from ``init`` with a fresh head, initialised from ``seed``."""
    backbone = load_backbone(init)
    set_seed(seed)
    return VerifierModel(backbone, n_outputs, step_features, head, freeze_backbone)


def run_training(
    config: VerifierTrainConfig,
    model: VerifierModel,
    tokenizer: PreTrainedTokenizerBase,
    card: ModelCard,
    examples: Sequence[Any],
    collator: Any | None = None,
) -> TrainResult:
    """Split, train with early stopping and checkpoints, save the final model on rank 0.

    ``collator`` batches ``examples`` (default: :class:`VerifierCollator`); the value
    trainer passes its own, since its examples also carry language-model labels.

    Runs unchanged under ``accelerate launch``/``torchrun`` (DDP): the Trainer shards the
    data and averages gradients; only the main process writes files. Nothing collective
    runs after ``train()`` returns.
    """
    if not examples:
        raise MathverifyError(f"{config.input}: no usable training examples")
    check_output(config)
    train, held = split_by_group(examples, config.eval_fraction, config.seed)
    args = training_arguments(config, has_eval=bool(held))
    collator = collator or VerifierCollator(pad_id(tokenizer))
    if type(collator) is VerifierCollator and backbone_is_fixed(model):
        # Only the head learns and its inputs never change: compute them once instead of
        # running the backbone at every step (most of a frozen-backbone run's time).
        train, held = (
            cache_features(model, part, collator, config.batch_size, args.device)
            for part in (train, held)
        )
        collator = FeatureCollator()
    callbacks = []
    if held and config.patience > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.patience))
    trainer = VerifierTrainer(
        model=model,
        args=args,
        data_collator=collator,
        train_dataset=ListDataset(train),
        eval_dataset=ListDataset(held) if held else None,
        processing_class=tokenizer,
        callbacks=callbacks,
        card=card,
    )
    output = trainer.train(resume_from_checkpoint=resolve_resume(config))
    eval_losses = [h["eval_loss"] for h in trainer.state.log_history if "eval_loss" in h]
    if trainer.args.should_save:
        save_verifier(model, config.output, tokenizer, card)
    train_loss = float(output.training_loss)
    return TrainResult(
        output=config.output,
        global_step=trainer.state.global_step,
        n_train=len(train),
        n_eval=len(held),
        train_loss=train_loss if math.isfinite(train_loss) else float("nan"),
        eval_loss=min(eval_losses) if eval_losses else None,
        best_checkpoint=trainer.state.best_model_checkpoint,
        weights_sha256=weights_sha256(model),
        rank=trainer.args.process_index,
        log_history=list(trainer.state.log_history),
    )
