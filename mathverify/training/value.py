"""``train-value``: a scalar value head on the policy's hidden states (AlphaMath).

The model is the policy (a causal LM) plus one linear logit read at every step's separator
position, exactly where a PRM reads its score (:func:`~mathverify.models.verifier_examples.tokenize_prm_example`).
Its value is ``sigmoid(logit)`` in [0, 1], the estimated ``(Q + 1) / 2``; the value loss is
MSE on that (equal, up to a factor, to AlphaMath's MSE on Q with a tanh head) or BCE on the
logit. Step targets come from ``step_labels`` through their label scheme (MCTS labels are
``soft``: ``(Q+1)/2``; exact or rollout labels work too).

Jointly (``sft_weight > 0``, AlphaMath's multi-task objective) the causal LM loss on
correct trajectories (``outcome`` true) is added, weighted, so the result is a better
policy and a value model in one network. With ``freeze_policy`` only the head trains.
With ``step_features="likelihood"`` the head also reads the step's token log-probabilities
under the policy (as the demo's PRM; ``detach_features`` keeps the value loss from moving
the policy through them), through a linear or MLP ``head``.

On disk the result is a policy and a scorer at once: the causal LM's ``save_pretrained``
files (so ``generate``/``search --policy`` load it), the tokenizer, the head in
``verifier_head.safetensors`` and ``mathverify.json`` of kind ``value`` (so the Scorer API
and ``search --scorer`` load it: :class:`~mathverify.scoring.value.ValueScorer`).
``init_only`` saves an untrained head on any policy (AlphaMath's ``save_value_head``).
Starting from a value directory keeps its head.

Not here: the MCTS labels (labeling/mcts.py), scoring (scoring/value.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from mathverify.errors import MathverifyError, RecordError
from mathverify.labeling.schemes import scheme_for_source, to_training_targets
from mathverify.models.card import CARD_NAME, ModelCard, load_card
from mathverify.models.verifier import (
    HEAD_FILE,
    IGNORE,
    VerifierModel,
    default_max_length,
    load_backbone,
    load_tokenizer,
    pad_id,
    save_verifier,
    step_index_batch,
    step_likelihood_features,
    weights_sha256,
)
from mathverify.models.verifier_examples import tokenize_prm_example
from mathverify.prompting import PromptFormat
from mathverify.records import Problem, Solution, display_name, read_numbered, read_problems_by_id
from mathverify.training.common import set_seed
from mathverify.training.policy import sft_example, tokenize_examples
from mathverify.training.value_config import ValueTrainConfig
from mathverify.training.verifier_common import TrainResult, init_prompt_format, run_training

__all__ = [
    "ValueCollator",
    "ValueExample",
    "ValueModel",
    "ValueTrainConfig",
    "build_value_examples",
    "init_value_model",
    "train_value",
    "value_loss",
]

LM_IGNORE = -100


# --------------------------------------------------------------------------------------
# Model


def value_loss(logits: torch.Tensor, labels: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean value loss over positions whose label is not ``IGNORE`` (0 with a gradient if none)."""
    mask = labels != IGNORE
    if not bool(mask.any()):
        return logits.sum() * 0.0
    picked = logits[mask][:, 0].float()
    targets = labels[mask].float()
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(picked, targets)
    return F.mse_loss(torch.sigmoid(picked), targets)


class ValueModel(VerifierModel):
    """The policy plus a one-logit value head; the loss is value loss + ``sft_weight`` x LM loss.

    ``forward`` returns ``logits`` (the value logits, [B, T, 1]) and, given ``labels``
    (value targets, ``IGNORE`` elsewhere) and/or ``lm_labels`` (next-token targets, -100
    elsewhere), ``loss``.
    """

    def __init__(
        self,
        backbone: PreTrainedModel,
        *,
        loss: str = "mse",
        sft_weight: float = 1.0,
        freeze_policy: bool = False,
        step_features: str = "hidden",
        head: str = "linear",
        detach_features: bool = False,
    ) -> None:
        super().__init__(backbone, 1, step_features, head)
        self.loss_kind = loss
        self.sft_weight = sft_weight
        self.detach_features = detach_features
        lm_head = backbone.get_output_embeddings()
        if sft_weight > 0 and lm_head is not None:
            lm_head.weight.requires_grad_(True)  # the joint loss trains the LM head too
        if freeze_policy:
            backbone.requires_grad_(False)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        lm_labels: torch.Tensor | None = None,
        step_index: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        lm_logits_all: torch.Tensor | None = None
        if self.step_features == "likelihood":
            if step_index is None:
                raise MathverifyError("a value head with likelihood features needs step_index")
            body = self.backbone(
                input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True
            )
            hidden = body.hidden_states[-1]
            lm_logits_all = body.logits
            features = step_likelihood_features(
                lm_logits_all.detach() if self.detach_features else lm_logits_all,
                input_ids,
                step_index,
            )
            inputs = torch.cat([hidden, features.to(hidden.dtype)], dim=-1)
        else:
            hidden = self.hidden_states(input_ids, attention_mask)
            inputs = hidden
        logits = self.head(inputs.to(self.head_dtype))
        out: dict[str, torch.Tensor] = {"logits": logits}
        if labels is None and lm_labels is None:
            return out
        loss = logits.sum() * 0.0
        if labels is not None:
            out["value_loss"] = value_loss(logits, labels, self.loss_kind)
            loss = loss + out["value_loss"]
        if lm_labels is not None and self.sft_weight > 0:
            targets = lm_labels[:, 1:]
            if bool((targets != LM_IGNORE).any()):
                if lm_logits_all is not None:
                    lm_logits = lm_logits_all[:, :-1].float()
                else:
                    lm_head = self.backbone.get_output_embeddings()
                    lm_logits = lm_head(hidden[:, :-1].to(lm_head.weight.dtype)).float()
                out["lm_loss"] = F.cross_entropy(
                    lm_logits.reshape(-1, lm_logits.shape[-1]),
                    targets.reshape(-1),
                    ignore_index=LM_IGNORE,
                )
                loss = loss + self.sft_weight * out["lm_loss"]
        out["loss"] = loss
        return out


def init_value_model(config: ValueTrainConfig) -> ValueModel:
    """The policy from ``config.init`` with a value head: the init's own head when it is a
    value directory, else a fresh one drawn from ``config.seed``."""
    backbone = load_backbone(config.init)
    set_seed(config.seed)
    model = ValueModel(
        backbone,
        loss=config.value_loss,
        sft_weight=config.sft_weight,
        freeze_policy=config.freeze_policy,
        step_features=config.step_features,
        head=config.head,
        detach_features=config.detach_features,
    )
    init = Path(config.init)
    if (init / CARD_NAME).exists() and load_card(init).kind == "value":
        from safetensors.torch import load_file

        saved = load_card(init).extra
        saved_shape = (saved.get("step_features", "hidden"), saved.get("head", "linear"))
        if saved_shape != (config.step_features, config.head):
            raise MathverifyError(
                f"{init}: its value head reads {saved_shape[0]} features through a "
                f"{saved_shape[1]} head; pass --step-features {saved_shape[0]} --head "
                f"{saved_shape[1]} to continue training it"
            )

        model.head.load_state_dict(load_file(str(init / HEAD_FILE)))
    return model


# --------------------------------------------------------------------------------------
# Data


@dataclass
class ValueExample:
    """One tokenised example: value targets at step positions and/or next-token targets."""

    input_ids: list[int]
    score_positions: list[int]
    labels: list[float | None]
    lm_labels: list[int] | None = None
    group: str = ""
    step_start: int | None = None  # from tokenize_prm_example; a value head does not read it


class ValueCollator:
    """Right-pads a batch into ``input_ids``, ``attention_mask``, ``labels``, ``lm_labels``."""

    def __init__(self, pad_token_id: int, *, step_index: bool = False) -> None:
        self.pad_token_id = pad_token_id
        self.step_index = step_index

    def __call__(self, batch: Sequence[ValueExample]) -> dict[str, torch.Tensor]:
        width = max(len(x.input_ids) for x in batch)
        input_ids = torch.full((len(batch), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE, dtype=torch.float32)
        lm_labels = torch.full((len(batch), width), LM_IGNORE, dtype=torch.long)
        for row, item in enumerate(batch):
            n = len(item.input_ids)
            input_ids[row, :n] = torch.tensor(item.input_ids, dtype=torch.long)
            attention_mask[row, :n] = 1
            for position, target in zip(item.score_positions, item.labels, strict=True):
                if target is not None:
                    labels[row, position] = float(target)
            if item.lm_labels is not None:
                lm_labels[row, :n] = torch.tensor(item.lm_labels, dtype=torch.long)
        out = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "labels": labels,
            "lm_labels": lm_labels,
        }
        if self.step_index:
            # SFT-only rows have no steps to describe: all -1 (their features are zeros).
            out["step_index"] = step_index_batch(batch, width)
        return out


def _targets(solution: Solution) -> list[float | None]:
    assert solution.step_labels is not None
    scheme = scheme_for_source(solution.label_source) if solution.label_source else "soft"
    return to_training_targets(solution.step_labels, scheme)


def build_value_examples(
    solutions: Sequence[tuple[int, Solution]],
    problems: Mapping[str, Problem],
    tokenizer: PreTrainedTokenizerBase,
    prompt_format: PromptFormat,
    max_length: int,
    *,
    source: str = "<input>",
    sft: bool = True,
) -> list[ValueExample]:
    """Value examples for every solution with step labels, plus (``sft``) one SFT example per
    distinct correct whole solution (``outcome`` true)."""
    examples: list[ValueExample] = []
    sft_seen: set[tuple[str, tuple[str, ...]]] = set()
    sft_pairs: list[tuple[str, dict[str, str]]] = []
    for line, solution in solutions:
        problem = problems.get(solution.problem_id)
        if problem is None:
            raise RecordError(
                source,
                line,
                f"{solution.problem_id!r} not in the problems file",
                field="problem_id",
            )
        if solution.step_labels is not None:
            try:
                targets = _targets(solution)
                encoded = tokenize_prm_example(
                    tokenizer, prompt_format, problem.problem, solution.steps, targets, max_length
                )
            except MathverifyError as exc:
                raise RecordError(source, line, str(exc), field="step_labels") from None
            if any(t is not None for t in encoded["labels"]):
                examples.append(ValueExample(**encoded, group=solution.problem_id))
        key = (solution.problem_id, tuple(solution.steps))
        if sft and solution.outcome is True and solution.steps and key not in sft_seen:
            sft_seen.add(key)
            sft_pairs.append(
                (solution.problem_id, sft_example(problem.problem, solution.steps, prompt_format))
            )
    if sft_pairs:
        rows = tokenize_examples(tokenizer, [pair for _, pair in sft_pairs], max_length)
        for (group, _), row in zip(sft_pairs, rows, strict=True):
            examples.append(
                ValueExample(
                    input_ids=row["input_ids"],
                    score_positions=[],
                    labels=[],
                    lm_labels=row["labels"],
                    group=group,
                )
            )
    return examples


# --------------------------------------------------------------------------------------
# Training


def _card(
    config: ValueTrainConfig, prompt_format: PromptFormat, base: str, max_length: int
) -> ModelCard:
    return ModelCard(
        kind="value",
        prompt=prompt_format,
        label_scheme="soft",
        base_model=base,
        extra={
            "n_outputs": 1,
            "value": "sigmoid(logit) = (V + 1) / 2, V in [-1, 1]",
            "loss": config.value_loss,
            "sft_weight": config.sft_weight,
            "freeze_policy": config.freeze_policy,
            "step_features": config.step_features,
            "head": config.head,
            "max_length": max_length,
        },
    )


def train_value(config: ValueTrainConfig) -> TrainResult:
    """Train (or with ``init_only`` just create) a value model; saved to ``config.output``."""
    config.validate()
    tokenizer = load_tokenizer(config.init)
    prompt_format, base = init_prompt_format(
        config.init, tokenizer, config.prompt_format, config.system
    )
    model = init_value_model(config)
    max_length = config.max_length or default_max_length(tokenizer, model.backbone)
    card = _card(config, prompt_format, base, max_length)
    if config.init_only:
        save_verifier(model, config.output, tokenizer, card)
        return TrainResult(
            output=config.output,
            global_step=0,
            n_train=0,
            n_eval=0,
            train_loss=float("nan"),
            eval_loss=None,
            best_checkpoint=None,
            weights_sha256=weights_sha256(model),
            rank=0,
        )
    problems = read_problems_by_id(config.problems)
    solutions = read_numbered(config.input)
    examples = build_value_examples(
        solutions,
        problems,
        tokenizer,
        prompt_format,
        max_length,
        source=display_name(config.input),
        sft=config.sft_weight > 0,
    )
    return run_training(
        config,
        model,
        tokenizer,
        card,
        examples,
        collator=ValueCollator(pad_id(tokenizer), step_index=config.step_features == "likelihood"),
    )


# --------------------------------------------------------------------------------------
# Evaluation against step labels
