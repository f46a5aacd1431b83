"""The transformers backend: any causal LM directory or hub name as a :class:`Policy`, CPU or GPU.

It batches sequences (``n`` samples of each prompt are rows) under a ``batch_size``
bound, longest prompt first, pads on the left, decodes greedily at temperature 0, and
stops each row at the first stop string in its generated text while the rest of the batch
goes on. Per-token log-probabilities are read once per step from the model's own
distribution (before temperature and top-p), so nothing is kept per step but one number
per row.

Decoding runs in our own loop (:meth:`HFPolicy._decode`), the steps of ``generate``'s
sampling loop with the model's generation-config processors, plus what search's many short
continuations need on CPU: a prompt is encoded once for its ``n`` rows, finished rows
leave the running batch, the KV cache sits in preallocated buffers, and the keys and values
of each call's prompts are kept for the next call (:class:`~mathverify.prefix_cache.PrefixCache`),
so a prompt that extends one of them (search's next depth) encodes only its new tokens. It gives
``generate``'s greedy text and, drawing its random numbers the same way, its samples
(``use_generate=True`` runs ``generate`` itself, the reference the tests compare with).

Not the fast path for real models on GPU: that is vLLM (``mathverify.backends.vllm``).
This backend is the reference every other backend is checked against, and what the
embedded synthetic task runs on CPU.
"""

from __future__ import annotations

import copy
import inspect
import random
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import (
    AttentionInterface,
    AutoModelForCausalLM,
    AutoTokenizer,
    DynamicCache,
    DynamicLayer,
    LogitsProcessor,
    LogitsProcessorList,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    StoppingCriteria,
    StoppingCriteriaList,
)
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

from mathverify.backends.base import Completion, check_sampling, stop_strings
from mathverify.errors import MathverifyError
from mathverify.models.compat import cache_keyword
from mathverify.models.kv_slab import SlabLayer
from mathverify.models.verifier import check_tokenizer_files
from mathverify.prefix_cache import PrefixCache

DTYPES: dict[str, Any] = {
    "auto": "auto",
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}

DEFAULT_BATCH_SIZE = 256
# Prompt tokens whose keys and values one call keeps for the next (0: off). Search keeps
# B1 prompts per problem: 16 problems x 3 beams of ~1,000 tokens fit.
DEFAULT_PREFIX_CACHE_TOKENS = 1 << 16


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
        use_generate: bool = False,
        prefix_cache_tokens: int = DEFAULT_PREFIX_CACHE_TOKENS,
    ) -> None:
        if batch_size < 1:
            raise MathverifyError(f"batch_size must be at least 1, got {batch_size}")
        self.model = model.eval()
        # transformers' own generate loop: the reference the cached loop is tested against,
        # and the loop for models the cached one does not drive (encoder-decoder ones, or
        # remote code whose forward cannot return the last position's logits alone).
        self.use_generate = (
            use_generate
            or bool(model.config.is_encoder_decoder)
            or "logits_to_keep" not in inspect.signature(model.forward).parameters
        )
        # The cached loop passes its KV cache by the keyword this release's forward reads.
        self._cache_keyword = cache_keyword(model)
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
        if prefix_cache_tokens < 0:
            raise MathverifyError(f"prefix_cache_tokens must be >= 0, got {prefix_cache_tokens}")
        # The prompts' keys and values, for the next call's prompts that extend them.
        self.prefix_cache = PrefixCache(0 if self.use_generate else prefix_cache_tokens)
        if (
            not self.use_generate
            and self.device.type == "cpu"
            and getattr(model.config, "_attn_implementation", None) == "sdpa"
        ):
            _use_cpu_decode_attention(model)

    @classmethod
    def load(
        cls,
        path_or_name: str,
        *,
        dtype: str = "auto",
        device: str = "auto",
        batch_size: int = DEFAULT_BATCH_SIZE,
        trust_remote_code: bool = False,
        use_generate: bool = False,
        prefix_cache_tokens: int = DEFAULT_PREFIX_CACHE_TOKENS,
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
        check_tokenizer_files(path_or_name)
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
        return cls(
            model,
            tokenizer,
            name=path_or_name,
            batch_size=batch_size,
            use_generate=use_generate,
            prefix_cache_tokens=prefix_cache_tokens,
        )

    def settings(self) -> dict[str, Any]:
        """What to record beside the outputs: the weights' dtype, the device, the batch size."""
        return {
            "dtype": str(self.model.dtype).removeprefix("torch."),
            "device": str(self.device),
            "batch_size": self.batch_size,
            "transformers_version": transformers.__version__,
        }

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
        prompts and options of the call (and the batch size), never on earlier calls (the
        prefix cache changes what is computed, not the result, up to float rounding).
        """
        check_sampling(n=n, temperature=temperature, top_p=top_p, max_tokens=max_tokens)
        stops = tuple(stop_strings(stop))
        if not prompts:
            return []
        greedy = temperature == 0
        encoded = self._encode(prompts)
        # Greedy samples are all equal: decode each prompt once and repeat the result.
        copies = 1 if greedy else n
        # Longest first, so rows of a batch have similar lengths and little padding; the
        # copies of a prompt stay together (and share its prompt encoding).
        order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
        matcher = self._matcher(stops) if stops else None
        per_prompt: list[list[Completion]] = [[] for _ in prompts]
        with self.prefix_cache.call():
            for index, chunk in enumerate(_chunks(order, copies, self.batch_size)):
                # Each batch has its own seed, so when one batch stops early the random numbers
                # the next one draws stay the same.
                torch.manual_seed(batch_seed(seed, index))
                units = [(encoded[i], count) for i, count in chunk]
                decode = self._generate if self.use_generate else self._decode
                results = iter(
                    decode(
                        units,
                        greedy=greedy,
                        temperature=temperature,
                        top_p=top_p,
                        max_tokens=max_tokens,
                        matcher=matcher,
                    )
                )
                for i, count in chunk:
                    per_prompt[i].extend(next(results) for _ in range(count))
        return [mine * n if greedy else mine for mine in per_prompt]

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

    def _sampling_options(
        self, *, greedy: bool, temperature: float, top_p: float, max_tokens: int
    ) -> dict[str, Any]:
        options: dict[str, Any] = {
            "max_new_tokens": max_tokens,
            "min_new_tokens": 0,
            "num_beams": 1,
            "num_return_sequences": 1,
            "do_sample": not greedy,
            "pad_token_id": self.pad_id,
            "eos_token_id": self.eos_ids or None,
            "repetition_penalty": 1.0,
        }
        if greedy:
            # Neutral values, so a checkpoint's sampling defaults neither apply nor warn.
            options.update(temperature=1.0, top_p=1.0, top_k=50)
        else:
            # The model's generation_config may set top_k; the Policy protocol has none.
            options.update(temperature=temperature, top_p=top_p, top_k=0)
        return options

    def _left_pad(self, encoded: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        prompt_len = max(len(ids) for ids in encoded)
        input_ids = torch.full((len(encoded), prompt_len), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(encoded), prompt_len), dtype=torch.long)
        for row, ids in enumerate(encoded):
            input_ids[row, prompt_len - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, prompt_len - len(ids) :] = 1
        return input_ids.to(self.device), attention_mask.to(self.device)

    @torch.inference_mode()
    def _decode(
        self,
        units: list[tuple[list[int], int]],
        *,
        greedy: bool,
        temperature: float,
        top_p: float,
        max_tokens: int,
        matcher: _StopMatcher | None,
    ) -> list[Completion]:
        """Rows: each unit's prompt ``count`` times, in unit order; our own cached sampling loop.

        The same steps as ``generate``'s sampling loop (the model's generation-config logits
        processors, then argmax or a multinomial draw), with three savings that matter when
        many short continuations are asked for at once, as search does:

        - a prompt is encoded once and its KV cache copied to its ``count`` rows;
        - a finished row leaves the batch (its cache rows are dropped once enough rows
          have finished), instead of running until the longest row ends;
        - the KV cache sits in buffers with room for the whole continuation, so a token
          writes its keys and values instead of copying the cache (``DynamicCache``);
        - only the last position's logits are computed;
        - a prompt whose leading tokens the prefix cache holds (the previous call's prompts)
          takes their keys and values from it and encodes only the rest.
        """
        prompts, attention_mask = self._left_pad([ids for ids, _ in units])
        prompt_len = prompts.shape[1]
        eos_ids = torch.tensor(self.eos_ids, dtype=torch.long, device=self.device)
        recorder = _LogprobRecorder()
        processors = self._processors(
            prompts,
            recorder,
            self._sampling_options(
                greedy=greedy, temperature=temperature, top_p=top_p, max_tokens=max_tokens
            ),
        )
        positions = (attention_mask.cumsum(-1) - 1).masked_fill(attention_mask == 0, 0)
        cache, fed = self._cached_prompts([ids for ids, _ in units], prompt_len)
        out = self.model(
            input_ids=prompts[:, prompt_len - fed :],
            attention_mask=attention_mask,
            position_ids=positions[:, prompt_len - fed :],
            use_cache=True,
            logits_to_keep=1,
            **{self._cache_keyword: cache},
        )
        self._keep_prompts([ids for ids, _ in units], cache, prompt_len)
        logits = out.logits[:, -1].to(dtype=torch.float32, copy=True)
        counts = torch.tensor([count for _, count in units], device=self.device)
        expand = torch.repeat_interleave(torch.arange(len(units), device=self.device), counts)
        if all(type(layer) is DynamicLayer for layer in cache.layers):
            # Each prompt's cache goes to its rows, in buffers with room for the continuation.
            cache.layers = [
                SlabLayer(
                    layer.keys,
                    layer.values,
                    expand if len(units) != expand.shape[0] else None,
                    prompt_len + max_tokens,
                )
                for layer in cache.layers
            ]
        elif len(units) != expand.shape[0]:
            _select_rows(cache, expand)  # sliding-window or other layers keep their own kind
        if len(units) != expand.shape[0]:
            prompts, attention_mask = prompts[expand], attention_mask[expand]
            positions, logits = positions[expand], logits[expand]
        n_rows = prompts.shape[0]
        input_ids = prompts
        next_position = positions[:, -1] + 1
        # Row r of the running batch is row live[r] of the output; finished rows stay in the
        # batch (fed padding, like generate does) until enough of them can be dropped at once.
        live = torch.arange(n_rows, device=self.device)
        finished = torch.zeros(n_rows, dtype=torch.bool, device=self.device)
        generated = torch.full((n_rows, max_tokens), self.pad_id, dtype=torch.long)
        token_logprobs = torch.zeros((n_rows, max_tokens), dtype=torch.float32)
        stop_len = torch.zeros(n_rows, dtype=torch.long)
        length = 0
        for step in range(max_tokens):
            scores = processors(input_ids, logits)
            if greedy:
                tokens = torch.argmax(scores, dim=-1)
            else:
                tokens = _draw(torch.softmax(scores, dim=-1), live, n_rows)
            tokens = tokens.masked_fill(finished, self.pad_id)
            assert recorder.logprobs is not None
            chosen = recorder.logprobs.gather(1, tokens[:, None]).squeeze(1)
            input_ids = torch.cat([input_ids, tokens[:, None]], dim=-1)
            rows = live.cpu()
            generated[rows, step] = tokens.cpu()
            token_logprobs[rows, step] = chosen.float().cpu()
            length = step + 1
            open_rows = ~finished
            ended = torch.isin(tokens, eos_ids) & open_rows
            if matcher is not None:
                stopped = matcher.matches(input_ids, open_rows & ~ended, prompt_len)
                stop_len[rows[stopped.cpu()]] = step + 1
                ended |= stopped
            finished |= ended
            if step + 1 == max_tokens or bool(finished.all()):
                break
            n_finished = int(finished.sum())
            if n_finished * _DROP_FRACTION >= finished.shape[0]:
                keep = (~finished).nonzero().squeeze(1)
                _select_rows(cache, keep)
                live, input_ids, tokens = live[keep], input_ids[keep], tokens[keep]
                attention_mask, next_position = attention_mask[keep], next_position[keep]
                finished = finished[keep]
            attention_mask = torch.cat(
                [attention_mask, attention_mask.new_ones((len(live), 1))], -1
            )
            out = self.model(
                input_ids=tokens[:, None],
                attention_mask=attention_mask,
                position_ids=next_position[:, None],
                use_cache=True,
                **{self._cache_keyword: cache},
            )
            next_position = next_position + 1
            logits = out.logits[:, -1].to(dtype=torch.float32, copy=True)
        return self._completions(
            generated[:, :length], token_logprobs[:, :length], stop_len.tolist(), matcher
        )

    def _cached_prompts(self, encoded: list[list[int]], width: int) -> tuple[DynamicCache, int]:
        """A KV cache for left-padded ``encoded`` (``width`` wide) holding what the prefix
        cache knows, and how many last positions the model must still encode.

        Every row is encoded over the same last ``fed`` positions, the most any row has
        beyond its cached prefix; a row whose uncached part is shorter encodes a few cached
        tokens again (keys and values equal to the cached ones up to rounding), so the
        layout stays plain left padding and the decoding loop is unchanged. Each row keeps
        at least one token to encode: its logits come from that forward.
        """
        cache = DynamicCache(config=self.model.config)
        store = self.prefix_cache
        if not store.enabled or not all(type(layer) is DynamicLayer for layer in cache.layers):
            return cache, width
        hits = [store.longest(ids, len(ids) - 1) for ids in encoded]
        fed = max(len(ids) - n for ids, (n, _) in zip(encoded, hits, strict=True))
        if fed >= width:
            return cache, width
        past = width - fed
        sample = next(value for _, value in hits if value is not None)
        layers2, heads, _, dim = sample.shape
        kv = sample.new_zeros((layers2, len(encoded), heads, past, dim))
        for row, (ids, (_, value)) in enumerate(zip(encoded, hits, strict=True)):
            used = len(ids) - fed  # this row's tokens left of the encoded window
            if used > 0:
                kv[:, row, :, past - used :] = value[:, :, :used]
                store.stats.reused_tokens += used
        for index, layer in enumerate(cache.layers):
            layer.lazy_initialization(kv[2 * index], kv[2 * index + 1])
            layer.keys, layer.values = kv[2 * index], kv[2 * index + 1]
        return cache, fed

    def _keep_prompts(self, encoded: list[list[int]], cache: DynamicCache, width: int) -> None:
        """Store each prompt's keys and values (all layers, one tensor) for the next call."""
        store = self.prefix_cache
        if not store.enabled or not all(type(layer) is DynamicLayer for layer in cache.layers):
            return
        for row, ids in enumerate(encoded):
            if store.wants(ids):
                start = width - len(ids)
                value = torch.stack(
                    [
                        part[row, :, start:]
                        for layer in cache.layers
                        for part in (layer.keys, layer.values)
                    ]
                )
                store.insert(ids, value)

    def _processors(
        self, prompts: torch.Tensor, recorder: _LogprobRecorder, options: dict[str, Any]
    ) -> LogitsProcessorList:
        """The logits processors ``generate`` would build for these options, recorder included."""
        config = copy.deepcopy(self.model.generation_config)
        config.update(**options)
        self.model._prepare_special_tokens(config, True, device=self.device)
        return self.model._get_logits_processor(
            generation_config=config,
            input_ids_seq_length=prompts.shape[1],
            encoder_input_ids=prompts,
            prefix_allowed_tokens_fn=None,
            logits_processor=LogitsProcessorList([recorder]),
            device=str(self.device),
            model_kwargs={},
        )

    @torch.inference_mode()
    def _generate(
        self,
        units: list[tuple[list[int], int]],
        *,
        greedy: bool,
        temperature: float,
        top_p: float,
        max_tokens: int,
        matcher: _StopMatcher | None,
    ) -> list[Completion]:
        """The same rows as :meth:`_decode`, by transformers' ``generate``."""
        encoded = [ids for ids, count in units for _ in range(count)]
        input_ids, attention_mask = self._left_pad(encoded)
        prompt_len = input_ids.shape[1]
        eos_ids = torch.tensor(self.eos_ids, dtype=torch.long, device=self.device)
        recorder = _LogprobRecorder()
        tracker = _RowTracker(
            prompt_len=prompt_len,
            batch=len(encoded),
            eos_ids=eos_ids,
            recorder=recorder,
            matcher=matcher,
        )
        options = self._sampling_options(
            greedy=greedy, temperature=temperature, top_p=top_p, max_tokens=max_tokens
        )
        sequences = self.model.generate(
            input_ids=input_ids,
            attention_mask=attention_mask,
            logits_processor=LogitsProcessorList([recorder]),
            stopping_criteria=StoppingCriteriaList([tracker]),
            **options,
        )
        generated = sequences[:, prompt_len:]
        if tracker.token_logprobs:
            token_logprobs = torch.stack(tracker.token_logprobs, dim=1).float().cpu()
        else:
            token_logprobs = torch.zeros((len(encoded), 0))
        return self._completions(
            generated.cpu(), token_logprobs, tracker.stop_len.tolist(), matcher
        )

    def _completions(
        self,
        generated: torch.Tensor,
        token_logprobs: torch.Tensor,
        stop_len: list[int],
        matcher: _StopMatcher | None,
    ) -> list[Completion]:
        """Records from generated ids (padding after a row's end), per-token logprobs, and
        the number of tokens at which each row hit a stop string (0: never)."""
        stops = matcher.stops if matcher is not None else ()
        n_rows, length = generated.shape
        eos_ids = torch.tensor(self.eos_ids, dtype=torch.long)
        is_eos = torch.isin(generated, eos_ids)
        has_eos = is_eos.any(dim=1)
        eos_at_list = torch.where(has_eos, is_eos.int().argmax(dim=1), length).tolist()
        tokens = generated.tolist()
        counts: list[int] = []
        reasons: list[str] = []
        text_lens: list[int] = []
        for row in range(n_rows):
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
            [tokens[row][: text_lens[row]] for row in range(n_rows)],
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


# A running batch drops its finished rows once at least 1 in this many has finished:
# dropping copies every layer's cache, so doing it for each finished row would cost more
# than computing a few dead rows.
_DROP_FRACTION = 4


def _chunks(order: list[int], copies: int, size: int) -> list[list[tuple[int, int]]]:
    """Cut ``copies`` rows of each prompt in ``order`` into batches of at most ``size`` rows.

    The rows are cut as one flat list would be, every ``size`` rows; a batch is a list of
    (prompt index, rows of that prompt in this batch).
    """
    out: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    room = size
    for i in order:
        left = copies
        while left:
            take = min(left, room)
            current.append((i, take))
            left -= take
            room -= take
            if room == 0:
                out.append(current)
                current, room = [], size
    if current:
        out.append(current)
    return out


def _draw(probs: torch.Tensor, live: torch.Tensor, n_rows: int) -> torch.Tensor:
    """One token per running row, as ``torch.multinomial(probs, 1)`` on the full batch draws it.

    ``multinomial`` with one sample is ``argmax(probs / q)`` with ``q ~ Exp(1)`` drawn for
    the whole ``[rows, vocab]`` tensor. Drawing ``q`` for all ``n_rows`` rows of the batch,
    finished ones included, keeps each row's random numbers what they would be had no row
    left the batch: a row's sample does not depend on when the others stopped, and a
    one-row batch draws exactly what ``generate`` draws.
    """
    noise = torch.empty((n_rows, probs.shape[1]), dtype=probs.dtype, device=probs.device)
    noise.exponential_(1)
    if live.shape[0] != n_rows:
        noise = noise[live]
    return torch.argmax(probs / noise, dim=-1)


CPU_DECODE_ATTENTION = "mathverify_cpu_decode"


def _cpu_decode_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """``sdpa`` attention, except for one-token queries on CPU: two matmuls and a softmax.

    PyTorch's fused CPU kernel tiles for long queries; for a decoding step (one query per
    row against a cache of ~100 positions, hundreds of rows) it takes about twice as long
    as the plain matmuls, and decoding steps spend most of their time in attention.
    Anything unusual (a position bias, attention sinks, softcapping, dropout) goes to sdpa.
    """
    plain = (
        query.shape[2] == 1
        and query.device.type == "cpu"
        and not dropout
        and all(kwargs.get(name) is None for name in ("position_bias", "s_aux", "softcap"))
    )
    if not plain:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    batch, heads, _, dim = query.shape
    kv_heads = key.shape[1]
    # Grouped-query heads: the query heads of one key/value head become its query rows.
    grouped = query.reshape(batch, kv_heads, heads // kv_heads, dim)
    scale = scaling if scaling is not None else dim**-0.5
    scores = torch.matmul(grouped, key.transpose(-1, -2)).float() * scale
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attention_mask, float("-inf"))
        else:
            scores = scores + attention_mask
    weights = torch.softmax(scores, dim=-1).to(value.dtype)
    return torch.matmul(weights, value).reshape(batch, 1, heads, dim), None


def _use_cpu_decode_attention(model: PreTrainedModel) -> None:
    """Switch an sdpa model to :func:`_cpu_decode_attention` (same masks as sdpa)."""
    AttentionInterface.register(CPU_DECODE_ATTENTION, _cpu_decode_attention)
    AttentionMaskInterface.register(CPU_DECODE_ATTENTION, sdpa_mask)
    model.set_attn_implementation(CPU_DECODE_ATTENTION)


def _select_rows(cache: DynamicCache, rows: torch.Tensor) -> None:
    """Keep (or repeat) the cache rows ``rows``, in that order, in every layer."""
    for layer in cache.layers:
        layer.batch_select_indices(rows)


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
