"""Step-level value preference optimisation (SVPO) of a policy on MCTS step pairs.

SVPO ("Step-level Value Preference Optimization for Mathematical Reasoning", Chen et al.
2024, https://arxiv.org/abs/2406.10858) trains the policy with a DPO loss on step-level
preference pairs read off MCTS trees (:mod:`mathverify.labeling.pairs`), optionally together
with an explicit value model's regression on the Q values. Here, for a pair with prefix
``x`` (the problem through the prompt format plus the prefix steps, each followed by the
separator), chosen step ``y_c`` and rejected step ``y_r``:

    L_DPO = -log sigmoid(beta * ((log pi(y_c|x) - log ref(y_c|x)) - (log pi(y_r|x) - log ref(y_r|x))))

where ``log pi(y|x)`` sums the step's token log-probabilities, the reference ``ref`` is a
frozen copy of the initial policy (no gradients, eval mode), and a step's tokens are its
text followed by the separator (the policy then writes another step) or, for a step that
ended the solution, by the end-of-sequence token, exactly what generation produces. With
``sft_weight`` s > 0 the loss adds ``s * L_NLL``, the chosen step's negative log-likelihood
per token (RPO: Pang et al. 2024, "Iterative Reasoning Preference Optimization",
https://arxiv.org/abs/2404.19733):

    L_NLL = -log pi(y_c|x) / |y_c|        (|y_c|: the chosen step's token count, as above)

both terms averaged over the batch's pairs (RPO writes ``L_NLL + alpha * L_DPO``: the same
up to the learning rate's scale, with s = 1 / alpha). DPO alone can lower the chosen step's
likelihood as well as the rejected one's (only their difference counts), and a small policy
then forgets how to write right steps; the NLL term keeps the chosen steps likely. With
``value_weight`` w > 0 the loss adds ``w * L_V``, ``L_V`` the value head's MSE of
``sigmoid(logit)`` against ``(Q + 1) / 2`` of both states of every pair, read at the step's
separator as :class:`~mathverify.scoring.value.ValueScorer` reads it (the head and the saved
directory are :class:`~mathverify.training.value.ValueModel`'s, so the result is a policy and
a scorer at once; likelihood features are detached, so the value loss moves the policy only
through the hidden state). The paper trains its value model "from the perspective of
learning-to-rank" on the step pairs as well as on Q (abstract; summaries of its method name
a margin loss beside the MSE). ``value_loss="mse+margin"`` adds a ranking term of the common
hinge form, per pair:

    L_margin = max(0, m - (V(x, y_c) - V(x, y_r))),   V = 2 sigmoid(logit) - 1

(V on the Q scale [-1, 1], read where ``L_V`` reads it), so ``L_V`` becomes
``L_MSE + w_m * mean(L_margin)``. The form, the margin ``m`` (``value_margin``, 0.5) and the
weight ``w_m`` (``value_margin_weight``, 1) are ours: the paper's method section (its
equation and weights) was not at hand when this was written, and Super_MARIO, the authors'
repository, releases no SVPO training code (its implementation_details.md gives AlphaMath's
value MSE only), so a run that means to follow the paper should check all three against it.
With m at most the pairs' least Q gap (the example keeps gaps of at least 0.5) the term
never asks V for more separation than Q has, so it does not pull against the MSE's optimum
(V = Q). Every logging step also logs the mean summed
log-probability of the chosen and of the rejected steps under the policy (``logps/chosen``,
``logps/rejected``), over the pairs trained on since the last log.

Why not TRL's ``DPOTrainer``: it appends the end-of-sequence token to every chosen and
rejected completion (``add_eos`` in ``trl/trainer/dpo_trainer.py``, trl 1.16), which for a
step in the middle of a solution would teach the policy to stop after it; and the joint value
loss needs the hidden states of the same forward pass at the step's separator, which its
concatenated forward does not expose without overriding private methods. So the loss is our
own on ``transformers.Trainer`` (about the size of the code such overrides would take).

Not here: the pairs (labeling/pairs.py), SFT (training/policy.py).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedTokenizerBase, Trainer, TrainingArguments

from mathverify.errors import MathverifyError, RecordError
from mathverify.models.card import ModelCard
from mathverify.models.verifier import (
    IGNORE,
    load_backbone,
    load_tokenizer,
    pad_id,
    save_verifier,
    step_index_row,
    step_statistics,
    token_logprobs,
)
from mathverify.models.verifier_examples import tokenize_prm_example
from mathverify.prompting import PromptFormat
from mathverify.records import Problem, StepPair, display_name, iter_json_lines
from mathverify.training.common import count_parameters, set_seed, trainer_kwargs
from mathverify.training.policy import PolicyTrainConfig, TrainResult
from mathverify.training.value import ValueModel, value_loss
from mathverify.training.verifier_common import ListDataset, init_prompt_format

__all__ = [
    "PairExample",
    "SVPORow",
    "completion_logps",
    "dpo_loss",
    "nll_loss",
    "value_margin_loss",
    "read_pairs",
    "tokenize_pair",
    "train_svpo",
]


# --------------------------------------------------------------------------------------
# Loss


def completion_logps(
    logits: torch.Tensor, input_ids: torch.Tensor, completion_mask: torch.Tensor
) -> torch.Tensor:
    """[B]: the summed log-probability of the tokens where ``completion_mask`` is 1."""
    return (token_logprobs(logits, input_ids) * completion_mask.float()).sum(-1)


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """Per pair: ``-log sigmoid(beta * ((pi_c - ref_c) - (pi_r - ref_r)))`` (DPO, sigmoid)."""
    margin = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)
    return -F.logsigmoid(beta * margin)


def nll_loss(policy_chosen: torch.Tensor, chosen_lengths: torch.Tensor) -> torch.Tensor:
    """Per pair: ``-pi_c / |y_c|``, the chosen step's negative log-likelihood per token (RPO)."""
    return -policy_chosen / chosen_lengths.clamp(min=1).to(policy_chosen.dtype)


def value_margin_loss(
    chosen_logits: torch.Tensor, rejected_logits: torch.Tensor, margin: float
) -> torch.Tensor:
    """Per pair: ``max(0, margin - (V_c - V_r))`` with ``V = 2 sigmoid(logit) - 1``."""
    chosen = 2.0 * torch.sigmoid(chosen_logits.float()) - 1.0
    rejected = 2.0 * torch.sigmoid(rejected_logits.float()) - 1.0
    return F.relu(margin - (chosen - rejected))


# --------------------------------------------------------------------------------------
# Data


@dataclass
class SVPORow:
    """One tokenised sequence: a DPO completion (``completion_start`` >= 0), a value target
    (``value_position`` >= 0), or both."""

    input_ids: list[int]
    completion_start: int = -1
    value_position: int = -1
    value_target: float | None = None
    step_start: int = 0
    score_positions: list[int] = field(default_factory=list)


@dataclass
class PairExample:
    """A pair's rows: chosen, rejected, then value-only rows (finished steps, with a value).

    ``chosen_value_row`` / ``rejected_value_row``: which of the rows (0 chosen, 1 rejected,
    2 on the value rows) holds each step's value target; -1 without values.
    """

    chosen: SVPORow
    rejected: SVPORow
    value_rows: list[SVPORow] = field(default_factory=list)
    group: str = ""
    chosen_value_row: int = -1
    rejected_value_row: int = -1


def _step_rows(
    tokenizer: PreTrainedTokenizerBase,
    prompt_format: PromptFormat,
    problem: str,
    prefix: list[str],
    step: str,
    finished: bool,
    q: float,
    with_value: bool,
) -> tuple[SVPORow, SVPORow | None]:
    """The DPO row of ``step`` after ``prefix`` and, for a finished step, a value-only row."""
    prompt = prompt_format.prefix(problem, prefix)
    target = (q + 1.0) / 2.0 if with_value else None
    steps = [*prefix, step]
    # Value reading as the scorer does: prompt, steps, each followed by the separator.
    scored = tokenize_prm_example(
        tokenizer, prompt_format, problem, steps, [None] * len(prefix) + [target]
    )
    if finished:
        text = prompt + step
        encoding = tokenizer(text, return_offsets_mapping=True, add_special_tokens=True)
        ids = list(encoding["input_ids"])
        if not ids or ids[-1] != tokenizer.eos_token_id:
            ids.append(tokenizer.eos_token_id)
        offsets = list(encoding["offset_mapping"])
    else:
        ids = list(scored["input_ids"])
        encoding = tokenizer(
            prompt + step + prompt_format.separator,
            return_offsets_mapping=True,
            add_special_tokens=True,
        )
        if list(encoding["input_ids"]) != ids:  # the same text; a safeguard
            raise MathverifyError("the step's text tokenizes differently from the scorer's")
        offsets = list(encoding["offset_mapping"])
    start = next((t for t, (a, b) in enumerate(offsets) if a < b and b > len(prompt)), len(ids))
    value_row = None
    row = SVPORow(input_ids=ids, completion_start=start)
    positions = list(scored["score_positions"])
    if with_value:
        if finished:
            value_row = SVPORow(
                input_ids=list(scored["input_ids"]),
                value_position=positions[-1],
                value_target=target,
                step_start=int(scored["step_start"]),
                score_positions=positions,
            )
        else:
            row.value_position = positions[-1]
            row.value_target = target
            row.step_start = int(scored["step_start"])
            row.score_positions = positions
    return row, value_row


def tokenize_pair(
    tokenizer: PreTrainedTokenizerBase,
    prompt_format: PromptFormat,
    problem: str,
    pair: StepPair,
    *,
    with_value: bool = False,
) -> PairExample:
    """The rows of one pair; pure (no model)."""
    chosen, chosen_value = _step_rows(
        tokenizer,
        prompt_format,
        problem,
        pair.prefix,
        pair.chosen,
        pair.chosen_finished,
        pair.chosen_q,
        with_value,
    )
    rejected, rejected_value = _step_rows(
        tokenizer,
        prompt_format,
        problem,
        pair.prefix,
        pair.rejected,
        pair.rejected_finished,
        pair.rejected_q,
        with_value,
    )
    extra = [row for row in (chosen_value, rejected_value) if row is not None]
    example = PairExample(chosen, rejected, extra, group=pair.problem_id)
    if with_value:
        example.chosen_value_row = 0 if chosen_value is None else 2
        example.rejected_value_row = 1 if rejected_value is None else 1 + len(extra)
    return example


def read_pairs(path: str) -> list[tuple[int, StepPair]]:
    """Step pairs with their line numbers; a bad record is a file:line:field error."""
    name = display_name(path)
    return [(n, StepPair.from_dict(obj, path=name, line=n)) for n, obj in iter_json_lines(path)]


def build_pair_examples(
    pairs: Sequence[tuple[int, StepPair]],
    problems: Mapping[str, Problem],
    tokenizer: PreTrainedTokenizerBase,
    prompt_format: PromptFormat,
    max_length: int,
    *,
    source: str = "<input>",
    with_value: bool = False,
) -> tuple[list[PairExample], int]:
    """(examples, how many pairs were dropped for a row longer than ``max_length``)."""
    examples: list[PairExample] = []
    too_long = 0
    for line, pair in pairs:
        problem = problems.get(pair.problem_id)
        if problem is None:
            raise RecordError(
                source, line, f"{pair.problem_id!r} not in the problems file", field="problem_id"
            )
        try:
            example = tokenize_pair(
                tokenizer, prompt_format, problem.problem, pair, with_value=with_value
            )
        except MathverifyError as exc:
            raise RecordError(source, line, str(exc), field="chosen") from None
        rows = [example.chosen, example.rejected, *example.value_rows]
        if any(len(r.input_ids) > max_length for r in rows):
            too_long += 1
            continue
        examples.append(example)
    return examples, too_long


class PairCollator:
    """Flattens a batch of pairs into padded rows plus the indices of chosen/rejected rows."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, batch: Sequence[PairExample]) -> dict[str, torch.Tensor]:
        rows: list[SVPORow] = []
        chosen, rejected = [], []
        # (row, position) of each pair's chosen / rejected value, for the margin term.
        chosen_value: list[tuple[int, int]] = []
        rejected_value: list[tuple[int, int]] = []
        for example in batch:
            first = len(rows)
            chosen.append(first)
            rows.append(example.chosen)
            rejected.append(len(rows))
            rows.append(example.rejected)
            rows.extend(example.value_rows)
            if example.chosen_value_row >= 0 and example.rejected_value_row >= 0:
                for index, found in (
                    (example.chosen_value_row, chosen_value),
                    (example.rejected_value_row, rejected_value),
                ):
                    found.append((first + index, rows[first + index].value_position))
        width = max(len(r.input_ids) for r in rows)
        n = len(rows)
        input_ids = torch.full((n, width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((n, width), dtype=torch.long)
        completion_mask = torch.zeros((n, width), dtype=torch.long)
        value_labels = torch.full((n, width), IGNORE, dtype=torch.float32)
        step_index = torch.full((n, width), -1, dtype=torch.long)
        for i, row in enumerate(rows):
            length = len(row.input_ids)
            input_ids[i, :length] = torch.tensor(row.input_ids, dtype=torch.long)
            attention_mask[i, :length] = 1
            if row.completion_start >= 0:
                completion_mask[i, row.completion_start : length] = 1
            if row.value_position >= 0 and row.value_target is not None:
                value_labels[i, row.value_position] = float(row.value_target)
                step_index[i, :length] = torch.tensor(
                    step_index_row(length, row.step_start, row.score_positions)
                )
        out = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "completion_mask": completion_mask,
            "value_labels": value_labels,
            "step_index": step_index,
            "chosen_rows": torch.tensor(chosen, dtype=torch.long),
            "rejected_rows": torch.tensor(rejected, dtype=torch.long),
        }
        if len(chosen_value) == len(batch):
            # Flat indices into a [rows, width] map of value logits.
            out["chosen_value_index"] = torch.tensor([r * width + t for r, t in chosen_value])
            out["rejected_value_index"] = torch.tensor([r * width + t for r, t in rejected_value])
        return out


# --------------------------------------------------------------------------------------
# Model and trainer


class SVPOPolicy(nn.Module):
    """The policy being trained: a causal LM, with a value head when ``value`` is given."""

    def __init__(self, backbone: nn.Module, value: ValueModel | None = None) -> None:
        super().__init__()
        self.value = value
        # Registered once: through the value model when there is one.
        self.backbone = backbone if value is None else None

    @property
    def lm(self) -> Any:
        return self.value.backbone if self.value is not None else self.backbone

    def forward(
        self, batch: Mapping[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.compute_pieces(batch)

    def compute_pieces(
        self, batch: Mapping[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(summed completion log-probabilities per row, value logits or None)."""
        out = self.lm(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            output_hidden_states=self.value is not None,
        )
        tokens = token_logprobs(out.logits, batch["input_ids"])
        logps = (tokens * batch["completion_mask"].float()).sum(-1)
        if self.value is None:
            return logps, None
        hidden = out.hidden_states[-1]
        inputs = hidden
        if self.value.step_features == "likelihood":
            features = step_statistics(tokens.detach(), batch["step_index"])
            inputs = torch.cat([hidden, features.to(hidden.dtype)], dim=-1)
        return logps, self.value.head(inputs.to(self.value.head_dtype))


class SVPOTrainer(Trainer):
    """``transformers.Trainer`` with the SVPO loss; ``ref_model`` stays frozen, outside the
    trained model (so ``model.train()`` never touches it and the optimizer never sees it)."""

    def __init__(
        self,
        *args: Any,
        ref_model: nn.Module,
        beta: float,
        value_weight: float,
        sft_weight: float = 0.0,
        value_margin_weight: float = 0.0,
        value_margin: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.ref_model = ref_model
        self.beta = beta
        self.value_weight = value_weight
        self.sft_weight = sft_weight
        # 0 = the value MSE alone (value_loss "mse").
        self.value_margin_weight = value_margin_weight
        self.value_margin = value_margin
        # Sums of the policy's chosen / rejected log-probabilities and their count, since the
        # last log; kept as tensors so that a training step does not wait on the device.
        self._logp_sums: list[torch.Tensor] = []
        self._logp_count = 0

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, torch.Tensor],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> Any:
        policy: SVPOPolicy = getattr(model, "module", model)
        logps, value_logits = policy.compute_pieces(inputs)
        dpo_rows = torch.cat([inputs["chosen_rows"], inputs["rejected_rows"]])
        ref = self.ref_model
        if next(ref.parameters()).device != inputs["input_ids"].device:
            ref.to(inputs["input_ids"].device)
        with torch.no_grad():
            ref_out = ref(
                input_ids=inputs["input_ids"][dpo_rows],
                attention_mask=inputs["attention_mask"][dpo_rows],
            )
            ref_logps = completion_logps(
                ref_out.logits, inputs["input_ids"][dpo_rows], inputs["completion_mask"][dpo_rows]
            )
        n = len(inputs["chosen_rows"])
        chosen, rejected = logps[inputs["chosen_rows"]], logps[inputs["rejected_rows"]]
        losses = dpo_loss(chosen, rejected, ref_logps[:n], ref_logps[n:], self.beta)
        loss = losses.mean()
        if self.sft_weight > 0:
            lengths = inputs["completion_mask"][inputs["chosen_rows"]].sum(-1)
            loss = loss + self.sft_weight * nll_loss(chosen, lengths).mean()
        if model.training:
            self._logp_sums.append(torch.stack([chosen.detach().sum(), rejected.detach().sum()]))
            self._logp_count += n
        if value_logits is not None and self.value_weight > 0:
            values = value_loss(value_logits, inputs["value_labels"], "mse")
            if self.value_margin_weight > 0:
                flat = value_logits[..., 0].reshape(-1)
                margins = value_margin_loss(
                    flat[inputs["chosen_value_index"]],
                    flat[inputs["rejected_value_index"]],
                    self.value_margin,
                )
                values = values + self.value_margin_weight * margins.mean()
            loss = loss + self.value_weight * values
        return (loss, {"loss": loss}) if return_outputs else loss

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        """Adds ``logps/chosen`` and ``logps/rejected`` (means since the last log) to a
        training log."""
        if "loss" in logs and self._logp_count:
            sums = torch.stack(self._logp_sums).sum(0) / self._logp_count
            logs["logps/chosen"], logs["logps/rejected"] = sums.tolist()
            self._logp_sums, self._logp_count = [], 0
        super().log(logs, *args, **kwargs)


def _init_policy(config: PolicyTrainConfig) -> tuple[SVPOPolicy, nn.Module]:
    """(the policy to train, the frozen reference: a copy of the initial causal LM)."""
    assert config.init is not None
    if config.value_weight > 0:
        from mathverify.training.value import init_value_model
        from mathverify.training.value_config import ValueTrainConfig

        value = init_value_model(
            ValueTrainConfig(
                input="",
                problems="",
                output=config.output_dir,
                init=config.init,
                sft_weight=0.0,
                step_features=config.value_features,
                head=config.value_head,
                seed=config.seed,
            )
        )
        lm_head = value.backbone.get_output_embeddings()
        if lm_head is not None:
            lm_head.weight.requires_grad_(True)  # the DPO loss trains the LM head
        policy = SVPOPolicy(value.backbone, value)
    else:
        set_seed(config.seed)
        policy = SVPOPolicy(load_backbone(config.init))
    ref = copy.deepcopy(policy.lm)
    ref.eval()
    ref.requires_grad_(False)
    return policy, ref


def _card(
    config: PolicyTrainConfig, prompt_format: PromptFormat, base: str, extra: dict[str, Any]
) -> ModelCard:
    if config.value_weight > 0:
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
                "freeze_policy": False,
                "step_features": config.value_features,
                "head": config.value_head,
                "max_length": config.max_length,
                **extra,
            },
        )
    return ModelCard(kind="policy", prompt=prompt_format, base_model=base, extra=extra)


@dataclass
class Prepared:
    """A trainer ready to run, with what saving needs."""

    trainer: SVPOTrainer
    policy: SVPOPolicy
    tokenizer: PreTrainedTokenizerBase
    prompt_format: PromptFormat
    base: str
    n_pairs: int
    n_too_long: int


def prepare_svpo(
    pairs_path: str, problems: Mapping[str, Problem], config: PolicyTrainConfig
) -> Prepared:
    """Read and tokenise the pairs, build the policy, its frozen reference and the trainer."""
    config.validate()
    assert config.init is not None
    tokenizer = load_tokenizer(config.init)
    prompt_format, base = init_prompt_format(
        config.init, tokenizer, config.prompt_kind, config.system
    )
    pairs = read_pairs(pairs_path)
    if not pairs:
        raise MathverifyError(f"{pairs_path}: no step pairs")
    examples, too_long = build_pair_examples(
        pairs,
        problems,
        tokenizer,
        prompt_format,
        config.max_length,
        source=display_name(pairs_path),
        with_value=config.value_weight > 0,
    )
    if not examples:
        raise MathverifyError(f"every pair is longer than --max-length {config.max_length}")
    policy, ref = _init_policy(config)
    args = TrainingArguments(
        **trainer_kwargs(
            output_dir=config.output_dir,
            max_steps=config.max_steps,
            batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            seed=config.seed,
            warmup=config.warmup,
            weight_decay=config.weight_decay,
            scheduler=config.scheduler,
            logging_steps=config.logging_steps,
        ),
        remove_unused_columns=False,
    )
    trainer = SVPOTrainer(
        model=policy,
        args=args,
        data_collator=PairCollator(pad_id(tokenizer)),
        train_dataset=ListDataset(examples),
        processing_class=tokenizer,
        ref_model=ref,
        beta=config.beta,
        value_weight=config.value_weight,
        sft_weight=config.sft_weight,
        value_margin_weight=(
            config.value_margin_weight if config.value_loss == "mse+margin" else 0.0
        ),
        value_margin=config.value_margin,
    )
    return Prepared(trainer, policy, tokenizer, prompt_format, base, len(examples), too_long)


def train_svpo(
    pairs_path: str, problems: Mapping[str, Problem], config: PolicyTrainConfig
) -> TrainResult:
    """Train ``config.init`` with the SVPO loss on the pairs in ``pairs_path``; saves the
    policy (a value directory when ``config.value_weight > 0``) to ``config.output_dir``."""
    prepared = prepare_svpo(pairs_path, problems, config)
    trainer, policy, tokenizer = prepared.trainer, prepared.policy, prepared.tokenizer
    output_dir = Path(config.output_dir)
    too_long = prepared.n_too_long
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    losses = [row["loss"] for row in trainer.state.log_history if "loss" in row]
    final_loss = float(losses[-1]) if losses and math.isfinite(losses[-1]) else None
    n_pairs = prepared.n_pairs
    extra = {
        "trainer": "mathverify.training.svpo",
        "objective": "svpo",
        "beta": config.beta,
        "value_weight": config.value_weight,
        "sft_weight": config.sft_weight,
        **(
            {
                "value_loss": config.value_loss,
                "value_margin": config.value_margin,
                "value_margin_weight": config.value_margin_weight,
            }
            if config.value_loss == "mse+margin"
            else {}
        ),
        "steps": int(trainer.state.global_step),
        "batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        "seed": config.seed,
        "n_pairs": n_pairs,
        "n_pairs_too_long": too_long,
        "final_loss": final_loss,
    }
    card = _card(config, prepared.prompt_format, prepared.base, extra)
    if policy.value is not None:
        save_verifier(policy.value, output_dir, tokenizer, card)
    else:
        policy.lm.save_pretrained(str(output_dir))
        tokenizer.save_pretrained(str(output_dir))
        card.save(output_dir)
    return TrainResult(
        output_dir=output_dir,
        n_examples=n_pairs,
        n_parameters=count_parameters(policy.lm),
        steps=int(trainer.state.global_step),
        final_loss=final_loss,
        seconds=seconds,
        tokens_per_second=0.0,
    )
