"""Public PRMs and reward models as scorers, each scored the way its authors score it.

A directory (or hub name) without ``mathverify.json`` is a scorer in one of these formats,
named with ``--scorer-format`` or found by :func:`detect_format`. Every format runs on the
same engine as our own PRMs (:class:`~mathverify.scoring.prm.TokenScorer`: batches of
similar lengths, and solutions that share all but their last step share one encoding of
their common prefix, kept across search depths): a format only says how a solution becomes
token ids with one *score position* per step, and which head turns the decoder's hidden
state there into a probability.

- ``math-shepherd`` (peiyi9979/math-shepherd-mistral-7b-prm; model card
  https://huggingface.co/peiyi9979/math-shepherd-mistral-7b-prm and the data card
  https://huggingface.co/datasets/peiyi9979/Math-Shepherd): a causal LM. The input is
  ``f"{question} {output}"`` with ``output = "Step 1: s1 ки\\nStep 2: s2 ки..."``, encoded
  with the tokenizer's BOS; the candidate tokens are ``encode("+ -")`` without the BOS
  (the card's ``[648, 387]``), the step tag id is ``encode("ки")[-1]``; a step's score is
  ``softmax(logits[tag, [+, -]])[0]``, P(+), at its tag. (search-and-learn's
  ``src/sal/models/reward_models.py`` drops the "Step k:" prefixes and adds a system
  prompt; we follow the card.)
- ``qwen-prm`` (Qwen/Qwen2.5-Math-PRM-7B; card https://huggingface.co/Qwen/Qwen2.5-Math-PRM-7B):
  a Qwen2 decoder with a two-class head at every token. The chat template renders system
  "Please reason step by step, and put your final answer within \\boxed{}.", user = the
  problem, assistant = the steps joined by ``<extra_0>`` and ending with one; the text is
  encoded as the card does (``tokenizer.encode``); a step's score is ``softmax(logits)[1]``
  at its ``<extra_0>``. The real checkpoint's class (``Qwen2ForProcessRewardModel``, remote
  code) is a Qwen2 model plus ``score = Linear(h, h) -> ReLU -> Linear(h, 2)`` (as vLLM's
  and SGLang's ``qwen2_rm.py`` rebuild it); we load it without remote code: the decoder with
  transformers' own Qwen2 class, the two head layers from the checkpoint's ``score.0`` and
  ``score.2`` tensors. A ``*ForTokenClassification`` checkpoint with two labels (a linear
  head) loads as it is.
- ``rlhflow`` (RLHFlow/Llama3.1-8B-PRM-Deepseek-Data and -Mistral-Data; code
  https://github.com/RLHFlow/RLHF-Reward-Modeling math-rm/prm_evaluate.py, as quoted in
  search-and-learn's ``reward_models.py``): a causal LM fed a chat, first user turn
  ``question + " " + step 1``, each later step a user turn, every assistant turn ``+``;
  encoded as ``apply_chat_template`` encodes (no tokenizer-added special tokens); the
  candidates are ``encode("+")[-1]`` and ``encode("-")[-1]``; step k's score is P(+) over
  {+, -} at the position that predicts step k's assistant ``+`` (the authors read position
  -3 of the chat cut after that turn; causal attention makes it the same logit in the
  whole chat).
- ``orm-seqcls``: ``AutoModelForSequenceClassification`` reward models (e.g.
  Skywork-Reward-Llama-3.1-8B, card https://huggingface.co/Skywork/Skywork-Reward-Llama-3.1-8B):
  the chat (user = problem, assistant = the steps joined by a blank line) rendered by the
  template, a leading BOS text dropped and the rest encoded with the tokenizer's special
  tokens (the card's recipe against a doubled BOS); without a template, problem and
  solution joined by a blank line. The logit is read where transformers pools it (the last
  token that is not the config's pad id). One logit: ``sigmoid(logit)`` (a monotone map of
  the raw reward into (0, 1), so rankings are the raw reward's); two: ``softmax[1]``. Only
  the last step gets the score; the others are None.

Not here: our own PRM/ORM/value directories (``prm.py``, ``orm.py``, ``value.py``).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    DynamicCache,
    DynamicLayer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from mathverify.errors import MathverifyError
from mathverify.models.card import CARD_NAME
from mathverify.models.verifier import default_max_length, load_tokenizer
from mathverify.scoring.prm import TokenScorer
from mathverify.step_scores import StepScores

__all__ = [
    "PUBLIC_FORMATS",
    "SCORER_FORMATS",
    "PublicScorer",
    "detect_format",
    "encode_solution",
]

PUBLIC_FORMATS = ("math-shepherd", "qwen-prm", "rlhflow", "orm-seqcls")
# What --scorer-format accepts: "auto" detects, "mathverify" is a directory with a card.
SCORER_FORMATS = ("auto", "mathverify", *PUBLIC_FORMATS)

STEP_TAG = "ки"
QWEN_SEPARATOR = "<extra_0>"
QWEN_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
SOLUTION_JOIN = "\n\n"


def _unknown(path: str | Path, why: str) -> MathverifyError:
    return MathverifyError(
        f"{path}: {why}; no {CARD_NAME} and no known scorer format: pass --scorer-format "
        f"(one of {', '.join(SCORER_FORMATS[1:])})"
    )


def _read_config(path: str | Path) -> dict[str, Any]:
    local = Path(path)
    if local.is_dir():
        file = local / "config.json"
        if not file.exists():
            raise _unknown(path, "no config.json")
        text = file.read_text(encoding="utf-8")
    else:
        from transformers.utils import cached_file

        try:
            text = Path(cached_file(str(path), "config.json")).read_text(encoding="utf-8")
        except (OSError, ValueError) as exc:
            raise MathverifyError(f"{path}: cannot read its config.json ({exc})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MathverifyError(f"{path}/config.json: invalid JSON ({exc.msg})") from exc
    return data if isinstance(data, dict) else {}


def detect_format(path: str | Path) -> str:
    """The scorer format of ``path``: ``mathverify`` when it has a card, else a public one.

    Rules: ``*ForProcessRewardModel`` or ``*ForTokenClassification`` whose tokenizer knows
    ``<extra_0>``: qwen-prm; ``*ForSequenceClassification``: orm-seqcls. A causal LM's
    files do not say how it scores (any chat model has a template and "+"/"-" tokens), so
    only its name tells: "math-shepherd" in the path or hub name, or "rlhflow" with "prm";
    otherwise name the format with ``--scorer-format``.
    """
    if (Path(path) / CARD_NAME).exists():
        return "mathverify"
    architectures = [str(a) for a in _read_config(path).get("architectures") or []]
    name = str(path).lower()
    for arch in architectures:
        if arch.endswith("ForProcessRewardModel"):
            return "qwen-prm"
        if arch.endswith("ForTokenClassification"):
            if QWEN_SEPARATOR in load_tokenizer(path).get_vocab():
                return "qwen-prm"
            raise _unknown(path, f"a {arch} whose tokenizer has no {QWEN_SEPARATOR}")
        if arch.endswith("ForSequenceClassification"):
            return "orm-seqcls"
        if arch.endswith("ForCausalLM"):
            if "math-shepherd" in name or "math_shepherd" in name:
                return "math-shepherd"
            if "rlhflow" in name and "prm" in name:
                return "rlhflow"
            raise _unknown(
                path, f"a {arch}: its files do not say whether it is math-shepherd or rlhflow"
            )
    raise _unknown(path, f"architectures {architectures or 'unknown'}")


# --------------------------------------------------------------------------------------
# From a problem and its steps to token ids and one score position per step (pure).


def _offsets_index(offsets: Sequence[tuple[int, int]]) -> tuple[list[int], list[int]]:
    tokens = [t for t, (start, stop) in enumerate(offsets) if stop > start]
    return tokens, [offsets[t][1] for t in tokens]


def _token_at(index: tuple[list[int], list[int]], char: int) -> int | None:
    """The token whose character span holds ``char`` (None when none does)."""
    tokens, stops = index
    k = bisect.bisect_right(stops, char)
    return tokens[k] if k < len(tokens) else None


def _encode(
    tokenizer: PreTrainedTokenizerBase, text: str, *, special: bool
) -> tuple[list[int], Any]:
    encoding = tokenizer(text, add_special_tokens=special, return_offsets_mapping=True)
    return list(encoding["input_ids"]), _offsets_index(encoding["offset_mapping"])


def _require(token: int | None, ids: list[int], expected: int, what: str) -> int:
    if token is None or ids[token] != expected:
        raise MathverifyError(
            f"the tokenizer does not encode the {what} as the token id {expected} the format reads"
        )
    return token


def _chat(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]], **kw: Any) -> str:
    if not tokenizer.chat_template:
        raise MathverifyError("this scorer format needs a tokenizer with a chat template")
    return tokenizer.apply_chat_template(messages, tokenize=False, **kw)


def encode_solution(
    fmt: str,
    tokenizer: PreTrainedTokenizerBase,
    problem: str,
    steps: Sequence[str],
    token_ids: dict[str, int],
    pad_token_id: int | None = None,
) -> dict[str, Any]:
    """``input_ids`` and ``score_positions`` (one per step; one in all for orm-seqcls) of a
    solution in format ``fmt``; ``token_ids`` holds the ids the format reads (see
    :func:`format_token_ids`). Pure: no model."""
    if fmt == "math-shepherd":
        pieces = [f"Step {k}: {step} {STEP_TAG}" for k, step in enumerate(steps, 1)]
        text = f"{problem} " + "\n".join(pieces)
        ids, index = _encode(tokenizer, text, special=True)
        ends, cursor = [], len(problem) + 1
        for piece in pieces:
            cursor += len(piece)
            ends.append(cursor - 1)
            cursor += 1
        positions = [
            _require(_token_at(index, end), ids, token_ids["tag"], f"step tag {STEP_TAG!r}")
            for end in ends
        ]
    elif fmt == "qwen-prm":
        content = QWEN_SEPARATOR.join(steps) + QWEN_SEPARATOR
        messages = [
            {"role": "system", "content": QWEN_SYSTEM},
            {"role": "user", "content": problem},
            {"role": "assistant", "content": content},
        ]
        text = _chat(tokenizer, messages, add_generation_prompt=False)
        start = text.rfind(content)
        if start < 0:
            raise MathverifyError("the chat template changed the assistant turn's text")
        ids, index = _encode(tokenizer, text, special=True)
        positions, cursor = [], start
        for step in steps:
            cursor += len(step) + len(QWEN_SEPARATOR)
            token = _token_at(index, cursor - 1)
            positions.append(_require(token, ids, token_ids["separator"], QWEN_SEPARATOR))
    elif fmt == "rlhflow":
        messages: list[dict[str, str]] = []
        for k, step in enumerate(steps):
            text_k = f"{problem} {step}" if k == 0 else step
            messages += [{"role": "user", "content": text_k}, {"role": "assistant", "content": "+"}]
        text = _chat(tokenizer, messages)
        ids, index = _encode(tokenizer, text, special=False)
        positions = []
        for k in range(len(steps)):
            before = _chat(tokenizer, messages[: 2 * k + 1], add_generation_prompt=True)
            if not text.startswith(before) or text[len(before) : len(before) + 1] != "+":
                raise MathverifyError(
                    "the chat template does not render a chat's turns as a prefix"
                )
            answer = _require(_token_at(index, len(before)), ids, token_ids["+"], "answer '+'")
            positions.append(answer - 1)
    elif fmt == "orm-seqcls":
        solution = SOLUTION_JOIN.join(steps)
        if tokenizer.chat_template:
            messages = [
                {"role": "user", "content": problem},
                {"role": "assistant", "content": solution},
            ]
            text = _chat(tokenizer, messages)
            bos = tokenizer.bos_token
            if bos and text.startswith(bos):
                text = text[len(bos) :]
        else:
            text = problem + SOLUTION_JOIN + solution
        ids = list(tokenizer(text, add_special_tokens=True)["input_ids"])
        kept = [t for t, i in enumerate(ids) if pad_token_id is None or i != pad_token_id]
        positions = [kept[-1] if kept else 0] if steps and ids else []
    else:
        raise MathverifyError(f"unknown scorer format {fmt!r}: one of {', '.join(PUBLIC_FORMATS)}")
    return {"input_ids": ids, "score_positions": positions, "step_start": 0}


def format_token_ids(fmt: str, tokenizer: PreTrainedTokenizerBase) -> dict[str, int]:
    """The token ids a format reads, found as its authors find them."""
    if fmt == "math-shepherd":
        pair = tokenizer.encode("+ -")
        if pair and pair[0] == tokenizer.bos_token_id:
            pair = pair[1:]
        if len(pair) != 2:
            raise MathverifyError(f"math-shepherd: '+ -' is {len(pair)} tokens, expected 2")
        return {"+": pair[0], "-": pair[1], "tag": tokenizer.encode(STEP_TAG)[-1]}
    if fmt == "rlhflow":
        return {"+": tokenizer.encode("+")[-1], "-": tokenizer.encode("-")[-1]}
    if fmt == "qwen-prm":
        return {"separator": tokenizer.encode(QWEN_SEPARATOR)[0]}
    return {}


# --------------------------------------------------------------------------------------
# Models: a decoder plus the head the format reads.


class _CandidateHead(nn.Module):
    """The LM head's rows of the candidate tokens: the logits of (+, -) and nothing else."""

    def __init__(self, lm_head: nn.Module, ids: list[int]) -> None:
        super().__init__()
        index = torch.tensor(ids, device=lm_head.weight.device)
        self.weight = nn.Parameter(lm_head.weight.detach()[index].clone(), requires_grad=False)
        bias = getattr(lm_head, "bias", None)
        self.bias = (
            nn.Parameter(bias.detach()[index].clone(), requires_grad=False)
            if bias is not None
            else None
        )

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(hidden, self.weight, self.bias)


class _DecoderWithHead(nn.Module):
    """The interface :class:`TokenScorer` expects: ``backbone`` (whose ``base_model`` is the
    decoder), ``head``, and a forward that returns the head's logits at every position."""

    def __init__(self, backbone: PreTrainedModel, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    @property
    def head_dtype(self) -> torch.dtype:
        return next(self.head.parameters()).dtype

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        hidden = self.backbone.base_model(
            input_ids=input_ids, attention_mask=attention_mask
        ).last_hidden_state
        return {"logits": self.head(hidden.to(self.head_dtype))}


def _load(auto: Any, path: str | Path, dtype: torch.dtype, **kw: Any) -> tuple[Any, dict]:
    try:
        return auto.from_pretrained(str(path), dtype=dtype, output_loading_info=True, **kw)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MathverifyError(f"{path}: cannot load the model ({first})") from exc


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def _checkpoint_tensors(path: str | Path, prefix: str) -> dict[str, torch.Tensor]:
    """The tensors of a (possibly sharded) safetensors checkpoint whose names start with ``prefix``."""
    from safetensors import safe_open
    from transformers.utils import cached_file

    def find(name: str) -> str | None:
        local = Path(path) / name
        if local.exists():
            return str(local)
        if Path(path).is_dir():
            return None
        return cached_file(str(path), name, _raise_exceptions_for_missing_entries=False)

    index = find("model.safetensors.index.json")
    files = (
        sorted(set(json.loads(Path(index).read_text())["weight_map"].values()))
        if index
        else ["model.safetensors"]
    )
    out: dict[str, torch.Tensor] = {}
    for name in files:
        file = find(name)
        if file is None:
            raise MathverifyError(f"{path}: no {name}")
        with safe_open(file, framework="pt") as handle:
            for key in handle.keys():
                if key.startswith(prefix):
                    out[key[len(prefix) :]] = handle.get_tensor(key)
    return out


def load_public_model(
    fmt: str, path: str | Path, dtype: torch.dtype, token_ids: dict[str, int]
) -> _DecoderWithHead:
    """The decoder and the head of format ``fmt`` (eval mode, on the CPU, in ``dtype``)."""
    if fmt in ("math-shepherd", "rlhflow"):
        model, _ = _load(AutoModelForCausalLM, path, dtype)
        config = model.config.get_text_config()
        if getattr(config, "final_logit_softcapping", None) or getattr(config, "logit_scale", None):
            raise MathverifyError(f"{path}: a scaled or soft-capped LM head is not supported")
        head: nn.Module = _CandidateHead(
            model.get_output_embeddings(), [token_ids["+"], token_ids["-"]]
        )
    elif fmt == "qwen-prm":
        # The real checkpoint's head does not fit the class's: we check the keys ourselves,
        # so transformers' load report (a warning table) stays quiet.
        with _quiet_transformers():
            model, info = _load(AutoModelForTokenClassification, path, dtype, num_labels=2)
        missing = [k for k in info.get("missing_keys", []) if not k.startswith("score.")]
        if missing:
            raise MathverifyError(f"{path}: weights missing from the checkpoint: {missing[:3]}")
        if any(k.startswith("score.") for k in info.get("unexpected_keys", [])):
            # The real checkpoint's MLP head (Qwen2ForProcessRewardModel).
            state = _checkpoint_tensors(path, "score.")
            hidden = model.config.hidden_size
            mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2))
            try:
                mlp.load_state_dict(state)
            except RuntimeError as exc:
                raise MathverifyError(
                    f"{path}: its score head is not Linear-ReLU-Linear(2)"
                ) from exc
            model.score = mlp.to(dtype)
        elif info.get("missing_keys"):
            raise MathverifyError(f"{path}: no trained score head in the checkpoint")
        head = model.score
    elif fmt == "orm-seqcls":
        model, info = _load(AutoModelForSequenceClassification, path, dtype)
        if info.get("missing_keys"):
            raise MathverifyError(
                f"{path}: weights missing from the checkpoint: {info['missing_keys'][:3]}"
            )
        if model.config.num_labels not in (1, 2):
            raise MathverifyError(
                f"{path}: orm-seqcls reads 1 or 2 labels, not {model.config.num_labels}"
            )
        head = model.score
    else:
        raise MathverifyError(f"unknown scorer format {fmt!r}: one of {', '.join(PUBLIC_FORMATS)}")
    if model.base_model is model:
        raise MathverifyError(f"{path}: no decoder under the head")
    return _DecoderWithHead(model, head).eval()


class PublicScorer(TokenScorer):
    """A public PRM or reward model in format ``fmt`` as a :class:`~mathverify.step_scores.Scorer`."""

    kind = ()

    def __init__(self, path: str | Path, *, fmt: str, **options: Any) -> None:
        if fmt not in PUBLIC_FORMATS:
            raise MathverifyError(
                f"unknown scorer format {fmt!r}: one of {', '.join(PUBLIC_FORMATS)}"
            )
        self.format = fmt
        super().__init__(path, **options)

    def _load(self, path: str | Path, dtype: torch.dtype) -> None:
        self.tokenizer = load_tokenizer(path)
        self.token_ids = format_token_ids(self.format, self.tokenizer)
        self.model = load_public_model(self.format, path, dtype, self.token_ids).to(self.device)
        self.card = None
        self.max_length = default_max_length(self.tokenizer, self.model.backbone)
        self._pad = self.model.backbone.config.get_text_config().pad_token_id

    def tokenize(self, problem: str, steps: list[str]) -> dict[str, Any]:
        encoded = encode_solution(
            self.format, self.tokenizer, problem, steps, self.token_ids, self._pad
        )
        ids, positions = encoded["input_ids"], encoded["score_positions"]
        if self.max_length is not None and len(ids) > self.max_length:
            # A PRM keeps the steps that fit; an ORM judges only the whole text.
            kept = (
                [] if self.format == "orm-seqcls" else [p for p in positions if p < self.max_length]
            )
            encoded = {**encoded, "input_ids": ids[: self.max_length], "score_positions": kept}
        return encoded

    def _new_cache(self) -> DynamicCache:
        """Full layers even for a sliding-window model (Mistral): the model's attention mask
        still applies the window, and full layers let prefixes be kept across calls."""
        cache = DynamicCache(config=self.model.backbone.config)
        cache.layers = [DynamicLayer() for _ in cache.layers]
        return cache

    def _probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        if logits.shape[-1] == 1:
            return torch.sigmoid(logits[..., 0])
        probs = torch.softmax(logits, dim=-1)
        # Candidates are (+, -): P(+) is class 0; a classification head's "right" is class 1.
        return probs[..., 0] if self.format in ("math-shepherd", "rlhflow") else probs[..., 1]

    def place(self, n_steps: int, probabilities: list[float]) -> StepScores:
        if self.format == "orm-seqcls":
            scores: StepScores = [None] * n_steps
            if n_steps and probabilities:
                scores[-1] = probabilities[-1]
            return scores
        return list(probabilities) + [None] * (n_steps - len(probabilities))
