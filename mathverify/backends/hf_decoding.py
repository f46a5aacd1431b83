"""The transformers backend's decoding engine: batches of prompt rows to completions.

:class:`Decoder` runs our own decoding loop (:meth:`Decoder._cached`), the steps of
``generate``'s sampling loop with the model's generation-config processors, plus what
search's many short continuations need on CPU: a prompt is encoded once for its ``n`` rows,
finished rows leave the running batch, the KV cache sits in preallocated buffers, and the
keys and values of each call's prompts are kept for the next call
(:mod:`mathverify.models.kv_prefix`), so a prompt that extends one of them (search's next
depth) encodes only its new tokens. It gives ``generate``'s greedy text and, drawing its
random numbers the same way, its samples (``use_generate=True`` runs ``generate`` itself,
the reference the tests compare with). On CPU an sdpa model decodes with
:func:`cpu_decode_attention`.

Loading, tokenising and cutting a call into batches is :class:`~mathverify.backends.hf.HFPolicy`;
transformers internals (the processors ``generate`` builds, cache layers, the attention
registry) are reached through :mod:`mathverify.models.compat`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from transformers import (
    LogitsProcessor,
    LogitsProcessorList,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    StoppingCriteria,
    StoppingCriteriaList,
)

from mathverify.backends.base import Completion
from mathverify.models.compat import (
    attention_implementation,
    cache_keyword,
    generation_processors,
    new_cache,
    sdpa_attention,
    select_rows,
    use_attention,
)
from mathverify.models.kv_prefix import gather_prefixes, keep_prefixes, spread_rows
from mathverify.prefix_cache import PrefixCache

__all__ = [
    "CPU_DECODE_ATTENTION",
    "Decoder",
    "StepSink",
    "StepTrace",
    "StopMatcher",
    "cpu_decode_attention",
]


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


@dataclass(frozen=True)
class StepTrace:
    """What the generating forward computed for one row, for a scorer that reads it.

    ``prompt_ids`` and ``ids`` (the generated tokens the completion counts, its stop string
    included) make the row's token sequence; ``logprobs`` are the model's own
    log-probabilities of ``ids``; ``hidden`` is the last layer's hidden state at the last of
    ``ids`` (the step separator's position, where a step scorer reads), or None when the
    row did not end at a stop string (no forward read its last token).
    """

    prompt_ids: list[int]
    ids: list[int]
    logprobs: torch.Tensor
    hidden: torch.Tensor | None


StepSink = Callable[[list[StepTrace]], None]


class StopMatcher:
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

    def to(self, device: torch.device) -> StopMatcher:
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
        matcher: StopMatcher | None,
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


class Decoder:
    """Completions of batches of prompt rows by one causal LM: our cached loop, or
    ``generate`` (``use_generate``); the keys and values of each batch's prompts go to
    ``prefix_cache`` for the next call."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        eos_ids: list[int],
        pad_id: int,
        prefix_cache: PrefixCache,
        use_generate: bool,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.eos_ids = eos_ids
        self.pad_id = pad_id
        self.prefix_cache = prefix_cache
        self.use_generate = use_generate
        self.device = next(model.parameters()).device
        # A scorer that reads the generating forward (:mod:`mathverify.scoring.shared_forward`)
        # gets each call's rows here; only the cached loop records them.
        self.step_sink: StepSink | None = None
        # The token it reads after a step that ended the sequence (its separator), if one.
        self.step_end_id: int | None = None
        # The cached loop passes its KV cache by the keyword this release's forward reads.
        self._cache_keyword = cache_keyword(model)
        if (
            not use_generate
            and self.device.type == "cpu"
            and attention_implementation(model) == "sdpa"
        ):
            use_attention(model, CPU_DECODE_ATTENTION, cpu_decode_attention)

    @staticmethod
    def drives(model: PreTrainedModel) -> bool:
        """Whether the cached loop can drive ``model``: not for encoder-decoder models, nor
        remote code whose forward cannot return the last position's logits alone (those
        run ``generate``)."""
        return not model.config.is_encoder_decoder and (
            "logits_to_keep" in inspect.signature(model.forward).parameters
        )

    def decode(
        self,
        units: list[tuple[list[int], int]],
        *,
        greedy: bool,
        temperature: float,
        top_p: float,
        max_tokens: int,
        matcher: StopMatcher | None,
    ) -> list[Completion]:
        """Rows: each unit's prompt ``count`` times, in unit order."""
        decode = self._generate if self.use_generate else self._cached
        return decode(
            units,
            greedy=greedy,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            matcher=matcher,
        )

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
    def _cached(
        self,
        units: list[tuple[list[int], int]],
        *,
        greedy: bool,
        temperature: float,
        top_p: float,
        max_tokens: int,
        matcher: StopMatcher | None,
    ) -> list[Completion]:
        """Rows: each unit's prompt ``count`` times, in unit order; our own cached sampling loop.

        The same steps as ``generate``'s sampling loop (the model's generation-config logits
        processors, then argmax or a multinomial draw), with savings that matter when many
        short continuations are asked for at once, as search does:

        - a prompt is encoded once and its KV cache copied to its ``count`` rows;
        - a finished row leaves the batch (its cache rows are dropped once enough rows
          have finished), instead of running until the longest row ends;
        - the KV cache sits in buffers with room for the whole continuation, so a token
          writes its keys and values instead of copying the cache (``DynamicCache``);
        - only the last position's logits are computed;
        - a prompt whose leading tokens the prefix cache holds (the previous call's prompts)
          takes their keys and values from it and encodes only the rest.
        """
        encoded = [ids for ids, _ in units]
        prompts, attention_mask = self._left_pad(encoded)
        prompt_len = prompts.shape[1]
        eos_ids = torch.tensor(self.eos_ids, dtype=torch.long, device=self.device)
        recorder = _LogprobRecorder()
        processors = generation_processors(
            self.model,
            self._sampling_options(
                greedy=greedy, temperature=temperature, top_p=top_p, max_tokens=max_tokens
            ),
            prompts,
            LogitsProcessorList([recorder]),
            self.device,
        )
        positions = (attention_mask.cumsum(-1) - 1).masked_fill(attention_mask == 0, 0)
        cache = new_cache(self.model.config)
        fed, _ = gather_prefixes(self.prefix_cache, cache, encoded, prompt_len, encode_last=True)
        out = self.model(
            input_ids=prompts[:, prompt_len - fed :],
            attention_mask=attention_mask,
            position_ids=positions[:, prompt_len - fed :],
            use_cache=True,
            logits_to_keep=1,
            **{self._cache_keyword: cache},
        )
        keep_prefixes(self.prefix_cache, cache, encoded, prompt_len)
        logits = out.logits[:, -1].to(dtype=torch.float32, copy=True)
        counts = torch.tensor([count for _, count in units], device=self.device)
        expand = torch.repeat_interleave(torch.arange(len(units), device=self.device), counts)
        # Each prompt's cache goes to its rows, in buffers with room for the continuation.
        spread_rows(
            cache, expand if len(units) != expand.shape[0] else None, prompt_len + max_tokens
        )
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
        # With a step sink, the hidden state at each row's last token: the forward after a
        # row ends feeds that token, so a row leaves the batch one forward later. Only calls
        # for one step (a stop string ends each row) are traced: a row of a whole solution
        # holds several steps, and a step scorer reads one.
        traced = (
            _Traced(n_rows, max_tokens)
            if self.step_sink is not None and matcher is not None
            else None
        )
        length = 0

        def feed(tokens: torch.Tensor, mask: torch.Tensor, ended: torch.Tensor) -> Any:
            out = self.model(
                input_ids=tokens[:, None],
                attention_mask=mask,
                position_ids=next_position[:, None],
                use_cache=True,
                output_hidden_states=traced is not None,
                **{self._cache_keyword: cache},
            )
            if traced is not None:
                traced.read(out.hidden_states[-1][:, -1], live, ended)
            return out

        for step in range(max_tokens):
            # The model's own log-probabilities, before any processor (a processor of the
            # model's generation config may change the logits, some in place).
            raw = torch.log_softmax(logits, dim=-1) if traced is not None else None
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
            # What the next forward feeds: with a step sink, a row that ended the sequence
            # gets the step separator instead of its end token, as a scorer encodes a final
            # step (the row is over: what it is fed changes nothing it generated).
            fed = tokens
            if traced is not None and raw is not None:
                if self.step_end_id is not None:
                    fed = tokens.masked_fill(ended, self.step_end_id)
                traced.logprobs[rows, step] = raw.gather(1, fed[:, None])[:, 0].float().cpu()
            if matcher is not None:
                stopped = matcher.matches(input_ids, open_rows & ~ended, prompt_len)
                stop_len[rows[stopped.cpu()]] = step + 1
                ended |= stopped
            finished |= ended
            if step + 1 == max_tokens or bool(finished.all()):
                if traced is not None and bool(ended.any()):
                    # The rows that ended now still need their last token read.
                    feed(
                        fed,
                        torch.cat([attention_mask, ended.new_ones((len(live), 1)).long()], -1),
                        ended,
                    )
                break
            # Rows that ended this step are kept one forward longer when their hidden state
            # at the last token is wanted.
            droppable = finished & ~ended if traced is not None else finished
            n_finished = int(droppable.sum())
            if n_finished * _DROP_FRACTION >= finished.shape[0]:
                keep = (~droppable).nonzero().squeeze(1)
                select_rows(cache, keep)
                live, input_ids, tokens, fed = live[keep], input_ids[keep], tokens[keep], fed[keep]
                attention_mask, next_position = attention_mask[keep], next_position[keep]
                finished, ended = finished[keep], ended[keep]
            attention_mask = torch.cat(
                [attention_mask, attention_mask.new_ones((len(live), 1))], -1
            )
            out = feed(fed, attention_mask, ended)
            next_position = next_position + 1
            logits = out.logits[:, -1].to(dtype=torch.float32, copy=True)
        completions = self._completions(
            generated[:, :length], token_logprobs[:, :length], stop_len.tolist(), matcher
        )
        if traced is not None and self.step_sink is not None:
            self.step_sink(
                traced.traces(
                    [ids for ids, count in units for _ in range(count)],
                    completions,
                    generated,
                    stop_len.tolist(),
                    self.step_end_id,
                )
            )
        return completions

    @torch.inference_mode()
    def _generate(
        self,
        units: list[tuple[list[int], int]],
        *,
        greedy: bool,
        temperature: float,
        top_p: float,
        max_tokens: int,
        matcher: StopMatcher | None,
    ) -> list[Completion]:
        """The same rows as :meth:`_cached`, by transformers' ``generate``."""
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
        matcher: StopMatcher | None,
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


class _Traced:
    """What a step scorer reads off a decoding: each row's tokens' own log-probabilities and
    the last layer's hidden state at its last generated token, as the forwards computed it."""

    def __init__(self, n_rows: int, max_tokens: int) -> None:
        self.hidden: torch.Tensor | None = None
        self.read_rows = torch.zeros(n_rows, dtype=torch.bool)
        self.logprobs = torch.zeros((n_rows, max_tokens), dtype=torch.float32)

    def read(self, hidden: torch.Tensor, live: torch.Tensor, ended: torch.Tensor) -> None:
        """Keep the hidden states of the running rows that ``ended`` at the token just fed."""
        if not bool(ended.any()):
            return
        if self.hidden is None:
            self.hidden = hidden.new_zeros((self.read_rows.shape[0], hidden.shape[-1]))
        rows = live[ended]
        self.hidden[rows] = hidden[ended]
        self.read_rows[rows.cpu()] = True

    def traces(
        self,
        prompts: list[list[int]],
        completions: list[Completion],
        generated: torch.Tensor,
        stop_len: list[int],
        end_id: int | None,
    ) -> list[StepTrace]:
        """One trace per row; a hidden state only where the row stopped at a stop string (or
        ended the sequence, its end token read as ``end_id``) and the completion counts
        exactly the tokens up to the one whose state was read."""
        out: list[StepTrace] = []
        for row, completion in enumerate(completions):
            count = completion.n_tokens
            ids = generated[row, :count].tolist()
            if completion.finish_reason == "eos" and end_id is not None and ids:
                ids[-1] = end_id
                at_end = True
            else:
                at_end = completion.finish_reason == "stop" and stop_len[row] == count
            read = at_end and bool(self.read_rows[row])
            hidden = self.hidden[row] if read and self.hidden is not None else None
            out.append(StepTrace(prompts[row], ids, self.logprobs[row, :count], hidden))
        return out


# A running batch drops its finished rows once at least 1 in this many has finished:
# dropping copies every layer's cache, so doing it for each finished row would cost more
# than computing a few dead rows.
_DROP_FRACTION = 4


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


def cpu_decode_attention(
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
        return sdpa_attention(
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
