"""``PRMScorer``: per-step probabilities of "correct" from a process reward model directory.

Each solution is tokenised exactly as ``train-prm`` tokenised it (one score position per
step, the separator appended after the last step); solutions run in batches, without
gradients, on CUDA when available. A one-logit PRM scores ``sigmoid(logit)``. A three-class
PRM (PRM800K ratings) scores ``P(not negative) = P(neutral) + P(positive)`` when it was
trained with neutral steps counting as fine (the default) and ``P(positive)`` when neutral
counted as wrong; the card's ``extra.three_class_score`` records which. Steps beyond the
model's ``max_length`` get ``None``.

Solutions that differ only in their last step (search's candidate continuations of one
beam) share one encoding of their common token prefix, through the decoder's KV cache;
their scores equal those of encoding each solution whole, up to float rounding. The keys,
values and hidden states of each call's shared prefixes are kept for the next call
(:mod:`mathverify.models.kv_prefix`, which the hf policy uses for its prompts too): at
search's next depth a beam's prefix is the one read before plus one step, so only that step
is encoded again.

A PRM trained with ``--step-features likelihood`` also reads, at each step, the sum, mean
and minimum log-probability of the step's tokens under its backbone's LM head; both paths
compute them (the shared one from the prefix's and the solution's own tokens together).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import torch
from transformers import DynamicCache

from mathverify.errors import MathverifyError
from mathverify.models.compat import cache_keyword, new_cache
from mathverify.models.kv_prefix import (
    DEFAULT_PREFIX_CACHE_TOKENS,
    gather_prefixes,
    keep_prefixes,
    prefix_rows,
)
from mathverify.models.verifier import (
    IGNORE,
    THREE_CLASS_SCORES,
    VerifierCollator,
    load_verifier,
    pad_id,
    step_index_row,
    step_statistics,
)
from mathverify.models.verifier_examples import tokenize_prm_example, tokenize_prm_examples
from mathverify.prefix_cache import PrefixCache
from mathverify.step_scores import StepScores

__all__ = ["PRMScorer"]


def _default_dtype(device: torch.device) -> torch.dtype:
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


class TokenScorer(ABC):
    """Shared batching for verifiers that read probabilities at token positions.

    A subclass says how one solution is tokenised (:meth:`tokenize`) and how the
    probabilities read at its score positions spread over the steps (:meth:`place`).
    """

    kind: tuple[str, ...] = ("prm", "orm")

    def __init__(
        self,
        path: str | Path,
        *,
        batch_size: int = 16,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        prefix_cache_tokens: int = DEFAULT_PREFIX_CACHE_TOKENS,
    ) -> None:
        if batch_size < 1:
            raise MathverifyError("--batch-size must be at least 1")
        if prefix_cache_tokens < 0:
            raise MathverifyError(f"prefix_cache_tokens must be >= 0, got {prefix_cache_tokens}")
        self.prefix_cache = PrefixCache(prefix_cache_tokens)
        self.device = (
            torch.device(device)
            if device
            else torch.device("cuda" if torch.cuda.is_available() else "cpu")
        )
        self.name = str(path)
        self.batch_size = batch_size
        self._load(path, dtype or _default_dtype(self.device))
        self._likelihood = getattr(self.model, "step_features", "hidden") == "likelihood"
        self._collate = VerifierCollator(pad_id(self.tokenizer), step_index=self._likelihood)

    def _load(self, path: str | Path, dtype: torch.dtype) -> None:
        """Set ``model`` (a backbone plus a ``head``), ``tokenizer`` and ``max_length``."""
        self.model, self.tokenizer, self.card = load_verifier(
            path, expect=self.kind, device=self.device, dtype=dtype
        )
        self.max_length: int | None = self.card.extra.get("max_length")
        self._three_class_score = self.card.extra.get("three_class_score", "not_negative")
        if self._three_class_score not in THREE_CLASS_SCORES:
            raise MathverifyError(
                f"{path}/mathverify.json: extra.three_class_score must be one of "
                f"{', '.join(THREE_CLASS_SCORES)}"
            )

    @abstractmethod
    def tokenize(self, problem: str, steps: list[str]) -> dict[str, list[Any]]:
        """One solution's model inputs: ``input_ids`` and the ``score_positions`` read for it."""

    def tokenize_many(self, solutions: list[tuple[str, list[str]]]) -> list[dict[str, list[Any]]]:
        """:meth:`tokenize` of each (problem, steps); a subclass may do it in one call."""
        return [self.tokenize(problem, list(steps)) for problem, steps in solutions]

    @abstractmethod
    def place(self, n_steps: int, probabilities: list[float]) -> StepScores:
        """Spread the probabilities read at score positions over the steps."""

    def _probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        if logits.shape[-1] == 1:
            return torch.sigmoid(logits[..., 0])
        probs = torch.softmax(logits, dim=-1)
        return probs[..., 2] if self._three_class_score == "positive" else 1.0 - probs[..., 0]

    @torch.no_grad()
    def score(self, problems: list[str], steps: list[list[str]]) -> list[StepScores]:
        """Scores of every solution; solutions that share all but their last step share the
        encoding of that prefix (see :meth:`_score_shared`).

        A solution repeated in the call (search often samples the same step twice) is scored
        once, so copies get equal scores whatever batches they would have fallen in.
        """
        if len(problems) != len(steps):
            raise MathverifyError(f"{len(problems)} problems for {len(steps)} step lists")
        seen: dict[tuple[str, tuple[str, ...]], int] = {}
        first = [
            seen.setdefault((problem, tuple(solution)), i)
            for i, (problem, solution) in enumerate(zip(problems, steps, strict=True))
        ]
        wanted = [i for i, solution in enumerate(steps) if solution and first[i] == i]
        encoded: list[dict[str, Any] | None] = [None] * len(steps)
        for i, example in zip(
            wanted, self.tokenize_many([(problems[i], steps[i]) for i in wanted]), strict=True
        ):
            encoded[i] = example
        read: list[list[float]] = [[] for _ in encoded]
        todo = [i for i, e in enumerate(encoded) if e is not None and e["score_positions"]]
        groups: dict[tuple[str, tuple[str, ...]], list[int]] = {}
        for i in todo:
            groups.setdefault((problems[i], tuple(steps[i][:-1])), []).append(i)
        cached = self._body() is not None
        shared = [g for g in groups.values() if cached and len(g) > 1]
        alone = sorted(i for g in groups.values() if not (cached and len(g) > 1) for i in g)
        if shared:
            with self.prefix_cache.call():
                self._score_shared(shared, encoded, read)
        self._score_whole(alone, encoded, read)
        read = [read[i] for i in first]
        return [
            self.place(len(solution), values) for solution, values in zip(steps, read, strict=True)
        ]

    def _body(self) -> torch.nn.Module | None:
        """The decoder under the head (it takes a KV cache), or None when there is no such split."""
        backbone = getattr(self.model, "backbone", None)
        body = getattr(backbone, "base_model", None)
        if body is None or body is backbone or not hasattr(self.model, "head"):
            return None
        return body

    def _score_whole(
        self, rows: list[int], encoded: list[dict[str, Any] | None], read: list[list[float]]
    ) -> None:
        """Each solution encoded whole, in batches of similar lengths."""
        # Longest first: batches of similar lengths waste little on padding.
        order = sorted(rows, key=lambda i: -len(encoded[i]["input_ids"]))  # type: ignore[index]
        for start in range(0, len(order), self.batch_size):
            batch_ids = order[start : start + self.batch_size]
            items = [
                {**encoded[i], "labels": [0.0] * len(encoded[i]["score_positions"])}  # type: ignore[dict-item,index]
                for i in batch_ids
            ]
            batch = self._collate(items)
            extra = {"step_index": batch["step_index"].to(self.device)} if self._likelihood else {}
            logits = self.model(
                input_ids=batch["input_ids"].to(self.device),
                attention_mask=batch["attention_mask"].to(self.device),
                **extra,
            )["logits"]
            probabilities = self._probabilities(logits).cpu()
            wanted = batch["labels"] != IGNORE
            for row, index in enumerate(batch_ids):
                read[index] = probabilities[row][wanted[row]].tolist()

    def _encode(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        cache: DynamicCache,
    ) -> torch.Tensor:
        """The decoder's last hidden states, reading and extending the KV cache ``cache``."""
        body = self._body()
        assert body is not None
        out = body(
            input_ids=input_ids.to(self.device),
            attention_mask=attention_mask.to(self.device),
            position_ids=position_ids,
            use_cache=True,
            **{cache_keyword(body): cache},
        )
        return out.last_hidden_state

    def _head_probabilities(self, inputs: torch.Tensor) -> torch.Tensor:
        return self._probabilities(self.model.head(inputs.to(self.model.head_dtype))).cpu()

    def _next_logprobs(self, hidden: torch.Tensor) -> torch.Tensor:
        """Log-probabilities of the next token after each position, from the LM head."""
        lm_head = self.model.backbone.get_output_embeddings()
        return torch.log_softmax(lm_head(hidden.to(lm_head.weight.dtype)).float(), dim=-1)

    def _score_shared(
        self,
        groups: list[list[int]],
        encoded: list[dict[str, Any] | None],
        read: list[list[float]],
    ) -> None:
        """Groups of solutions that differ only in their last step: the tokens they share are
        encoded once per group, and each solution's own tokens on top of that KV cache.

        Search scores B2 continuations of every beam at each depth, so this encodes the
        problem and the earlier steps once instead of B2 times. The shared part is the
        longest common prefix of the group's token ids, so the ids (and the scores, up to
        float rounding) are those of encoding each solution whole. Groups go in rounds of
        about ``_ROUND`` batches (longest shared part first); within a round the solutions'
        own tokens run in batches of similar lengths.
        """
        ids = [list(e["input_ids"]) if e is not None else [] for e in encoded]
        shares: list[int] = []
        for group in groups:
            first = ids[group[0]]
            common = min(len(ids[i]) for i in group) - 1  # every solution keeps a token
            for i in group[1:]:
                other = ids[i]
                j = 0
                while j < common and first[j] == other[j]:
                    j += 1
                common = j
            shares.append(common)
        order = sorted(range(len(groups)), key=lambda g: -shares[g])
        rounds: list[list[int]] = [[]]
        n_rows = 0
        for g in order:
            if n_rows >= _ROUND * self.batch_size:
                rounds.append([])
                n_rows = 0
            rounds[-1].append(g)
            n_rows += len(groups[g])
        for chosen in rounds:
            if chosen:
                self._score_round(
                    [groups[c] for c in chosen], [shares[c] for c in chosen], ids, encoded, read
                )

    def _score_round(
        self,
        groups: list[list[int]],
        shares: list[int],
        ids: list[list[int]],
        encoded: list[dict[str, Any] | None],
        read: list[list[float]],
    ) -> None:
        pad = self._collate.pad_token_id
        width = max(shares)
        # The shared prefixes, padded on the left so every group's next token is at `width`.
        prefix = torch.full((len(groups), width), pad, dtype=torch.long)
        prefix_mask = torch.zeros((len(groups), width), dtype=torch.long)
        for g, (group, share) in enumerate(zip(groups, shares, strict=True)):
            if share:
                prefix[g, width - share :] = torch.tensor(ids[group[0]][:share])
                prefix_mask[g, width - share :] = 1
        prefix_probs: list[list[float]] = [[] for _ in groups]
        prefix_hidden: torch.Tensor | None = None
        prefix_ids = [ids[group[0]][:share] for group, share in zip(groups, shares, strict=True)]
        prefix_cache = self._new_cache()
        fed, prefix_hidden = gather_prefixes(self.prefix_cache, prefix_cache, prefix_ids, width)
        if fed:
            positions = (prefix_mask.cumsum(-1) - 1).clamp(min=0)
            hidden = self._encode(
                prefix[:, width - fed :],
                prefix_mask,
                position_ids=positions[:, width - fed :].to(self.device),
                cache=prefix_cache,
            )
            prefix_hidden = (
                hidden if prefix_hidden is None else torch.cat([prefix_hidden, hidden], 1)
            )
        if width:
            assert prefix_hidden is not None
            keep_prefixes(self.prefix_cache, prefix_cache, prefix_ids, width, prefix_hidden)
            if not self._likelihood:
                prefix_probs = self._head_probabilities(prefix_hidden).tolist()
        likelihood = (
            _PrefixLikelihood(self, prefix, prefix_hidden, shares) if self._likelihood else None
        )
        # (solution, its group) longest own part first, in batches of similar lengths.
        rows = sorted(
            ((i, g) for g, group in enumerate(groups) for i in group),
            key=lambda row: -(len(ids[row[0]]) - shares[row[1]]),
        )
        own_lengths = [len(ids[i]) - shares[g] for i, g in rows]
        for batch in _length_batches(rows, own_lengths, self.batch_size):
            owners = torch.tensor([g for _, g in batch])
            tails = [ids[i][shares[g] :] for i, g in batch]
            tail_width = max(len(t) for t in tails)
            tail = torch.full((len(batch), tail_width), pad, dtype=torch.long)
            tail_mask = torch.zeros((len(batch), tail_width), dtype=torch.long)
            for r, t in enumerate(tails):
                tail[r, : len(t)] = torch.tensor(t)
                tail_mask[r, : len(t)] = 1
            cache = self._new_cache()
            if width:
                # Each row's prefix keys and values, with room for its own tokens: written
                # once (a copy of the prefix rows, then concatenation, wrote them twice).
                prefix_rows(cache, prefix_cache, owners.to(self.device), width + tail_width)
            first = torch.tensor([shares[g] for _, g in batch])
            positions = first[:, None] + torch.arange(tail_width)[None, :]
            tail_hidden = self._encode(
                tail,
                torch.cat([prefix_mask[owners], tail_mask], dim=1),
                position_ids=positions.to(self.device),
                cache=cache,
            )
            if likelihood is not None:
                tail_logprobs = self._next_logprobs(tail_hidden)
                for r, (i, g) in enumerate(batch):
                    read[i] = likelihood.read(
                        g,
                        encoded[i],
                        tail[r],
                        tail_hidden[r],
                        tail_logprobs[r],
                    )
                continue
            tail_probs = self._head_probabilities(tail_hidden).tolist()
            for r, (i, g) in enumerate(batch):
                share = shares[g]
                read[i] = [
                    prefix_probs[g][width - share + p] if p < share else tail_probs[r][p - share]
                    for p in encoded[i]["score_positions"]  # type: ignore[index]
                ]

    def _new_cache(self) -> DynamicCache:
        """An empty KV cache with one layer per decoder layer."""
        return new_cache(self.model.backbone.config)


class _PrefixLikelihood:
    """Likelihood-feature scores of solutions encoded as a shared prefix plus their own tail.

    The head reads, at each score position, the hidden state and the statistics of the
    step's token log-probabilities (:func:`step_statistics`); a step may begin inside the
    shared prefix, so each solution's token log-probabilities are the prefix's followed by
    its tail's (the first tail token predicted from the prefix's last position), and the
    statistics are taken over the solution's whole token sequence, as the whole path does.
    """

    def __init__(
        self,
        scorer: TokenScorer,
        prefix: torch.Tensor,
        hidden: torch.Tensor | None,
        shares: list[int],
    ) -> None:
        self.scorer = scorer
        self.shares = shares
        self.width = prefix.shape[1]
        self.hidden = hidden
        self.token_lp: list[torch.Tensor] = []
        self.next_lp: list[torch.Tensor | None] = []
        logprobs = scorer._next_logprobs(hidden) if hidden is not None else None
        for g, share in enumerate(shares):
            if share == 0 or logprobs is None:
                self.token_lp.append(torch.zeros(0, device=prefix.device))
                self.next_lp.append(None)
                continue
            start = self.width - share
            ids = prefix[g, start:].to(logprobs.device)
            lp = logprobs[g, start:-1].gather(-1, ids[1:, None])[:, 0]
            self.token_lp.append(torch.cat([lp.new_zeros(1), lp]))
            self.next_lp.append(logprobs[g, -1])

    def read(
        self,
        group: int,
        encoded: dict[str, Any],
        tail: torch.Tensor,
        tail_hidden: torch.Tensor,
        tail_logprobs: torch.Tensor,
    ) -> list[float]:
        share = self.shares[group]
        n = len(encoded["input_ids"])
        own = n - share
        ids = tail[:own].to(tail_logprobs.device)
        first = self.next_lp[group]
        head = first[ids[0]].reshape(1) if first is not None else tail_logprobs.new_zeros(1)
        rest = tail_logprobs[: own - 1].gather(-1, ids[1:, None])[:, 0]
        token = torch.cat([self.token_lp[group].to(rest.device), head, rest])
        positions = encoded["score_positions"]
        steps = torch.tensor(
            [step_index_row(n, encoded["step_start"], positions)], device=token.device
        )
        stats = step_statistics(token[None], steps)[0]
        hidden = torch.stack(
            [
                self.hidden[group, self.width - share + p]  # type: ignore[index]
                if p < share
                else tail_hidden[p - share]
                for p in positions
            ]
        )
        inputs = torch.cat([hidden, stats[positions].to(hidden.dtype)], dim=-1)
        return self.scorer._head_probabilities(inputs).tolist()


# Solutions that share a prefix are scored in rounds of about this many batches: enough to
# sort their own tokens into batches of similar lengths, few enough to bound the memory the
# round's prefix caches take.
_ROUND = 4


# What one more forward pass costs, in padded tokens: about 3 ms of per-call overhead at
# 40-60 us per token for the demo-size model on one CPU core (a forward of one short row
# costs about as much as 60-80 tokens of a large batch).
_FORWARD_TOKENS = 64


def _length_batches(rows: list[Any], lengths: list[int], size: int) -> list[list[Any]]:
    """Cut ``rows`` (sorted longest first) into batches of at most ``size`` rows.

    A batch is as wide as its first row; a row shorter than that is padded. A batch closes
    early, before the row at which the padding the rest of it would carry (the width gap
    times the rows it could still take) reaches the cost of one more forward pass, so a
    few long rows do not make a whole batch of short ones wide.
    """
    batches: list[list[Any]] = []
    width = 0
    for index, (row, length) in enumerate(zip(rows, lengths, strict=True)):
        if batches and len(batches[-1]) < size:
            room = min(size - len(batches[-1]), len(rows) - index)
            if (width - length) * room < _FORWARD_TOKENS:
                batches[-1].append(row)
                continue
        batches.append([row])
        width = length
    return batches


class PRMScorer(TokenScorer):
    """A PRM directory as a :class:`~mathverify.step_scores.Scorer`: one score per step."""

    kind = ("prm",)

    def tokenize(self, problem: str, steps: list[str]) -> dict[str, list[Any]]:
        return tokenize_prm_example(
            self.tokenizer, self.card.prompt, problem, steps, max_length=self.max_length
        )

    def tokenize_many(self, solutions: list[tuple[str, list[str]]]) -> list[dict[str, list[Any]]]:
        return tokenize_prm_examples(
            self.tokenizer, self.card.prompt, solutions, max_length=self.max_length
        )

    def place(self, n_steps: int, probabilities: list[float]) -> StepScores:
        return list(probabilities) + [None] * (n_steps - len(probabilities))
