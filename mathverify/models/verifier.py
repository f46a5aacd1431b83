"""The verifier model shared by training and scoring: a causal LM backbone plus a score head,
its on-disk format, and the collator that batches tokenised examples.

A verifier is a causal LM backbone (any ``AutoModelForCausalLM``: a policy directory or a
Hugging Face path) plus a small linear head on the backbone's last hidden state. Each
example marks *score positions* (one per step for a PRM, the last token for an ORM) with a
target; every other position is masked. The head reads 1 logit (binary cross-entropy on a
target in [0, 1]) or 3 logits (cross-entropy over PRM800K's classes).

On disk a verifier is a plain Hugging Face directory: the backbone's ``save_pretrained``
files (so the backbone still loads as a causal LM), ``verifier_head.safetensors``, the
tokenizer, and ``mathverify.json`` (kind ``prm``/``orm``/``value``). Trainer checkpoints
(``OUTPUT/checkpoint-N``) have the same format plus optimizer and trainer state, so any
checkpoint also loads as a scorer.

Not here: how one example is tokenised (:mod:`mathverify.models.verifier_examples`), the
trainer (:mod:`mathverify.training.verifier_common`), scoring (:mod:`mathverify.scoring`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from mathverify.errors import MathverifyError
from mathverify.models.card import ModelCard, load_card

# How a three-class PRM's step score is read from its probabilities (stored in the card).
THREE_CLASS_SCORES = ("not_negative", "positive")
HEAD_FILE = "verifier_head.safetensors"
IGNORE = -100.0  # label value of positions without a loss (real targets are >= 0)


# --------------------------------------------------------------------------------------
# Model


STEP_FEATURES = ("hidden", "likelihood")
# The score head: one linear layer, or a two-layer perceptron of MLP_WIDTH units.
HEADS = ("linear", "mlp")
MLP_WIDTH = 256
# What a "likelihood" head reads besides the hidden state: the sum, mean and minimum of the
# step's token log-probabilities under the backbone's own language-model head.
N_LIKELIHOOD_FEATURES = 3


class VerifierModel(nn.Module):
    """A causal LM backbone plus a score head (linear, or a small MLP) at every position.

    ``forward`` returns ``{"logits": [B, T, n_outputs]}`` and, with ``labels`` ([B, T],
    ``IGNORE`` where there is no target), ``"loss"``: the mean binary cross-entropy
    (``n_outputs == 1``, float targets in [0, 1]) or cross-entropy (``n_outputs == 3``,
    class indices) over the labeled positions of the batch.

    With ``step_features="likelihood"`` the head also reads, at each token, how likely the
    backbone finds the tokens of that token's step (:func:`step_likelihood_features`;
    ``forward`` then needs ``step_index``). A small model fine-tuned on a few thousand
    labeled solutions learns from its hidden state mostly how hard a problem is; whether
    *this* step is the one the model would have written is in its token log-probabilities,
    which the last hidden state at the separator does not hold.
    """

    def __init__(
        self,
        backbone: PreTrainedModel,
        n_outputs: int,
        step_features: str = "hidden",
        head: str = "linear",
        freeze_backbone: bool = False,
    ) -> None:
        super().__init__()
        if n_outputs not in (1, 3):
            raise ValueError("a verifier head has 1 (BCE) or 3 (three-class CE) outputs")
        if step_features not in STEP_FEATURES:
            raise MathverifyError(
                f"step features {step_features!r}: choose one of {', '.join(STEP_FEATURES)}"
            )
        if head not in HEADS:
            raise MathverifyError(f"head {head!r}: choose one of {', '.join(HEADS)}")
        self.backbone = backbone
        self.n_outputs = n_outputs
        self.step_features = step_features
        hidden = backbone.config.get_text_config().hidden_size
        extra = N_LIKELIHOOD_FEATURES if step_features == "likelihood" else 0
        width = hidden + extra
        self.head: nn.Module = (
            nn.Linear(width, n_outputs)
            if head == "linear"
            else nn.Sequential(
                nn.Linear(width, MLP_WIDTH), nn.ReLU(), nn.Linear(MLP_WIDTH, n_outputs)
            )
        )
        if freeze_backbone:
            # Only the head learns: the backbone (and its log-probabilities) stay the init's.
            backbone.requires_grad_(False)
        elif step_features == "hidden":
            _freeze_untied_lm_head(backbone)

    @property
    def head_dtype(self) -> torch.dtype:
        return next(self.head.parameters()).dtype

    def hidden_states(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None
    ) -> torch.Tensor:
        body = self.backbone.base_model
        if body is not self.backbone:
            # The decoder alone: skips the vocabulary projection, which the head never reads.
            return body(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        out = self.backbone(
            input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True
        )
        return out.hidden_states[-1]

    def head_inputs(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        step_index: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """What the head reads at every position: [B, T, hidden (+ 3 likelihood features)]."""
        if self.step_features == "hidden":
            return self.hidden_states(input_ids, attention_mask)
        if step_index is None:
            raise MathverifyError("a verifier with likelihood features needs step_index")
        out = self.backbone(
            input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True
        )
        hidden = out.hidden_states[-1]
        features = step_likelihood_features(out.logits, input_ids, step_index)
        return torch.cat([hidden, features.to(hidden.dtype)], dim=-1)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        step_index: torch.Tensor | None = None,
        features: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Scores at every position. ``features`` (what :meth:`head_inputs` returns, computed
        once when the backbone is frozen: [B, S, width]) skips the backbone."""
        if features is None:
            if input_ids is None:
                raise MathverifyError("a verifier forward needs input_ids or features")
            features = self.head_inputs(input_ids, attention_mask, step_index)
        logits = self.head(features.to(self.head_dtype))
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = verifier_loss(logits, labels)
        return out


def step_likelihood_features(
    logits: torch.Tensor, input_ids: torch.Tensor, step_index: torch.Tensor
) -> torch.Tensor:
    """Per token: the sum, mean and minimum log-probability of the tokens of its step.

    ``step_index`` [B, T] gives each token's step (-1: prompt or padding); a step's tokens
    are those from just after the previous step's score position up to its own, so at a
    score position the features describe exactly the step it scores. Token 0 has no
    prediction and counts as log-probability 0. Tokens outside every step get zeros.
    """
    return step_statistics(token_logprobs(logits, input_ids), step_index)


def token_logprobs(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """[B, T]: the log-probability of each token given those before it (0 for token 0)."""
    logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    return F.pad(logprobs.gather(-1, input_ids[:, 1:, None])[..., 0], (1, 0))


def step_statistics(token: torch.Tensor, step_index: torch.Tensor) -> torch.Tensor:
    """[B, T, 3]: the sum, mean and minimum of ``token`` over each token's step (see above)."""
    slot = step_index.long().clamp(min=-1) + 1  # 0: in no step
    slots = int(slot.max()) + 1 if slot.numel() else 1
    shape = (token.shape[0], slots)
    total = token.new_zeros(shape).scatter_add(1, slot, token)
    count = token.new_zeros(shape).scatter_add(1, slot, torch.ones_like(token))
    lowest = token.new_zeros(shape).scatter_reduce(1, slot, token, "amin", include_self=False)
    per_step = torch.stack([total, total / count.clamp(min=1.0), lowest], dim=-1)
    per_token = per_step.gather(1, slot[..., None].expand(-1, -1, N_LIKELIHOOD_FEATURES))
    return per_token * (slot > 0)[..., None]


def step_index_row(length: int, step_start: int, score_positions: Sequence[int]) -> list[int]:
    """Each token's step for one example: -1 before ``step_start`` and after the last step."""
    row = [-1] * length
    start = step_start
    for step, position in enumerate(score_positions):
        for t in range(max(start, 0), min(position + 1, length)):
            row[t] = step
        start = position + 1
    return row


def verifier_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean loss over positions whose label is not ``IGNORE`` (0 with a gradient if none)."""
    mask = labels != IGNORE
    if not bool(mask.any()):
        # Keeps every parameter in the graph, so distributed gradient reduction still matches.
        return logits.sum() * 0.0
    picked = logits[mask].float()
    targets = labels[mask]
    if logits.shape[-1] == 1:
        return F.binary_cross_entropy_with_logits(picked[:, 0], targets.float())
    return F.cross_entropy(picked, targets.long())


def _freeze_untied_lm_head(backbone: PreTrainedModel) -> None:
    """The head reads hidden states, so an untied LM head gets no gradient: freeze it.

    Distributed data parallel would otherwise wait for its gradient forever (or need the
    slower ``find_unused_parameters``). A tied head is the input embedding and stays trainable.
    """
    lm_head = backbone.get_output_embeddings()
    embeddings = backbone.get_input_embeddings()
    if lm_head is None or embeddings is None:
        return
    if lm_head.weight is not embeddings.weight:
        lm_head.weight.requires_grad_(False)


def load_backbone(path: str | Path, dtype: torch.dtype | None = None) -> PreTrainedModel:
    """A causal LM from a directory or Hugging Face path, with a clear error when it is not one."""
    try:
        return AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype or torch.float32)
    except (OSError, ValueError) as exc:
        raise MathverifyError(f"{path}: cannot load a causal LM ({_first_line(exc)})") from exc


def _first_line(exc: Exception) -> str:
    """The first non-blank line of an exception's message (or its type's name)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


# Files one of which a saved tokenizer has (fast: tokenizer.json; slow: a vocabulary).
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "vocab.json",
    "vocab.txt",
)


def check_tokenizer_files(path: str | Path) -> None:
    """Refuse a local folder without tokenizer files (a hub name passes): transformers 5.4
    would build the config's tokenizer class with an empty vocabulary instead of failing."""
    if Path(path).is_dir() and not any((Path(path) / name).is_file() for name in TOKENIZER_FILES):
        raise MathverifyError(
            f"{path}: cannot load a tokenizer (no tokenizer files: {', '.join(TOKENIZER_FILES)})"
        )


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerBase:
    """A fast tokenizer from a directory or Hugging Face path, with a clear error when there is
    none.

    A local folder must hold tokenizer files: given a model folder without them, transformers
    5.4 builds the model type's tokenizer with an empty vocabulary (8 tokens, every word the
    unknown token) instead of failing, and 5.25 raises a multi-line ValueError; a folder
    without a config makes 5.4 try the sentencepiece route (ImportError without protobuf).
    """
    check_tokenizer_files(path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError, ImportError) as exc:
        raise MathverifyError(f"{path}: cannot load a tokenizer ({_first_line(exc)})") from exc
    if not tokenizer.is_fast:
        raise MathverifyError(
            f"{path}: a fast tokenizer is needed (offsets locate the step separator)"
        )
    return tokenizer


def pad_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The id used for padding; any id works since padded positions are masked."""
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    return 0


def default_max_length(tokenizer: PreTrainedTokenizerBase, backbone: PreTrainedModel) -> int:
    limits = [getattr(backbone.config.get_text_config(), "max_position_embeddings", None)]
    # Tokenizers without a limit report a huge sentinel (int(1e30)).
    if tokenizer.model_max_length and tokenizer.model_max_length < 1_000_000:
        limits.append(tokenizer.model_max_length)
    known = [int(x) for x in limits if x]
    return min(known) if known else 2048


def save_verifier(
    model: VerifierModel,
    directory: str | Path,
    tokenizer: PreTrainedTokenizerBase | None,
    card: ModelCard,
    state_dict: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write ``model`` as a Hugging Face directory that :func:`load_verifier` reads back."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if state_dict is None:
        state_dict = model.state_dict()
    backbone_state = {
        k[len("backbone.") :]: v for k, v in state_dict.items() if k.startswith("backbone.")
    }
    head_state = {
        k[len("head.") :]: v.detach().contiguous().cpu()
        for k, v in state_dict.items()
        if k.startswith("head.")
    }
    model.backbone.save_pretrained(directory, state_dict=backbone_state)
    save_file(head_state, str(directory / HEAD_FILE), metadata={"format": "pt"})
    if tokenizer is not None:
        tokenizer.save_pretrained(directory)
    card.save(directory)
    return directory


def load_verifier_weights(model: VerifierModel, directory: str | Path) -> None:
    """Load backbone and head weights saved by :func:`save_verifier` into ``model``."""
    directory = Path(directory)
    saved = load_backbone(directory, dtype=next(model.backbone.parameters()).dtype)
    model.backbone.load_state_dict(saved.state_dict())
    model.head.load_state_dict(_read_head(directory))


def _read_head(directory: Path) -> dict[str, torch.Tensor]:
    path = directory / HEAD_FILE
    if not path.exists():
        raise MathverifyError(f"{directory}: no {HEAD_FILE}; not a verifier saved by mathverify")
    return load_file(str(path))


def _head_outputs(head: dict[str, torch.Tensor]) -> int:
    """Outputs of a saved head: the rows of its (last) linear layer."""
    if "weight" in head:
        return int(head["weight"].shape[0])
    layers = [k for k in head if k.endswith(".weight") and k.split(".")[0].isdigit()]
    if not layers:
        raise MathverifyError(f"{HEAD_FILE}: no linear layer in the saved head")
    return int(head[max(layers, key=lambda k: int(k.split(".")[0]))].shape[0])


def load_verifier(
    directory: str | Path,
    *,
    expect: str | tuple[str, ...] = ("prm", "orm"),
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> tuple[VerifierModel, PreTrainedTokenizerBase, ModelCard]:
    """A saved verifier (eval mode, on ``device``), its tokenizer and its card."""
    card = load_card(directory, expect=expect)
    head = _read_head(Path(directory))
    n_outputs = _head_outputs(head)
    backbone = load_backbone(directory, dtype=dtype)
    model = VerifierModel(
        backbone,
        n_outputs,
        card.extra.get("step_features", "hidden"),
        card.extra.get("head", "linear"),
    )
    model.head.load_state_dict(head)
    model.to(device=device or auto_device(), dtype=dtype or torch.float32)
    model.eval()
    tokenizer = load_tokenizer(directory)
    card.prompt = card.prompt.bind(tokenizer)  # a chat format renders with the saved template
    return model, tokenizer, card


def auto_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def weights_sha256(model: nn.Module) -> str:
    """A hash of all weights (names, shapes, fp32 values); equal on every rank after DDP training."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------------------
# Data


@dataclass
class Example:
    """One tokenised training example: ids plus (position, target) pairs."""

    input_ids: list[int]
    score_positions: list[int]
    labels: list[float | None]
    group: str = ""  # the problem id; the eval split never separates a problem's solutions
    step_start: int | None = None  # the first token of step 0 (likelihood features need it)


class VerifierCollator:
    """Right-pads a batch and spreads each example's targets onto a [B, T] label tensor.

    With ``step_index`` the batch also carries each token's step ([B, T], -1 outside the
    steps), which a verifier with likelihood features reads.
    """

    def __init__(self, pad_token_id: int, *, step_index: bool = False) -> None:
        self.pad_token_id = pad_token_id
        self.step_index = step_index

    def __call__(self, batch: Sequence[Example | dict[str, Any]]) -> dict[str, torch.Tensor]:
        items = [b if isinstance(b, Example) else Example(**b) for b in batch]
        width = max(len(x.input_ids) for x in items)
        input_ids = torch.full((len(items), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(items), width), dtype=torch.long)
        labels = torch.full((len(items), width), IGNORE, dtype=torch.float32)
        for row, item in enumerate(items):
            n = len(item.input_ids)
            input_ids[row, :n] = torch.tensor(item.input_ids, dtype=torch.long)
            attention_mask[row, :n] = 1
            for position, target in zip(item.score_positions, item.labels, strict=True):
                if target is not None:
                    labels[row, position] = float(target)
        batch = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
        if self.step_index:
            batch["step_index"] = step_index_batch(items, width)
        return batch


def step_index_batch(items: Sequence[Any], width: int) -> torch.Tensor:
    """[B, width]: each token's step (:func:`step_index_row`) for examples carrying
    ``step_start`` and ``score_positions``; a row with no score position stays -1."""
    steps = torch.full((len(items), width), -1, dtype=torch.long)
    for row, item in enumerate(items):
        if not item.score_positions:
            continue
        if item.step_start is None:
            raise MathverifyError("an example without step_start; tokenise it again")
        steps[row] = torch.tensor(step_index_row(width, item.step_start, item.score_positions))
    return steps
