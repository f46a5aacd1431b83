"""Accuracy, maj@k and pass@k over graded samples.

Input is plain data: per problem, a list of samples (answer, correct, n_tokens) in sample
order. Grading happens before (labels or the grading pool); printing happens after
(:mod:`mathverify.cli.eval`). Not for verifier metrics (AUROC, ProcessBench F1).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Sample:
    answer: str | None
    correct: bool
    n_tokens: int = 0


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): 1 - C(n-c, k) / C(n, k)."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    # Product form avoids huge binomials.
    value = 1.0
    for i in range(n - c + 1, n + 1):
        value *= 1.0 - k / i
    return 1.0 - value


_SPACES = re.compile(r"\s+")


def normalize_answer(answer: str | None) -> str | None:
    """A light string normal form for grouping votes: whitespace, ``$`` and ``\\!`` removed."""
    if answer is None:
        return None
    text = _SPACES.sub("", answer).replace("\\!", "").strip("$")
    text = text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    return text or None


def majority_correct(samples: list[Sample]) -> bool:
    """Whether the most frequent answer among ``samples`` is correct.

    Correct answers are grouped together (each graded equal to the gold answer, so they
    are equivalent to one another); wrong answers are grouped by normalised string. Ties
    go to the answer seen first. Samples without an answer do not vote.
    """
    counts: dict[str, int] = defaultdict(int)
    first_seen: dict[str, int] = {}
    for index, sample in enumerate(samples):
        if sample.correct:
            key = "\x00correct"
        else:
            normal = normalize_answer(sample.answer)
            if normal is None:
                continue
            key = normal
        counts[key] += 1
        first_seen.setdefault(key, index)
    if not counts:
        return False
    winner = max(counts, key=lambda key: (counts[key], -first_seen[key]))
    return winner == "\x00correct"


def standard_error(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n) if n > 0 else 0.0


def paired_difference(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[float, float]:
    """Mean and standard error, in points, of a's minus b's correctness per problem, over the
    problems both have (two methods on the same problems: a paired comparison). Correctness
    is a bool, or a share in [0, 1] (a problem's mean over several tries)."""
    diffs = [float(a[key]) - float(b[key]) for key in a if key in b]
    if not diffs:
        raise ValueError("no problem in common")
    mean = sum(diffs) / len(diffs)
    var = sum((d - mean) ** 2 for d in diffs) / max(len(diffs) - 1, 1)
    return 100 * mean, 100 * math.sqrt(var / len(diffs))


@dataclass
class Report:
    """The numbers ``mathverify eval`` prints for one input."""

    name: str
    n_problems: int
    samples_per_problem: int
    accuracy: float
    accuracy_se: float
    maj: dict[int, float] = field(default_factory=dict)
    maj_se: dict[int, float] = field(default_factory=dict)
    pass_at: dict[int, float] = field(default_factory=dict)
    mean_tokens_per_problem: float = 0.0
    mean_tokens_per_sample: float = 0.0
    groups: dict[str, dict[str, Report]] = field(default_factory=dict)
    missing_problems: int = 0
    step_labels: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["groups"] = {
            by: {value: report.to_dict() for value, report in reports.items()}
            for by, reports in self.groups.items()
        }
        return out


def default_ks(samples_per_problem: int) -> list[int]:
    """1, 2, 4, ... up to the sample count, and the sample count itself."""
    ks = []
    k = 1
    while k < samples_per_problem:
        ks.append(k)
        k *= 2
    ks.append(samples_per_problem)
    return ks


def evaluate(
    name: str,
    samples_by_problem: Mapping[str, list[Sample]],
    *,
    ks: Iterable[int] | None = None,
    groups: Mapping[str, Mapping[str, str]] | None = None,
) -> Report:
    """Compute a :class:`Report`; ``groups`` maps a facet (subject, level) to problem -> value.

    maj@k and pass@k use the first k samples of each problem (sample order), so they are
    defined only up to the smallest number of samples any problem has.
    """
    problems = [pid for pid, samples in samples_by_problem.items() if samples]
    if not problems:
        return Report(name, 0, 0, 0.0, 0.0)
    min_samples = min(len(samples_by_problem[pid]) for pid in problems)
    chosen = sorted({k for k in (ks or default_ks(min_samples)) if 1 <= k <= min_samples})
    n = len(problems)
    accuracy = (
        sum(
            sum(s.correct for s in samples_by_problem[pid]) / len(samples_by_problem[pid])
            for pid in problems
        )
        / n
    )
    maj = {
        k: sum(majority_correct(samples_by_problem[pid][:k]) for pid in problems) / n
        for k in chosen
    }
    pass_at = {
        k: sum(
            pass_at_k(min_samples, sum(s.correct for s in samples_by_problem[pid][:min_samples]), k)
            for pid in problems
        )
        / n
        for k in chosen
    }
    tokens = [sum(s.n_tokens for s in samples_by_problem[pid]) for pid in problems]
    total_samples = sum(len(samples_by_problem[pid]) for pid in problems)
    report = Report(
        name=name,
        n_problems=n,
        samples_per_problem=min_samples,
        accuracy=accuracy,
        accuracy_se=standard_error(accuracy, n),
        maj=maj,
        maj_se={k: standard_error(v, n) for k, v in maj.items()},
        pass_at=pass_at,
        mean_tokens_per_problem=sum(tokens) / n,
        mean_tokens_per_sample=sum(tokens) / total_samples,
    )
    for facet, values in (groups or {}).items():
        buckets: dict[str, dict[str, list[Sample]]] = defaultdict(dict)
        for pid in problems:
            if pid in values:
                buckets[str(values[pid])][pid] = samples_by_problem[pid]
        if buckets:
            report.groups[facet] = {
                value: evaluate(f"{name} [{facet}={value}]", bucket, ks=chosen)
                for value, bucket in sorted(buckets.items())
            }
    return report


def step_label_stats(rows: Iterable[tuple[bool, int | None]]) -> dict[str, Any]:
    """From ``(outcome, first_wrong_step)`` of step-labeled solutions: how often a right
    answer hides a wrong step, and where wrong answers first go wrong ("none" when no step
    was labeled wrong)."""
    rows = list(rows)
    right = [first for outcome, first in rows if outcome]
    histogram: dict[str, int] = defaultdict(int)
    for outcome, first in rows:
        if not outcome:
            histogram["none" if first is None else str(first)] += 1
    order = sorted(histogram, key=lambda key: (key == "none", int(key) if key != "none" else 0))
    return {
        "labeled": len(rows),
        "right_answer_with_wrong_step": (
            sum(first is not None for first in right) / len(right) if right else None
        ),
        "first_wrong_step_histogram": {key: histogram[key] for key in order},
    }
