"""Step labels from one source measured against gold labels of the same solutions.

The synthetic task's exact checker gives gold step labels; this module says how close a
cheaper source comes (Monte-Carlo rollouts, a supervisor PRM, a converted dataset):

- step-level precision, recall and F1 of each class, over the steps both files label:
  ``correct_step`` (label 1, the class a hard label marks; the labeling issue's target,
  hard-label step F1 >= 0.85, is this class's F1) and ``wrong_step`` (the class a
  verifier must catch; rarer on a good policy, so its F1 is the stricter number);
- ``step_auroc``: AUROC of the other file's raw label values against the gold class, i.e.
  how well soft labels rank correct above wrong steps before any threshold;
- a 95% interval of the correct-step F1 by the bootstrap over problems (solutions of one
  problem share its difficulty, so problems, not steps, are the unit that is resampled):
  how far the F1 of a few hundred solutions may be from that of the policy's population;
- first-wrong-step agreement per solution, and ProcessBench's F1 built from it;
- label tokens spent, when the other file's records carry them (``meta.rollout_tokens``).

Labels of both files become classes by each file's scheme (:mod:`mathverify.labeling.schemes`): hard 0/1
as they are, PRM800K's by the neutral mode, soft values by ``soft_threshold``: by default
as Math-Shepherd makes hard labels from rollouts (correct when any rollout reached the
answer, i.e. the value is above 0), else correct when at least the threshold (the
convention of :func:`~mathverify.labeling.schemes.first_wrong_step`).

Pure functions on records; reading files is :func:`compare_label_files`, printing is the
CLI's (``mathverify eval --compare-labels``). Not for scorer outputs (``step_scores``):
see :mod:`mathverify.eval.processbench` and :mod:`mathverify.eval.calibration`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from mathverify.errors import MathverifyError
from mathverify.eval.processbench import score_split
from mathverify.labeling.schemes import scheme_for_source, to_training_targets
from mathverify.provenance import collect
from mathverify.records import Solution, display_name, read_records

__all__ = [
    "ClassScore",
    "LabelComparison",
    "auroc",
    "compare_label_files",
    "compare_labels",
    "f1_interval",
    "markdown_table",
    "step_classes",
]

TOKENS_KEY = "rollout_tokens"
BOOTSTRAP_SAMPLES = 1000


@dataclass(frozen=True)
class ClassScore:
    """Precision, recall and F1 of one step class (None where a denominator is 0)."""

    precision: float | None
    recall: float | None
    f1: float | None
    support: int  # gold steps of the class
    predicted: int  # steps the other file puts in the class


@dataclass(frozen=True)
class LabelComparison:
    """How one file's step labels agree with the gold file's, on the solutions they share."""

    name: str
    label_source: str | None
    n_solutions: int
    n_steps: int  # steps labeled in both files: the ones the step metrics count
    n_steps_skipped: int  # steps left out: unlabeled in either file, or after the cut
    step_accuracy: float | None
    correct_step: ClassScore
    wrong_step: ClassScore
    step_auroc: float | None
    first_wrong_agreement: float | None  # same first wrong step (or both none)
    erroneous_accuracy: float | None  # ProcessBench: gold has a wrong step, found exactly
    correct_accuracy: float | None  # ProcessBench: gold has none, none is flagged
    processbench_f1: float | None
    label_tokens: int | None  # None unless every compared record carries them
    label_tokens_per_solution: float | None
    # 95% bootstrap interval of correct_step.f1, resampling problems (None: fewer than 2)
    correct_step_f1_ci: tuple[float, float] | None = None
    # The distinct provenances (mathverify.provenance.collect) of the compared records, and
    # of their gold counterparts: what made the labels on each side.
    provenance: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    gold_provenance: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LabelComparison:
        """The comparison that :meth:`to_dict` wrote (e.g. ``eval --compare-labels --json``)."""
        fields = dict(data)
        for name in ("correct_step", "wrong_step"):
            fields[name] = ClassScore(**fields[name])
        interval = fields.get("correct_step_f1_ci")
        fields["correct_step_f1_ci"] = None if interval is None else tuple(interval)
        return cls(**fields)


def _scheme(solution: Solution) -> str:
    # A record without a source holds probabilities (soft); check_labels enforces [0, 1].
    return "soft" if solution.label_source is None else scheme_for_source(solution.label_source)


def step_classes(
    solution: Solution, *, soft_threshold: float | None = None, neutral: str = "positive"
) -> list[bool | None]:
    """Per step: True (correct), False (wrong) or None (unlabeled), by the record's scheme."""
    if solution.step_labels is None:
        raise MathverifyError(f"solution {solution.key()} has no step_labels")
    if len(solution.step_labels) != len(solution.steps):
        raise MathverifyError(
            f"solution {solution.key()}: {len(solution.step_labels)} step labels for "
            f"{len(solution.steps)} steps"
        )
    scheme = _scheme(solution)
    try:
        targets = to_training_targets(solution.step_labels, scheme, neutral)
    except MathverifyError as exc:
        raise MathverifyError(f"solution {solution.key()}: {exc}") from None
    if scheme == "soft" and soft_threshold is not None:
        return [None if t is None else t >= soft_threshold for t in targets]
    # Hard and PRM800K targets are 0/1; soft ones are correct when any rollout succeeded.
    return [None if t is None else t > 0 for t in targets]


def _raw_values(solution: Solution, neutral: str) -> list[float | None]:
    return to_training_targets(solution.step_labels or [], _scheme(solution), neutral)


def auroc(scores: Sequence[float], positives: Sequence[bool]) -> float | None:
    """AUROC of ``scores`` for the ``positives`` (Mann-Whitney U; ties count half).

    None when either class is missing.
    """
    if len(scores) != len(positives):
        raise ValueError(f"{len(scores)} scores for {len(positives)} labels")
    n_pos = sum(positives)
    n_neg = len(positives) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    pairs = sorted(zip(scores, positives, strict=True), key=lambda pair: pair[0])
    rank_sum = 0.0
    start = 0
    while start < len(pairs):
        end = start
        while end + 1 < len(pairs) and pairs[end + 1][0] == pairs[start][0]:
            end += 1
        average_rank = (start + end) / 2 + 1
        rank_sum += average_rank * sum(positive for _, positive in pairs[start : end + 1])
        start = end + 1
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _class_score(gold: Sequence[bool], predicted: Sequence[bool], positive: bool) -> ClassScore:
    hits = sum(g == positive and p == positive for g, p in zip(gold, predicted, strict=True))
    support = sum(g == positive for g in gold)
    flagged = sum(p == positive for p in predicted)
    precision = hits / flagged if flagged else None
    recall = hits / support if support else None
    f1 = None
    if precision is not None and recall is not None:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return ClassScore(precision, recall, f1, support, flagged)


def f1_interval(
    counts: Sequence[tuple[int, int, int]],
    *,
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of an F1 from per-group ``(hits, support, predicted)``.

    Each resample draws ``len(counts)`` groups with replacement and pools their counts, so
    the F1 is ``2 hits / (support + predicted)`` of the pool, as over all steps. None with
    fewer than two groups or no resample; resamples with no step of the class on either
    side are left out.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, not {level}")
    if len(counts) < 2 or samples < 1:
        return None
    table = np.asarray(counts, dtype=np.int64).reshape(len(counts), 3)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(samples):
        hits, support, predicted = table[rng.integers(0, len(table), size=len(table))].sum(0)
        if support + predicted:
            values.append(2 * hits / (support + predicted))
    if not values:
        return None
    values.sort()
    tail = (1 - level) / 2
    low = values[int(tail * (len(values) - 1))]
    high = values[round((1 - tail) * (len(values) - 1))]
    return (float(low), float(high))


def _first_wrong(classes: Sequence[bool | None]) -> int | None:
    return next((i for i, c in enumerate(classes) if c is False), None)


def compare_labels(
    gold: Mapping[str, Solution],
    other: Iterable[Solution],
    *,
    name: str = "other",
    gold_name: str = "gold",
    soft_threshold: float | None = None,
    neutral: str = "positive",
    until_first_wrong: bool = False,
    tokens_key: str = TOKENS_KEY,
    bootstrap_samples: int = BOOTSTRAP_SAMPLES,
    seed: int = 0,
) -> LabelComparison:
    """Compare ``other``'s step labels with ``gold`` (keyed by :meth:`Solution.key`).

    Every solution of ``other`` must be in ``gold`` with the same steps; ``gold`` may hold
    more. With ``until_first_wrong`` only steps up to ``other``'s first wrong step count,
    the steps a labeler with the first-error cut labels, so a cut and an uncut run compare
    on the same footing. The correct-step F1's interval resamples problems
    ``bootstrap_samples`` times from ``seed`` (0 samples: no interval).
    """
    gold_steps: list[bool] = []
    other_steps: list[bool] = []
    other_values: list[float] = []
    gold_first: list[int | None] = []
    other_first: list[int | None] = []
    tokens: int | None = 0
    skipped = 0
    seen: set[str] = set()
    source: str | None = None
    # Per problem: correct-class hits, gold correct steps, steps labeled correct.
    per_problem: dict[str, list[int]] = {}
    metas: list[dict[str, Any]] = []
    gold_metas: list[dict[str, Any]] = []
    for solution in other:
        key = solution.key()
        if key in seen:
            raise MathverifyError(f"{name}: solution {key} appears twice")
        seen.add(key)
        reference = gold.get(key)
        if reference is None:
            raise MathverifyError(f"{name}: solution {key} is not in the gold file")
        if reference.steps != solution.steps:
            raise MathverifyError(f"{name}: solution {key} has other steps than the gold file's")
        source = source or solution.label_source
        metas.append(solution.meta)
        gold_metas.append(reference.meta)
        try:
            truth = step_classes(reference, soft_threshold=soft_threshold, neutral=neutral)
        except MathverifyError as exc:
            raise MathverifyError(f"{gold_name}: {exc}") from None
        try:
            mine = step_classes(solution, soft_threshold=soft_threshold, neutral=neutral)
        except MathverifyError as exc:
            raise MathverifyError(f"{name}: {exc}") from None
        values = _raw_values(solution, neutral)
        mine_first = _first_wrong(mine)
        gold_first.append(_first_wrong(truth))
        other_first.append(mine_first)
        last = mine_first if until_first_wrong and mine_first is not None else len(mine) - 1
        tally = per_problem.setdefault(solution.problem_id, [0, 0, 0])
        for index, (g, p, v) in enumerate(zip(truth, mine, values, strict=True)):
            if g is None or p is None or v is None or index > last:
                skipped += 1
                continue
            tally[0] += g and p
            tally[1] += g
            tally[2] += p
            gold_steps.append(g)
            other_steps.append(p)
            other_values.append(v)
        spent = solution.meta.get(tokens_key)
        if tokens is not None and isinstance(spent, int) and not isinstance(spent, bool):
            tokens += spent
        else:
            tokens = None
    n = len(seen)
    if n == 0:
        raise MathverifyError(f"{name}: no solutions to compare with {gold_name}")
    agree = [g == p for g, p in zip(gold_first, other_first, strict=True)]
    split = score_split("all", gold_first, other_first)
    steps = len(gold_steps)
    return LabelComparison(
        name=name,
        label_source=source,
        n_solutions=n,
        n_steps=steps,
        n_steps_skipped=skipped,
        step_accuracy=(
            sum(g == p for g, p in zip(gold_steps, other_steps, strict=True)) / steps
            if steps
            else None
        ),
        correct_step=_class_score(gold_steps, other_steps, True),
        wrong_step=_class_score(gold_steps, other_steps, False),
        step_auroc=auroc(other_values, gold_steps),
        first_wrong_agreement=sum(agree) / n if n else None,
        erroneous_accuracy=split.erroneous_accuracy,
        correct_accuracy=split.correct_accuracy,
        processbench_f1=split.f1,
        label_tokens=tokens,
        label_tokens_per_solution=tokens / n if tokens is not None and n else None,
        correct_step_f1_ci=f1_interval(
            [tuple(t) for t in per_problem.values()], samples=bootstrap_samples, seed=seed
        ),
        provenance=collect(metas),
        gold_provenance=collect(gold_metas),
    )


def compare_label_files(
    gold_path: str,
    other_paths: Sequence[str],
    names: Sequence[str] | None = None,
    **options: Any,
) -> list[LabelComparison]:
    """:func:`compare_labels` of each file in ``other_paths`` against ``gold_path``.

    ``options`` go to :func:`compare_labels`. A bad record is an error naming the file and
    line; a mismatch between the files names the file and the solution.
    """
    names = list(names) if names is not None else [display_name(p) for p in other_paths]
    if len(names) != len(other_paths):
        raise MathverifyError(f"{len(names)} names for {len(other_paths)} files")
    gold: dict[str, Solution] = {}
    for solution in read_records(gold_path, Solution):
        if solution.key() in gold:
            raise MathverifyError(
                f"{display_name(gold_path)}: solution {solution.key()} appears twice"
            )
        gold[solution.key()] = solution
    comparisons = []
    for path, name in zip(other_paths, names, strict=True):
        # Errors name the files; the row takes its own name afterwards.
        comparison = compare_labels(
            gold,
            read_records(path, Solution),
            name=display_name(path),
            gold_name=display_name(gold_path),
            **options,
        )
        comparisons.append(replace(comparison, name=name))
    return comparisons


def _cell(value: float | int | None, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}"


def _interval(interval: tuple[float, float] | None) -> str:
    return "n/a" if interval is None else f"{interval[0]:.3f}-{interval[1]:.3f}"


def markdown_table(
    comparisons: Sequence[LabelComparison],
    extra: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """A Markdown table, one row per comparison; ``extra`` adds columns (header -> cells)."""
    extra = dict(extra or {})
    for header, cells in extra.items():
        if len(cells) != len(comparisons):
            raise ValueError(f"column {header!r} has {len(cells)} cells for {len(comparisons)}")
    headers = [
        "labels",
        "solutions",
        "steps",
        "F1 correct step",
        "95% interval",
        "F1 wrong step",
        "step AUROC",
        "first-wrong agreement",
        "ProcessBench F1",
        "tokens / solution",
        *extra,
    ]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row, c in enumerate(comparisons):
        cells = [
            c.name,
            str(c.n_solutions),
            str(c.n_steps),
            _cell(c.correct_step.f1),
            _interval(c.correct_step_f1_ci),
            _cell(c.wrong_step.f1),
            _cell(c.step_auroc),
            _cell(c.first_wrong_agreement),
            _cell(c.processbench_f1),
            _cell(c.label_tokens_per_solution, 1),
            *(cells[row] for cells in extra.values()),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
