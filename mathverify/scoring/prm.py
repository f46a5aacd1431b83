"""``PRMScorer``: per-step probabilities of "correct" from a process reward model directory.

Each solution is tokenised exactly as ``train-prm`` tokenised it (one score position per
step, the separator appended after the last step); solutions run in batches, without
gradients, on CUDA when available. A one-logit PRM scores ``sigmoid(logit)``. A three-class
PRM (PRM800K ratings) scores ``P(not negative) = P(neutral) + P(positive)`` when it was
trained with neutral steps counting as fine (the default) and ``P(positive)`` when neutral
counted as wrong; the card's ``extra.three_class_score`` records which. Steps beyond the
model's ``max_length`` get ``None``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mathverify.errors import MathverifyError
from mathverify.scoring.base import StepScores
from mathverify.training.prm import THREE_CLASS_SCORES, tokenize_prm_example
from mathverify.training.verifier_common import IGNORE, VerifierCollator, load_verifier, pad_id

__all__ = ["PRMScorer"]


def _default_dtype(device: torch.device) -> torch.dtype:
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


class TokenScorer:
    """Shared batching for verifiers that read probabilities at token positions."""

    kind: tuple[str, ...] = ("prm", "orm")

    def __init__(
        self,
        path: str | Path,
        *,
        batch_size: int = 16,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if batch_size < 1:
            raise MathverifyError("--batch-size must be at least 1")
        self.device = (
            torch.device(device)
            if device
            else torch.device("cuda" if torch.cuda.is_available() else "cpu")
        )
        self.model, self.tokenizer, self.card = load_verifier(
            path, expect=self.kind, device=self.device, dtype=dtype or _default_dtype(self.device)
        )
        self.name = str(path)
        self.batch_size = batch_size
        self.max_length: int | None = self.card.extra.get("max_length")
        self._collate = VerifierCollator(pad_id(self.tokenizer))
        self._three_class_score = self.card.extra.get("three_class_score", "not_negative")
        if self._three_class_score not in THREE_CLASS_SCORES:
            raise MathverifyError(
                f"{path}/mathverify.json: extra.three_class_score must be one of "
                f"{', '.join(THREE_CLASS_SCORES)}"
            )

    def tokenize(self, problem: str, steps: list[str]) -> dict[str, list[Any]]:
        raise NotImplementedError

    def place(self, n_steps: int, probabilities: list[float]) -> StepScores:
        """Spread the probabilities read at score positions over the steps."""
        raise NotImplementedError

    def _probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        if logits.shape[-1] == 1:
            return torch.sigmoid(logits[..., 0])
        probs = torch.softmax(logits, dim=-1)
        return probs[..., 2] if self._three_class_score == "positive" else 1.0 - probs[..., 0]

    @torch.no_grad()
    def score(self, problems: list[str], steps: list[list[str]]) -> list[StepScores]:
        if len(problems) != len(steps):
            raise MathverifyError(f"{len(problems)} problems for {len(steps)} step lists")
        encoded = [
            self.tokenize(problem, list(solution)) if solution else None
            for problem, solution in zip(problems, steps, strict=True)
        ]
        read: list[list[float]] = [[] for _ in encoded]
        # Longest first: batches of similar lengths waste little on padding.
        order = sorted(
            (i for i, e in enumerate(encoded) if e is not None and e["score_positions"]),
            key=lambda i: -len(encoded[i]["input_ids"]),
        )
        for start in range(0, len(order), self.batch_size):
            batch_ids = order[start : start + self.batch_size]
            items = [
                {**encoded[i], "labels": [0.0] * len(encoded[i]["score_positions"])}
                for i in batch_ids
            ]
            batch = self._collate(items)
            logits = self.model(
                input_ids=batch["input_ids"].to(self.device),
                attention_mask=batch["attention_mask"].to(self.device),
            )["logits"]
            probabilities = self._probabilities(logits).cpu()
            wanted = batch["labels"] != IGNORE
            for row, index in enumerate(batch_ids):
                read[index] = probabilities[row][wanted[row]].tolist()
        return [
            self.place(len(solution), values) for solution, values in zip(steps, read, strict=True)
        ]


class PRMScorer(TokenScorer):
    """A PRM directory as a :class:`~mathverify.scoring.base.Scorer`: one score per step."""

    kind = ("prm",)

    def tokenize(self, problem: str, steps: list[str]) -> dict[str, list[Any]]:
        return tokenize_prm_example(
            self.tokenizer, self.card.prompt, problem, steps, max_length=self.max_length
        )

    def place(self, n_steps: int, probabilities: list[float]) -> StepScores:
        return list(probabilities) + [None] * (n_steps - len(probabilities))
