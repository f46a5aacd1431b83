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
  (the card's ``[648, 387]``, Mistral's ``▁+`` and ``▁-``: two tokens of one kind), the
  step tag id is ``encode("ки")[-1]``; a step's score is
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
  search-and-learn's ``reward_models.py``): a causal LM fed a chat, each step stripped of
  surrounding whitespace (``prm_evaluate.py`` line 50), first user turn
  ``question + " " + step 1`` (line 53), each later step a user turn, every assistant turn
  ``+``; encoded as ``apply_chat_template`` encodes (no tokenizer-added special tokens); the
  candidates are ``encode("+")[-1]`` and ``encode("-")[-1]`` (lines 77-78); step k's score
  is P(+) over {+, -} at the position that predicts step k's assistant ``+`` (the authors
  read position -3 of the chat cut after that turn, line 61; causal attention makes it the
  same logit in the whole chat).
- ``orm-seqcls``: ``AutoModelForSequenceClassification`` reward models (e.g.
  Skywork-Reward-Llama-3.1-8B, card https://huggingface.co/Skywork/Skywork-Reward-Llama-3.1-8B):
  the chat (user = problem, assistant = the steps joined by a blank line) rendered by the
  template, a leading BOS text dropped when the tokenizer adds its own and the rest encoded
  with the tokenizer's special tokens (the card's recipe against a doubled BOS); without a
  template, problem and solution joined by a blank line. The logit is read where
  transformers pools it (the last token that is not the config's pad id). Only the last
  step gets the score; the others are None.

  The score is ``sigmoid(reward)`` (two logits: ``softmax[1] = sigmoid(l1 - l0)``), taken
  in float64 from a float32 head, not the raw reward: weighted vote sums scores, MCTS reads
  ``2s - 1`` and eval's calibration bins scores in [0, 1], so a score stays a probability
  for every consumer, and a monotone map keeps best-of-n's and SBS's rankings the raw
  reward's. In float32 the sigmoid was exactly 1.0 above a reward of 16.7, so Skywork-size
  rewards tied. float64 keeps two rewards ``d`` apart distinct where ``d > 1.1e-16 *
  exp(reward)``: to 1e-6 at 23, 1e-3 at 30, 0.01 at 32 (:data:`ORM_REWARD_LIMIT`); from
  36.7 the sigmoid is 1.0. The record keeps the reward: :func:`orm_reward` gives it back
  (``log(s / (1 - s))``, as exact as that). A reward above the limit is refused, naming
  it: close rewards there would tie silently.

Every format refuses, in one line, what would make a silent wrong number: a step tag or
label token the tokenizer encodes to its unknown token or to more than one token, a
candidate pair of two kinds (one with a leading space, one without), a checkpoint whose
loading report has weights transformers would initialise at random (missing from it, or of
another shape; tied embeddings are not missing), a checkpoint whose config names another
kind of head, token ids past the model's embedding rows, and scores that are not finite (a
float16 overflow). Heads run in float32 and probabilities are taken in float64, whatever
the decoder's dtype. A solution longer than the model's context is cut there: steps past
it (an ORM's whole solution) get None, and :attr:`PublicScorer.n_truncated` counts such
solutions so that a caller can warn with the count.

Not here: our own PRM/ORM/value directories (``prm.py``, ``orm.py``, ``value.py``).
"""

from __future__ import annotations

import bisect
import json
import math
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
    AutoTokenizer,
    DynamicCache,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from mathverify.errors import MathverifyError
from mathverify.models.card import CARD_NAME
from mathverify.models.compat import new_cache
from mathverify.models.verifier import check_tokenizer_files, default_max_length
from mathverify.scoring.prm import TokenScorer
from mathverify.step_scores import StepScores

__all__ = [
    "ORM_REWARD_LIMIT",
    "PUBLIC_FORMATS",
    "SCORER_FORMATS",
    "PublicScorer",
    "detect_format",
    "encode_solution",
    "format_token_ids",
    "load_public_tokenizer",
    "orm_reward",
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


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's text: transformers' load errors run to several
    lines, and the CLI reports a domain error as one (the cause stays chained)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0].rstrip(":") if lines else type(exc).__name__


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
            raise MathverifyError(
                f"{path}: cannot read its config.json ({_first_line(exc)})"
            ) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MathverifyError(f"{path}/config.json: invalid JSON ({exc.msg})") from exc
    return data if isinstance(data, dict) else {}


def load_public_tokenizer(path: str | Path) -> PreTrainedTokenizerBase:
    """The fast tokenizer of ``path``; any failure is one line (transformers' own message
    for a directory without tokenizer files runs to five)."""
    check_tokenizer_files(path)  # transformers 5.4 builds an empty tokenizer from a config
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    except Exception as exc:  # transformers raises OSError, ValueError, KeyError, TypeError...
        raise MathverifyError(f"{path}: cannot load its tokenizer ({_first_line(exc)})") from exc
    if not tokenizer.is_fast:
        raise MathverifyError(
            f"{path}: a fast tokenizer is needed (offsets locate the score positions)"
        )
    # transformers 5 builds an empty tokenizer from a config alone (a Qwen2 config without
    # tokenizer files gives one that encodes every text to no tokens).
    if not tokenizer.encode("1 + 1 = 2", add_special_tokens=False):
        raise MathverifyError(
            f"{path}: cannot load its tokenizer (it has no vocabulary: no tokenizer files?)"
        )
    return tokenizer


# The kind of model an architecture name says it is, and the kind each format reads.
_ARCHITECTURE_KINDS = {
    "ForCausalLM": "causal LM",
    "ForConditionalGeneration": "causal LM",
    "ForSequenceClassification": "sequence classifier",
    "ForTokenClassification": "token classifier",
    "ForProcessRewardModel": "token classifier",
}
_FORMAT_KINDS = {
    "math-shepherd": "causal LM",
    "rlhflow": "causal LM",
    "qwen-prm": "token classifier",
    "orm-seqcls": "sequence classifier",
}


def _check_checkpoint(path: str | Path, fmt: str) -> None:
    """Refuse a path that is not a model directory, or whose config names another kind of
    model than ``fmt`` reads: a sequence classifier with tied embeddings loads as a causal
    LM without a missing weight, and would score with its input embeddings."""
    if Path(path).is_dir() and not (Path(path) / "config.json").exists():
        raise MathverifyError(
            f"{path}: no config.json: not a model directory (--scorer-format {fmt} reads a "
            "Hugging Face model directory or hub name)"
        )
    config = _read_config(path)
    architectures = [str(a) for a in config.get("architectures") or []]
    kinds = {
        arch: kind
        for arch in architectures
        for suffix, kind in _ARCHITECTURE_KINDS.items()
        if arch.endswith(suffix)
    }
    wanted = _FORMAT_KINDS[fmt]
    if kinds and wanted not in kinds.values():
        arch, kind = next(iter(kinds.items()))
        raise MathverifyError(
            f"{path}: its config.json names {arch}, a {kind}; --scorer-format {fmt} reads a "
            f"{wanted}"
        )


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
            if QWEN_SEPARATOR in load_public_tokenizer(path).get_vocab():
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
        # prm_evaluate.py line 50: `ans_list = [j.strip() for j in ans_list]`.
        for k, step in enumerate(step.strip() for step in steps):
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
            text = _without_template_bos(tokenizer, _chat(tokenizer, messages))
        else:
            text = problem + SOLUTION_JOIN + solution
        ids = list(tokenizer(text, add_special_tokens=True)["input_ids"])
        bos_id = tokenizer.bos_token_id
        if bos_id is not None and ids[:2] == [bos_id, bos_id]:
            raise MathverifyError("orm-seqcls: the encoded chat starts with two BOS tokens")
        kept = [t for t, i in enumerate(ids) if pad_token_id is None or i != pad_token_id]
        positions = [kept[-1] if kept else 0] if steps and ids else []
    else:
        raise MathverifyError(f"unknown scorer format {fmt!r}: one of {', '.join(PUBLIC_FORMATS)}")
    return {"input_ids": ids, "score_positions": positions, "step_start": 0}


def _adds_bos(tokenizer: PreTrainedTokenizerBase) -> bool:
    bos_id = tokenizer.bos_token_id
    return bos_id is not None and tokenizer("x", add_special_tokens=True)["input_ids"][:1] == [
        bos_id
    ]


def _without_template_bos(tokenizer: PreTrainedTokenizerBase, text: str) -> str:
    """The chat text without the BOS its template wrote when the tokenizer adds one itself
    (Skywork's card: against a doubled BOS); kept when the tokenizer adds none, so the
    model still sees the one BOS it was trained with."""
    bos = tokenizer.bos_token
    if bos and text.startswith(bos) and _adds_bos(tokenizer):
        return text[len(bos) :]
    return text


def _pieces(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    """The ids of ``text`` without special tokens or a bare word-start token (a
    SentencePiece tokenizer writes ``ки`` as ``▁`` then ``ки``)."""
    ids = tokenizer.encode(text, add_special_tokens=False)
    return [i for i in ids if tokenizer.decode([i]).strip()]


def _check_token(
    fmt: str, tokenizer: PreTrainedTokenizerBase, ids: list[int], text: str, what: str
) -> int:
    """The one token of ``ids``, ``text``'s encoding. A format reads that token's logit or
    finds its positions by id, so an unknown token (every unknown character shares it) or
    a text split over several tokens (its last piece also ends other words) would give
    numbers from the wrong tokens."""
    unk = tokenizer.unk_token_id
    if unk is not None and unk in ids:
        raise MathverifyError(
            f"{fmt}: the tokenizer encodes the {what} {text!r} to its unknown token "
            f"{tokenizer.unk_token!r}: it lacks the token the format reads"
        )
    if len(ids) != 1 or tokenizer.decode(ids).strip() != text:
        raise MathverifyError(
            f"{fmt}: the tokenizer encodes the {what} {text!r} to {len(ids)} tokens "
            f"{tokenizer.convert_ids_to_tokens(ids)}, not one: it lacks the token the format reads"
        )
    return ids[0]


def _one_token(fmt: str, tokenizer: PreTrainedTokenizerBase, text: str, what: str) -> int:
    return _check_token(fmt, tokenizer, _pieces(tokenizer, text), text, what)


def _same_kind(fmt: str, tokenizer: PreTrainedTokenizerBase, plus: int, minus: int) -> None:
    """Refuse candidates of two kinds (``+`` and ``Ġ-``: one with a leading space, one
    without): P(+) over such a pair compares tokens the model never saw as alternatives."""
    pair = tokenizer.convert_ids_to_tokens([plus, minus])
    if pair[0].replace("+", "-") != pair[1]:
        raise MathverifyError(
            f"{fmt}: the candidates '+' and '-' encode to {pair[0]!r} and {pair[1]!r}, "
            "tokens of two kinds (with and without a leading space)"
        )


def format_token_ids(fmt: str, tokenizer: PreTrainedTokenizerBase) -> dict[str, int]:
    """The token ids a format reads, found as its authors find them, each checked to be
    one known token (see :func:`_one_token`, :func:`_same_kind`)."""
    if fmt == "math-shepherd":
        tag = _one_token(fmt, tokenizer, STEP_TAG, "step tag")
        # The card's `encode("+ -")[1:]`: the pair after the BOS, with any other special
        # token (an EOS some tokenizers append) left out too.
        pair = _pieces(tokenizer, "+ -")
        if len(pair) != 2:
            raise MathverifyError(f"math-shepherd: '+ -' is {len(pair)} tokens, expected 2")
        for token, text in zip(pair, "+-", strict=True):
            _check_token(fmt, tokenizer, [token], text, "label")
        _same_kind(fmt, tokenizer, pair[0], pair[1])
        return {"+": pair[0], "-": pair[1], "tag": tag}
    if fmt == "rlhflow":
        plus = _one_token(fmt, tokenizer, "+", "label")
        minus = _one_token(fmt, tokenizer, "-", "label")
        _same_kind(fmt, tokenizer, plus, minus)
        return {"+": plus, "-": minus}
    if fmt == "qwen-prm":
        return {"separator": _one_token(fmt, tokenizer, QWEN_SEPARATOR, "step separator")}
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
        # float32 whatever the decoder's dtype: a bfloat16 head rounds a reward of 20 to a
        # multiple of 0.125, so close rewards tie (the head is one or two small matrices).
        self.head = head.float()

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
    """The model and transformers' loading report; every failure is one line. Weights of
    another shape load (re-initialised) so that :func:`_check_report` names them."""
    try:
        with _quiet_transformers():
            return auto.from_pretrained(
                str(path),
                dtype=dtype,
                output_loading_info=True,
                ignore_mismatched_sizes=True,
                **kw,
            )
    except Exception as exc:  # OSError, ValueError, RuntimeError, KeyError... often multi-line
        raise MathverifyError(f"{path}: cannot load the model ({_first_line(exc)})") from exc


def _check_report(
    path: str | Path, fmt: str, info: dict[str, Any], replaced: tuple[str, ...] = ()
) -> None:
    """Refuse a checkpoint whose loading report says some weights were initialised at
    random (missing from it, or of another shape): the scores would be noise, and another
    run another noise. ``replaced``: prefixes of weights this module loads itself."""
    made_up = sorted(k for k in info.get("missing_keys") or () if not k.startswith(replaced))
    made_up += sorted(
        f"{key} ({'x'.join(map(str, saved))} in the checkpoint, "
        f"{'x'.join(map(str, wanted))} in the model)"
        for key, saved, wanted in info.get("mismatched_keys") or ()
    )
    if made_up:
        more = f" and {len(made_up) - 3} more" if len(made_up) > 3 else ""
        raise MathverifyError(
            f"{path}: {len(made_up)} weight{'s' if len(made_up) > 1 else ''} the {fmt} model "
            "needs are not in the checkpoint and would be initialised at random: "
            f"{', '.join(made_up[:3])}{more}"
        )
    errors = list(info.get("error_msgs") or ())
    if errors:
        raise MathverifyError(f"{path}: cannot load the model ({_first_line(errors[0])})")


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
        try:
            with safe_open(file, framework="pt") as handle:
                for key in handle.keys():
                    if key.startswith(prefix):
                        out[key[len(prefix) :]] = handle.get_tensor(key)
        except Exception as exc:  # safetensors' own error type (a truncated file, a bad header)
            raise MathverifyError(f"{path}: cannot read {name} ({_first_line(exc)})") from exc
    return out


def load_public_model(
    fmt: str, path: str | Path, dtype: torch.dtype, token_ids: dict[str, int]
) -> _DecoderWithHead:
    """The decoder and the head of format ``fmt`` (eval mode, on the CPU, the decoder in
    ``dtype``, the head in float32)."""
    if fmt in ("math-shepherd", "rlhflow"):
        model, info = _load(AutoModelForCausalLM, path, dtype)
        _check_report(path, fmt, info)
        config = model.config.get_text_config()
        if getattr(config, "final_logit_softcapping", None) or getattr(config, "logit_scale", None):
            raise MathverifyError(f"{path}: a scaled or soft-capped LM head is not supported")
        lm_head = model.get_output_embeddings()
        if lm_head is None:
            raise MathverifyError(f"{path}: the model has no LM head for {fmt} to read")
        candidates = [token_ids["+"], token_ids["-"]]
        _check_rows(path, "LM head", lm_head.weight.shape[0], candidates)
        head: nn.Module = _CandidateHead(lm_head, candidates)
    elif fmt == "qwen-prm":
        model, info = _load(AutoModelForTokenClassification, path, dtype, num_labels=2)
        mlp_head = any(k.startswith("score.") for k in info.get("unexpected_keys") or ())
        _check_report(path, fmt, info, replaced=("score.",) if mlp_head else ())
        if mlp_head:
            model.score = _qwen_mlp_head(path, model.config.hidden_size)
        head = model.score
    elif fmt == "orm-seqcls":
        model, info = _load(AutoModelForSequenceClassification, path, dtype)
        _check_report(path, fmt, info)
        if model.config.num_labels not in (1, 2):
            raise MathverifyError(
                f"{path}: orm-seqcls reads 1 or 2 labels, not {model.config.num_labels}"
            )
        head = getattr(model, "score", None)
        if not isinstance(head, nn.Module):
            raise MathverifyError(
                f"{path}: a {type(model).__name__} has no `score` head on its last token; "
                "orm-seqcls reads decoder reward models"
            )
    else:
        raise MathverifyError(f"unknown scorer format {fmt!r}: one of {', '.join(PUBLIC_FORMATS)}")
    if model.base_model is model:
        raise MathverifyError(f"{path}: no decoder under the head")
    return _DecoderWithHead(model, head).eval()


def _check_rows(path: str | Path, what: str, rows: int, ids: Sequence[int]) -> None:
    """Refuse token ids past a matrix's rows (a tokenizer with more tokens than the model
    has embeddings): indexing there is a traceback on the CPU, a device assert on CUDA."""
    if ids and max(ids) >= rows:
        raise MathverifyError(
            f"{path}: token id {max(ids)} is past the model's {rows}-row {what} (the tokenizer "
            "has tokens the model was not trained with)"
        )


def _qwen_mlp_head(path: str | Path, hidden: int) -> nn.Module:
    """The real Qwen2.5-Math-PRM head, ``score.0`` -> ReLU -> ``score.2`` (its remote
    ``Qwen2ForProcessRewardModel``, as vLLM's ``qwen2_rm.py`` rebuilds it)."""
    state = _checkpoint_tensors(path, "score.")
    mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2))
    try:
        mlp.load_state_dict(state)
    except RuntimeError as exc:
        raise MathverifyError(f"{path}: its score head is not Linear-ReLU-Linear(2)") from exc
    return mlp


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
        _check_checkpoint(path, self.format)
        self._dtype = dtype
        self.tokenizer = load_public_tokenizer(path)
        self.token_ids = format_token_ids(self.format, self.tokenizer)
        self.model = load_public_model(self.format, path, dtype, self.token_ids).to(self.device)
        self.card = None
        self.max_length = default_max_length(self.tokenizer, self.model.backbone)
        self._pad = self.model.backbone.config.get_text_config().pad_token_id
        self._n_embeddings = self.model.backbone.get_input_embeddings().weight.shape[0]
        # Solutions longer than max_length encoded so far: steps past it get no score.
        self.n_truncated = 0

    def tokenize(self, problem: str, steps: list[str]) -> dict[str, Any]:
        encoded = encode_solution(
            self.format, self.tokenizer, problem, steps, self.token_ids, self._pad
        )
        ids, positions = encoded["input_ids"], encoded["score_positions"]
        _check_rows(self.name, "input embeddings", self._n_embeddings, ids)
        if self.max_length is not None and len(ids) > self.max_length:
            # A PRM keeps the steps that fit; an ORM judges only the whole text. Counted, so
            # that a caller can warn that these solutions are scored in part or not at all.
            self.n_truncated += 1
            kept = (
                [] if self.format == "orm-seqcls" else [p for p in positions if p < self.max_length]
            )
            encoded = {**encoded, "input_ids": ids[: self.max_length], "score_positions": kept}
        return encoded

    def _new_cache(self) -> DynamicCache:
        """Full layers even for a sliding-window model (Mistral): the model's attention mask
        still applies the window, and full layers let prefixes be kept across calls."""
        return new_cache(self.model.backbone.config, full_layers=True)

    def _probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """In float64 on the CPU: sigmoid and softmax in float32 are exactly 1.0 from a logit
        (gap) of 16.7, where float64 still orders them up to 36.7 (see the module docstring)."""
        logits = logits.detach().to("cpu", torch.float64)
        if logits.shape[-1] == 1:
            return torch.sigmoid(logits[..., 0])
        probs = torch.softmax(logits, dim=-1)
        # Candidates are (+, -): P(+) is class 0; a classification head's "right" is class 1.
        return probs[..., 0] if self.format in ("math-shepherd", "rlhflow") else probs[..., 1]

    def place(self, n_steps: int, probabilities: list[float]) -> StepScores:
        if not all(math.isfinite(p) for p in probabilities):
            dtype = str(self._dtype).removeprefix("torch.")
            raise MathverifyError(
                f"{self.name}: the model's scores are not finite (its {dtype} activations "
                "overflowed?)"
            )
        if self.format == "orm-seqcls":
            scores: StepScores = [None] * n_steps
            if n_steps and probabilities:
                scores[-1] = _orm_score(self.name, probabilities[-1])
            return scores
        return list(probabilities) + [None] * (n_steps - len(probabilities))


# The largest orm-seqcls reward whose float64 sigmoid still keeps rewards 0.01 apart
# distinct (float64's step below 1.0 is 1.1e-16, sigmoid's slope there exp(-reward)).
ORM_REWARD_LIMIT = 32.0
_ORM_SCORE_LIMIT = 1.0 / (1.0 + math.exp(-ORM_REWARD_LIMIT))


def _orm_score(name: str, score: float) -> float:
    """``score`` when float64 keeps its reward apart from rewards 0.01 away, else a refusal:
    above :data:`ORM_REWARD_LIMIT` close rewards get one score and would tie in a ranking."""
    if score > _ORM_SCORE_LIMIT:
        reward = "36.7 or more" if score >= 1.0 else f"about {orm_reward(score):.1f}"
        raise MathverifyError(
            f"{name}: a reward of {reward}: above {ORM_REWARD_LIMIT:g} its float64 sigmoid "
            "no longer tells rewards 0.01 apart, so close rewards would tie; orm-seqcls "
            f"ranks rewards up to {ORM_REWARD_LIMIT:g}"
        )
    return score


def orm_reward(score: float) -> float:
    """The raw reward of an ``orm-seqcls`` step score ``sigmoid(reward)``:
    ``log(score / (1 - score))``, as exact as float64 keeps ``1 - score`` (to about 1e-6
    at a reward of 23, 1e-3 at 30)."""
    if not 0.0 < score < 1.0:
        raise MathverifyError(f"an orm-seqcls score is in (0, 1), not {score!r}")
    return math.log(score) - math.log1p(-score)
