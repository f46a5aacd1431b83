"""A step scorer that reads the policy's own generating forward instead of a second one.

A PRM or value model trained as a head on the policy's frozen backbone (``train-prm``'s
default recipe ``frozen-likelihood``; ``train-value --freeze-backbone``) reads, at a step's
separator, the backbone's last hidden state and (with ``likelihood`` features) the sum,
mean and minimum log-probability of the step's tokens. When the policy generated that step,
its decoding forwards computed both already: the hidden state when the separator was fed,
the log-probabilities when each token was drawn. :class:`SharedForwardScorer` takes them
from the hf policy's decoder (:class:`~mathverify.backends.hf_decoding.StepTrace`; only calls
for one step, which a stop string ends, are traced), so a search's candidate steps cost the
head alone.

Exactness: a step is read from its trace only when the token ids of the generated row (the
policy's prompt, then the generated tokens up to and including the separator) are exactly
the ids the scorer gives the partial solution. A step that ended the sequence is read with
the separator fed in place of its end token (when the separator is one token), as the
scorer encodes a final step. Otherwise (a step cut by the token limit, a tokenisation that
differs when the text is encoded whole, a solution longer than the scorer's ``max_length``)
the wrapped scorer scores it as before. Earlier steps' scores come from the scores given before (the parent's), or the
wrapped scorer. The scores equal the wrapped scorer's up to float rounding (the tests hold
them within 1e-5 in float32).

:func:`share_forward` wraps a scorer only when that holds by construction: the hf backend's
own decoding loop, a PRM or value card with ``freeze_backbone`` and the policy's prompt
format, the same vocabulary, and backbone weights equal to the policy's, tensor by tensor.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

import torch

from mathverify.backends.hf_decoding import StepTrace
from mathverify.models.verifier import N_LIKELIHOOD_FEATURES
from mathverify.scoring.prm import PRMScorer
from mathverify.step_scores import StepScores

__all__ = ["SharedForwardScorer", "share_forward", "shared_forward_refusal"]

# Scores kept for later lookups (a search's next depth reads its parents'; MCTS reads leaves
# made many iterations before). Each entry is a 16-byte key and a few floats.
DEFAULT_MAX_ENTRIES = 500_000


def _key(ids: list[int]) -> bytes:
    """A fixed-size name of a token sequence (BLAKE2b, 128 bits)."""
    return hashlib.blake2b(
        torch.tensor(ids, dtype=torch.int64).numpy().tobytes(), digest_size=16
    ).digest()


def _step_statistics(logprobs: list[torch.Tensor]) -> torch.Tensor:
    """[rows, 3]: the sum, mean and minimum of each row's token log-probabilities (as
    :func:`~mathverify.models.verifier.step_statistics` computes them for a step)."""
    lengths = torch.tensor([len(row) for row in logprobs])
    padded = torch.nn.utils.rnn.pad_sequence(logprobs, batch_first=True)
    inside = torch.arange(padded.shape[1])[None, :] < lengths[:, None]
    total = (padded * inside).sum(1)
    lowest = padded.masked_fill(~inside, float("inf")).amin(1)
    stats = torch.stack([total, total / lengths.clamp(min=1), lowest], dim=-1)
    assert stats.shape[1] == N_LIKELIHOOD_FEATURES
    return stats


class SharedForwardScorer:
    """``scorer`` (a :class:`~mathverify.scoring.prm.PRMScorer`) with the policy's generating
    forward as its first source of step scores; see the module docstring."""

    def __init__(
        self, policy: Any, scorer: PRMScorer, *, max_entries: int = DEFAULT_MAX_ENTRIES
    ) -> None:
        self.inner = scorer
        self.policy = policy
        self.name = scorer.name
        self.max_entries = max_entries
        self.n_shared = 0  # partial solutions scored without the wrapped scorer
        self.n_separate = 0  # those the wrapped scorer encoded
        # Last-step score and parent key of each generated row, by the row's token ids.
        self._read: OrderedDict[bytes, tuple[float, bytes]] = OrderedDict()
        # Every step's score of each partial solution scored so far, by its token ids.
        self._scores: OrderedDict[bytes, StepScores] = OrderedDict()
        self._likelihood = scorer._likelihood
        policy.decoder.step_sink = self.read
        # A final step is encoded with the separator after it: the decoder feeds that token
        # after a row that ended the sequence, when the separator is one token.
        separator = scorer.tokenizer(scorer.card.prompt.separator, add_special_tokens=False)
        end = separator["input_ids"]
        policy.decoder.step_end_id = end[0] if len(end) == 1 else None

    def __getattr__(self, name: str) -> Any:
        # The wrapped scorer's card, source, format and settings are this scorer's.
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def close(self) -> None:
        """Stop reading the policy's generations."""
        if self.policy.decoder.step_sink == self.read:
            self.policy.decoder.step_sink = None
            self.policy.decoder.step_end_id = None

    # ----------------------------------------------------------------------------------

    @torch.no_grad()
    def read(self, traces: list[StepTrace]) -> None:
        """Score the last step of every generated row that ended at a separator (the decoder
        calls this after each batch)."""
        usable = [t for t in traces if t.hidden is not None and t.ids]
        limit = self.inner.max_length
        if limit is not None:
            usable = [t for t in usable if len(t.prompt_ids) + len(t.ids) <= limit]
        if not usable:
            return
        hidden = torch.stack([t.hidden for t in usable])  # type: ignore[misc]
        if self._likelihood:
            stats = _step_statistics([t.logprobs for t in usable]).to(hidden.device)
            hidden = torch.cat([hidden, stats.to(hidden.dtype)], dim=-1)
        probabilities = self.inner._head_probabilities(hidden).tolist()
        for trace, probability in zip(usable, probabilities, strict=True):
            key = _key(trace.prompt_ids + trace.ids)
            self._remember(self._read, key, (float(probability), _key(trace.prompt_ids)))

    def score(self, problems: list[str], steps: list[list[str]]) -> list[StepScores]:
        """Every step's score of each solution: from the generation where it can be read
        exactly, else from the wrapped scorer."""
        out: list[StepScores | None] = [None] * len(steps)
        keyed = [i for i, solution in enumerate(steps) if solution]
        for i, solution in enumerate(steps):
            if not solution:
                out[i] = []
        encoded = self.inner.tokenize_many([(problems[i], list(steps[i])) for i in keyed])
        keys: dict[int, bytes] = {}
        missing: list[int] = []
        limit = self.inner.max_length
        separator = self.inner.card.prompt.separator
        for i, example in zip(keyed, encoded, strict=True):
            ids = list(example["input_ids"])
            key = _key(ids)
            keys[i] = key
            # A solution cut at max_length is the wrapped scorer's (its later steps get None),
            # and so is one with a separator inside a step: a generated row holds one step.
            readable = (limit is None or len(ids) < limit) and not any(
                separator in step for step in steps[i]
            )
            found = self._resolve(key, len(steps[i])) if readable else None
            if found is None:
                missing.append(i)
            else:
                out[i] = found
                self.n_shared += 1
        if missing:
            scored = self.inner.score([problems[i] for i in missing], [steps[i] for i in missing])
            for i, step_scores in zip(missing, scored, strict=True):
                out[i] = list(step_scores)
                self._remember(self._scores, keys[i], list(step_scores))
            self.n_separate += len(missing)
        return [list(s) if s is not None else [] for s in out]

    def _resolve(self, key: bytes, n_steps: int) -> StepScores | None:
        """The scores of the partial solution named ``key`` with ``n_steps`` steps, from
        scores given before and the generations read; None when a step is unknown."""
        known = self._scores.get(key)
        if known is not None and len(known) == n_steps:
            return list(known)
        entry = self._read.get(key)
        if entry is None:
            return None
        last, parent = entry
        if n_steps == 1:
            scores: StepScores = [last]
        else:
            before = self._scores.get(parent)
            if before is None or len(before) != n_steps - 1:
                return None
            scores = [*before, last]
        self._remember(self._scores, key, scores)
        return list(scores)

    def _remember(self, table: OrderedDict[bytes, Any], key: bytes, value: Any) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > self.max_entries:
            table.popitem(last=False)


def shared_forward_refusal(policy: Any, scorer: Any, prompt: Any) -> str | None:
    """Why ``scorer`` cannot read ``policy``'s generating forward exactly, or None if it can."""
    from mathverify.backends.hf import HFPolicy

    if not isinstance(policy, HFPolicy):
        return "the policy is not the hf backend's"
    if policy.use_generate:
        return "the policy decodes with transformers' generate"
    if not isinstance(scorer, PRMScorer):  # a PRM or a value directory (ValueScorer)
        return "the scorer is not a PRM or value directory"
    card = scorer.card
    if not card.extra.get("freeze_backbone"):
        return "the scorer's card does not say its backbone was frozen"
    if card.prompt.to_dict() != prompt.to_dict():
        return "the scorer's prompt format differs from the search's"
    if policy.tokenizer.get_vocab() != scorer.tokenizer.get_vocab():
        return "the scorer's vocabulary differs from the policy's"
    return _weights_refusal(policy.model, scorer.model.backbone)


def _weights_refusal(policy_model: torch.nn.Module, backbone: torch.nn.Module) -> str | None:
    mine, theirs = policy_model.state_dict(), backbone.state_dict()
    if mine.keys() != theirs.keys():
        return "the scorer's backbone has other tensors than the policy"
    for name, tensor in mine.items():
        other = theirs[name]
        if tensor.shape != other.shape or tensor.dtype != other.dtype:
            return f"the scorer's backbone differs from the policy at {name}"
        if tensor.device != other.device or not torch.equal(tensor, other):
            return f"the scorer's backbone differs from the policy at {name}"
    return None


def share_forward(policy: Any, scorer: Any, prompt: Any) -> tuple[Any, str | None]:
    """``scorer`` wrapped to read ``policy``'s generations when it can do so exactly, and
    None; else ``scorer`` unchanged and the reason."""
    if scorer is None or policy is None:
        return scorer, "no scorer" if scorer is None else "no policy"
    reason = shared_forward_refusal(policy, scorer, prompt)
    if reason is not None:
        return scorer, reason
    return SharedForwardScorer(policy, scorer), None
