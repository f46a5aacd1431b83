"""The transformers backend: any causal LM directory or hub name as a :class:`Policy`, CPU or GPU.

It batches sequences (``n`` samples of each prompt are repeated rows) under a
``batch_size`` bound, pads on the left, decodes greedily at temperature 0, and stops each
row at the first stop string in its generated text while the rest of the batch goes on.
Per-token log-probabilities are read once per step from the model's own distribution
(before temperature and top-p), so nothing is kept per step but one number per row.

Not the fast path for real models on GPU: that is vLLM (``mathverify.backends.vllm``).
This backend is the reference every other backend is checked against, and what the
embedded synthetic task runs on CPU.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LogitsProcessor,
    LogitsProcessorList,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    StoppingCriteria,
    StoppingCriteriaList,
)

from mathverify.backends.base import Completion, check_sampling
from mathverify.errors import MathverifyError

DTYPES: dict[str, Any] = {
    "auto": "auto",
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}

DEFAULT_BATCH_SIZE = 256


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` is the first CUDA device when there is one, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise MathverifyError(f"--device {device!r}: {exc}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _looks_like_path(path_or_name: str) -> bool:
    # A hub name is "name" or "owner/name"; anything else with a separator is a path.
    return (
        path_or_name.startswith((".", "/", "~"))
        or path_or_name.count("/") > 1
        or "\\" in path_or_name
        or Path(path_or_name).exists()
    )


class _LogprobRecorder(LogitsProcessor):
    """Keeps the log-softmax of the raw logits of the current step (scores pass unchanged).

    ``generate`` runs user processors before temperature and top-p, so these are the
    model's own log-probabilities whatever the sampling options.
    """

    def __init__(self) -> None:
        self.logprobs: torch.Tensor | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self.logprobs = torch.log_softmax(scores, dim=-1)
        return scores


class _StopMatcher:
    """Finds rows whose generated text has just completed a stop string.

    Two token sets make the per-step check cheap: a token whose own text contains a stop
    string ends the row at once (the common case, e.g. the ``"\\n\\n"`` separator token);
    a token that shares a character with a stop string (or decodes to nothing alone, like
    a partial UTF-8 byte) may complete one across tokens, and only rows ending in such a
    token get their last few tokens decoded.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, stops: tuple[str, ...]) -> None:
        self.tokenizer = tokenizer
        self.stops = stops
        special = set(tokenizer.all_special_ids)
        texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
        stop_chars = set("".join(stops))
        single: list[int] = []
        candidates: list[int] = []
        for token_id, text in enumerate(texts):
            if token_id in special:
                continue
            if any(stop in text for stop in stops):
                single.append(token_id)
            elif not text or "\ufffd" in text or stop_chars.intersection(text):
                candidates.append(token_id)
        self.single_ids = torch.tensor(single, dtype=torch.long)
        self.candidate_ids = torch.tensor(candidates, dtype=torch.long)
        # Enough tokens to hold the longest stop string (every token but the rare empty one
        # has at least one character), plus one for a token that starts before it.
        self.window = max(len(stop) for stop in stops) + 1

    def to(self, device: torch.device) -> _StopMatcher:
        self.single_ids = self.single_ids.to(device)
        self.candidate_ids = self.candidate_ids.to(device)
        return self

    def matches(
        self, input_ids: torch.Tensor, open_rows: torch.Tensor, prompt_len: int
    ) -> torch.Tensor:
        """Bool per row: the last generated token completed a stop string (open rows only)."""
        last = input_ids[:, -1]
        hits = torch.isin(last, self.single_ids) & open_rows
        maybe = torch.isin(last, self.candidate_ids) & open_rows
        rows = maybe.nonzero().flatten().tolist()
        if rows:
            start = max(prompt_len, input_ids.shape[1] - self.window)
            tails = self.tokenizer.batch_decode(
                input_ids[rows, start:].tolist(), skip_special_tokens=True
            )
            found = [
                r for r, tail in zip(rows, tails, strict=True) if any(s in tail for s in self.stops)
            ]
            if found:
                hits[found] = True
        return hits


class _RowTracker(StoppingCriteria):
    """Per-row bookkeeping during ``generate``: logprob of each chosen token, eos, stops.

    Returns the rows that are done, so ``generate`` pads them and ends the batch once all
    are done.
    """

    def __init__(
        self,
        *,
        prompt_len: int,
        batch: int,
        eos_ids: torch.Tensor,
        recorder: _LogprobRecorder,
        matcher: _StopMatcher | None,
    ) -> None:
        device = eos_ids.device
        self.prompt_len = prompt_len
        self.eos_ids = eos_ids
        self.recorder = recorder
        self.matcher = matcher
        self.done = torch.zeros(batch, dtype=torch.bool, device=device)
        # Number of generated tokens when the row hit a stop string; 0 when it never did.
        self.stop_len = torch.zeros(batch, dtype=torch.long, device=device)
        self.token_logprobs: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        last = input_ids[:, -1]
        assert self.recorder.logprobs is not None
        self.token_logprobs.append(self.recorder.logprobs.gather(1, last[:, None]).squeeze(1))
        open_rows = ~self.done
        ended = torch.isin(last, self.eos_ids) & open_rows
        if self.matcher is not None:
            stopped = self.matcher.matches(input_ids, open_rows & ~ended, self.prompt_len)
            self.stop_len.masked_fill_(stopped, input_ids.shape[1] - self.prompt_len)
            ended |= stopped
        self.done |= ended
        return self.done.clone()


class HFPolicy:
    """A transformers causal LM behind the :class:`~mathverify.backends.base.Policy` protocol."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        name: str,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        if batch_size < 1:
            raise MathverifyError(f"batch_size must be at least 1, got {batch_size}")
        self.model = model.eval()
        # Prompts are left-padded here, by hand, so the tokenizer's padding side does not matter.
        self.tokenizer = tokenizer
        self.name = name
        self.batch_size = batch_size
        self.device = next(model.parameters()).device
        eos: list[int] = []
        for source in (
            tokenizer.eos_token_id,
            getattr(model.generation_config, "eos_token_id", None),
        ):
            for token_id in source if isinstance(source, list) else [source]:
                if token_id is not None and token_id not in eos:
                    eos.append(int(token_id))
        self.eos_ids = eos
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = eos[0] if eos else None
        if pad is None:
            raise MathverifyError(f"{name}: tokenizer has neither a pad nor an eos token")
        self.pad_id = int(pad)
        self._matchers: dict[tuple[str, ...], _StopMatcher] = {}

    @classmethod
    def load(
        cls,
        path_or_name: str,
        *,
        dtype: str = "auto",
        device: str = "auto",
        batch_size: int = DEFAULT_BATCH_SIZE,
        trust_remote_code: bool = False,
    ) -> HFPolicy:
        """Load a causal LM and its tokenizer from a directory or a hub name."""
        if dtype not in DTYPES:
            raise MathverifyError(f"--dtype {dtype!r}: choose from {', '.join(DTYPES)}")
        if _looks_like_path(path_or_name):
            path = Path(path_or_name).expanduser()
            if not path.is_dir():
                raise MathverifyError(f"{path_or_name}: no such model directory")
            if not (path / "config.json").exists():
                raise MathverifyError(
                    f"{path_or_name}: not a model directory (no config.json); "
                    "expected a save_pretrained folder or a hub name"
                )
        target = resolve_device(device)
        try:
            tokenizer = AutoTokenizer.from_pretrained(
                path_or_name, trust_remote_code=trust_remote_code
            )
            model = AutoModelForCausalLM.from_pretrained(
                path_or_name, dtype=DTYPES[dtype], trust_remote_code=trust_remote_code
            )
        except (OSError, ValueError, KeyError) as exc:
            raise MathverifyError(
                f"{path_or_name}: cannot load model ({_first_line(exc)})"
            ) from exc
        model.to(target)
        return cls(model, tokenizer, name=path_or_name, batch_size=batch_size)

    # ------------------------------------------------------------------------------

    def complete(
        self,
        prompts: list[str],
        *,
        n: int = 1,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_tokens: int = 256,
        stop: list[str] | None = None,
        seed: int = 0,
    ) -> list[list[Completion]]:
        """``n`` completions per prompt, in prompt order; deterministic given all arguments.

        Sequences are sorted longest prompt first and cut into batches of ``batch_size``;
        each batch is seeded from ``seed`` and its index, so sampled text depends on the
        prompts and options of the call (and the batch size), never on earlier calls.
        """
        check_sampling(n=n, temperature=temperature, top_p=top_p, max_tokens=max_tokens)
        stops = tuple(dict.fromkeys(s for s in (stop or []) if s))
        if not prompts:
            return []
        greedy = temperature == 0
        encoded = self._encode(prompts)
        # Greedy samples are all equal: decode each prompt once and repeat the result.
        copies = 1 if greedy else n
        jobs = [i for i in range(len(prompts)) for _ in range(copies)]
        # Longest first, so rows of a batch have similar lengths and little padding.
        order = sorted(range(len(jobs)), key=lambda k: -len(encoded[jobs[k]]))
        matcher = self._matcher(stops) if stops else None
        rows: list[Completion | None] = [None] * len(jobs)
        for index, start in enumerate(range(0, len(order), self.batch_size)):
            batch = order[start : start + self.batch_size]
            # Each batch has its own seed, so when one batch stops early the random numbers
            # the next one draws stay the same.
            torch.manual_seed(batch_seed(seed, index))
            results = self._generate(
                [encoded[jobs[k]] for k in batch],
                greedy=greedy,
                temperature=temperature,
                top_p=top_p,
                max_tokens=max_tokens,
                stops=stops,
                matcher=matcher,
            )
            for k, completion in zip(batch, results, strict=True):
                rows[k] = completion
        per_prompt: list[list[Completion]] = []
        for i in range(len(prompts)):
            mine = [c for c in rows[i * copies : (i + 1) * copies] if c is not None]
            per_prompt.append(mine * n if greedy else mine)
        return per_prompt

    def _encode(self, prompts: list[str]) -> list[list[int]]:
        encoded = self.tokenizer(prompts, add_special_tokens=True)["input_ids"]
        bos = self.tokenizer.bos_token_id
        out: list[list[int]] = []
        for i, ids in enumerate(encoded):
            if not ids:
                if bos is None:
                    raise MathverifyError(f"prompt {i} is empty and the tokenizer has no bos token")
                ids = [bos]
            out.append(list(ids))
        return out

    def _matcher(self, stops: tuple[str, ...]) -> _StopMatcher:
        if stops not in self._matchers:
            self._matchers[stops] = _StopMatcher(self.tokenizer, stops).to(self.device)
        return self._matchers[stops]

    @torch.inference_mode()
    def _generate(
        self,
        encoded: list[list[int]],
        *,
        greedy: bool,
        temperature: float,
        top_p: float,
        max_tokens: int,
        stops: tuple[str, ...],
        matcher: _StopMatcher | None,
    ) -> list[Completion]:
        prompt_len = max(len(ids) for ids in encoded)
        input_ids = torch.full((len(encoded), prompt_len), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(encoded), prompt_len), dtype=torch.long)
        for row, ids in enumerate(encoded):
            input_ids[row, prompt_len - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, prompt_len - len(ids) :] = 1
        input_ids = input_ids.to(self.device)
        attention_mask = attention_mask.to(self.device)
        eos_ids = torch.tensor(self.eos_ids, dtype=torch.long, device=self.device)
        recorder = _LogprobRecorder()
        tracker = _RowTracker(
            prompt_len=prompt_len,
            batch=len(encoded),
            eos_ids=eos_ids,
            recorder=recorder,
            matcher=matcher,
        )
        options: dict[str, Any] = {
            "max_new_tokens": max_tokens,
            "min_new_tokens": 0,
            "num_beams": 1,
            "num_return_sequences": 1,
            "do_sample": not greedy,
            "pad_token_id": self.pad_id,
            "eos_token_id": self.eos_ids or None,
            "repetition_penalty": 1.0,
            "logits_processor": LogitsProcessorList([recorder]),
            "stopping_criteria": StoppingCriteriaList([tracker]),
        }
        if greedy:
            # Neutral values, so a checkpoint's sampling defaults neither apply nor warn.
            options.update(temperature=1.0, top_p=1.0, top_k=50)
        else:
            # The model's generation_config may set top_k; the Policy protocol has none.
            options.update(temperature=temperature, top_p=top_p, top_k=0)
        sequences = self.model.generate(
            input_ids=input_ids, attention_mask=attention_mask, **options
        )
        generated = sequences[:, prompt_len:]
        length = generated.shape[1]
        is_eos = torch.isin(generated, eos_ids)
        has_eos = is_eos.any(dim=1)
        eos_at = torch.where(has_eos, is_eos.int().argmax(dim=1), length)
        if tracker.token_logprobs:
            token_logprobs = torch.stack(tracker.token_logprobs, dim=1).float().cpu()
        else:
            token_logprobs = torch.zeros((len(encoded), 0))
        stop_len = tracker.stop_len.tolist()
        eos_at_list = eos_at.tolist()
        tokens = generated.tolist()

        counts: list[int] = []
        reasons: list[str] = []
        text_lens: list[int] = []
        for row in range(len(encoded)):
            if stop_len[row] > 0:
                counts.append(stop_len[row])
                reasons.append("stop")
                text_lens.append(stop_len[row])
            elif eos_at_list[row] < length:
                counts.append(eos_at_list[row] + 1)
                reasons.append("eos")
                text_lens.append(eos_at_list[row])
            else:
                counts.append(length)
                reasons.append("length")
                text_lens.append(length)
        texts = self.tokenizer.batch_decode(
            [tokens[row][: text_lens[row]] for row in range(len(encoded))],
            skip_special_tokens=True,
        )
        completions: list[Completion] = []
        positions = torch.arange(token_logprobs.shape[1])
        for row, text in enumerate(texts):
            count, reason = counts[row], reasons[row]
            cut = _first_stop(text, stops)
            if cut is not None:
                if reason != "stop":
                    # The per-step check missed it (a token that decodes differently in
                    # context): find the token that completed the stop string.
                    count = _tokens_until_stop(self.tokenizer, tokens[row][:count], stops)
                    reason = "stop"
                text = text[:cut]
            logprob = float(token_logprobs[row][positions < count].sum())
            completions.append(
                Completion(text=text, n_tokens=count, finish_reason=reason, logprob=logprob)
            )
        return completions


def batch_seed(seed: int, index: int) -> int:
    """The seed of the ``index``-th batch of a call: ``seed`` itself for the first one."""
    return seed if index == 0 else random.Random(f"{seed}/{index}").getrandbits(63)


def _first_stop(text: str, stops: tuple[str, ...]) -> int | None:
    """Index of the earliest stop string in ``text``; None when there is none."""
    positions = [i for i in (text.find(s) for s in stops) if i != -1]
    return min(positions) if positions else None


def _tokens_until_stop(
    tokenizer: PreTrainedTokenizerBase, tokens: list[int], stops: tuple[str, ...]
) -> int:
    """The fewest leading tokens whose text contains a stop string (binary search)."""
    low, high = 1, len(tokens)
    while low < high:
        middle = (low + high) // 2
        text = tokenizer.decode(tokens[:middle], skip_special_tokens=True)
        if _first_stop(text, stops) is None:
            low = middle + 1
        else:
            high = middle
    return low
