"""Convert public step-labeled datasets into labeled :class:`~mathverify.records.Solution` records.

Each converter yields :class:`Converted` pairs (the Problem and the labeled Solution) and
counts what it read and skipped in a :class:`ConvertStats`:

- **PRM800K** raw rows (``label_source="prm800k"``): the trajectory the labeler followed,
  i.e. the chosen completion at each step or the human-written one when none was chosen.
  ``step_labels`` keep the raw ratings -1/0/1. Human-written steps carry no rating in the
  data; PRM800K defines them as +1 steps, so they get 1 (their indices are in
  ``meta["human_steps"]``). Where the labeler stopped without choosing a completion, the
  labels stop, except that a phase-2 row keeps the pre-generated step rated there (the step
  under review, usually the first error). Quality-control rows are skipped unless asked for.
- **Math-Shepherd** rows (``label_source="math-shepherd"``): steps split at the ``ки``
  tags, ``+``/``-`` become 1/0, ``outcome`` is the last step's label (the last step's
  rollouts are the solution itself).
- **ProcessBench** rows (``label_source="processbench"``): steps as given, 1 before the
  first wrong step, 0 at it, None (unknown) after; ``outcome`` = ``final_answer_correct``.

Rows without an id of their own (PRM800K, Math-Shepherd) get a problem id from a hash of
the problem text, so solutions of the same problem share it; ``sample_id`` is the row's line
number. A malformed row raises a MathverifyError naming file, line/item and field, or, with
``skip_bad``, is counted in the stats (never dropped silently).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mathverify.data.loaders import read_json_array
from mathverify.errors import MathverifyError, RecordError
from mathverify.paths import data_dir
from mathverify.records import STDIO, Problem, Solution, display_name
from mathverify.steps import extract_answer, join_steps

__all__ = [
    "PROCESSBENCH_SPLITS",
    "ConvertStats",
    "Converted",
    "convert_math_shepherd",
    "convert_prm800k",
    "convert_processbench",
    "default_processbench_path",
    "math_shepherd_row",
    "prm800k_row",
    "processbench_row",
    "text_id",
]

PROCESSBENCH_SPLITS = ("gsm8k", "math", "olympiadbench", "omnimath")
MATH_SHEPHERD_TAG = "ки"
_MAX_KEPT_ERRORS = 5


@dataclass(frozen=True)
class Converted:
    """One converted row: the problem and its labeled solution."""

    problem: Problem
    solution: Solution


@dataclass
class ConvertStats:
    """What a conversion read, wrote and skipped; the CLI prints it as the summary."""

    rows: int = 0
    converted: int = 0
    skipped_bad: int = 0
    skipped_quality_control: int = 0
    skipped_empty: int = 0
    errors: list[str] = field(default_factory=list)  # the first few skipped-row messages

    def bad(self, message: str) -> None:
        self.skipped_bad += 1
        if len(self.errors) < _MAX_KEPT_ERRORS:
            self.errors.append(message)


def text_id(prefix: str, text: str) -> str:
    """A stable id for a row that has none: ``prefix-`` + 16 hex digits of the text's sha256."""
    digest = hashlib.sha256(text.strip().encode("utf-8")).hexdigest()[:16]
    return f"{prefix}-{digest}"


# --------------------------------------------------------------------------------------
# Field access with errors that name the row and field


_NONE = type(None)


def _get(row: Mapping[str, Any], name: str, types: tuple[type, ...], where: str) -> Any:
    if not isinstance(row, Mapping):
        raise RecordError(where, None, f"expected a JSON object, got {type(row).__name__}")
    if name not in row:
        raise RecordError(where, None, "missing", field=name)
    value = row[name]
    if value is None and _NONE in types:
        return None
    if isinstance(value, bool) != (bool in types) or not isinstance(value, types):
        expected = " or ".join("null" if t is _NONE else t.__name__ for t in types)
        raise RecordError(
            where, None, f"expected {expected}, got {type(value).__name__}", field=name
        )
    return value


# --------------------------------------------------------------------------------------
# PRM800K


def _prm800k_answer(text: str) -> str | None:
    # PRM800K's generator ends a solution with "# Answer\n\n<answer>".
    marker = text.rfind("# Answer")
    if marker != -1:
        return text[marker + len("# Answer") :].strip() or None
    return extract_answer(text)


def _rating(value: Any, where: str, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or value not in (-1, 0, 1):
        raise RecordError(
            where, None, f"rating must be -1, 0, 1 or null, got {value!r}", field=name
        )
    return int(value)


def prm800k_row(row: Any, *, where: str, sample_id: int) -> Converted:
    """One raw PRM800K row as a Problem and the labeled trajectory its labeler followed."""
    question = _get(row, "question", (dict,), where)
    label = _get(row, "label", (dict,), where)
    problem_text = _get(question, "problem", (str,), f"{where} question")
    generation = _get(row, "generation", (int, _NONE), where)
    finish_reason = _get(label, "finish_reason", (str,), f"{where} label")
    raw_steps = _get(label, "steps", (list,), f"{where} label")
    pre_generated = question.get("pre_generated_steps") if generation is not None else None

    steps: list[str] = []
    ratings: list[float | None] = []
    human_steps: list[int] = []
    stopped_at: int | None = None
    for k, step in enumerate(raw_steps):
        name = f"label.steps[{k}]"
        if not isinstance(step, Mapping):
            raise RecordError(where, None, "expected an object", field=name)
        completions = step.get("completions")
        chosen = step.get("chosen_completion")
        human = step.get("human_completion")
        if completions is not None and not isinstance(completions, list):
            raise RecordError(where, None, "expected a list or null", field=f"{name}.completions")
        if chosen is not None:
            if isinstance(chosen, bool) or not isinstance(chosen, int):
                raise RecordError(
                    where, None, "expected an index", field=f"{name}.chosen_completion"
                )
            if not completions or not 0 <= chosen < len(completions):
                count = len(completions or [])
                raise RecordError(
                    where,
                    None,
                    f"index {chosen} but {count} completions",
                    field=f"{name}.chosen_completion",
                )
            picked = completions[chosen]
            where_picked = f"{name}.completions[{chosen}]"
            text = _get(picked, "text", (str,), f"{where} {where_picked}")
            rating = _rating(picked.get("rating"), where, f"{where_picked}.rating")
        elif human is not None:
            text = _get(human, "text", (str,), f"{where} {name}.human_completion")
            rating = _rating(human.get("rating"), where, f"{name}.human_completion.rating")
            if rating is None:
                rating = 1  # labelers wrote their own step only as a correct (+1) one
            human_steps.append(k)
        else:
            # The labeler stopped here. In phase 2 the step under review is the pre-generated
            # one; its rating (usually the -1 that ended labeling) belongs to the solution.
            stopped_at = k
            reviewed = None
            if isinstance(pre_generated, list) and k < len(pre_generated) and completions:
                reviewed = next(
                    (
                        i
                        for i, c in enumerate(completions)
                        if isinstance(c, Mapping) and c.get("text") == pre_generated[k]
                    ),
                    None,
                )
            if reviewed is not None:
                picked = completions[reviewed]
                steps.append(picked["text"])
                field_name = f"{name}.completions[{reviewed}].rating"
                ratings.append(_rating(picked.get("rating"), where, field_name))
            later = [j for j in range(k + 1, len(raw_steps)) if _has_content(raw_steps[j])]
            if later:
                raise RecordError(
                    where,
                    None,
                    f"no completion chosen, yet step {later[0]} is labeled after it",
                    field=name,
                )
            break
        steps.append(text)
        ratings.append(rating)

    first_wrong = next((i for i, r in enumerate(ratings) if r == -1), None)
    problem_id = text_id("prm800k", problem_text)
    text = join_steps(steps)
    meta: dict[str, Any] = {
        "phase": 1 if generation is None else 2,
        "generation": generation,
        "finish_reason": finish_reason,
        "labeler": row.get("labeler"),
        "timestamp": row.get("timestamp"),
        "is_quality_control_question": bool(row.get("is_quality_control_question")),
        "is_initial_screening_question": bool(row.get("is_initial_screening_question")),
        "human_steps": human_steps,
        "stopped_at_step": stopped_at,
    }
    if generation is not None:
        meta["pre_generated_answer"] = question.get("pre_generated_answer")
        meta["pre_generated_verifier_score"] = question.get("pre_generated_verifier_score")
    solution = Solution(
        problem_id=problem_id,
        sample_id=sample_id,
        steps=steps,
        answer=_prm800k_answer(steps[-1]) if steps else None,
        text=text,
        meta=meta,
        step_labels=ratings,
        # "solution" means the labeler reached a step concluding in the correct answer.
        outcome=True if finish_reason == "solution" else None,
        label_source="prm800k",
        first_wrong_step=first_wrong,
    )
    problem_meta = {}
    if isinstance(question.get("ground_truth_solution"), str):
        problem_meta["solution"] = question["ground_truth_solution"]
    ground_truth = question.get("ground_truth_answer")
    problem = Problem(
        id=problem_id,
        problem=problem_text,
        answer=ground_truth if isinstance(ground_truth, str) else None,
        source="prm800k",
        meta=problem_meta,
    )
    return Converted(problem, solution)


def _has_content(step: Any) -> bool:
    return isinstance(step, Mapping) and any(
        step.get(k) is not None for k in ("completions", "chosen_completion", "human_completion")
    )


# --------------------------------------------------------------------------------------
# Math-Shepherd

_STEP_PREFIX = re.compile(r"^Step\s*(\d+)\s*:\s*")
_FIRST_STEP = re.compile(r"Step\s*1\s*:")


def math_shepherd_row(row: Any, *, where: str, sample_id: int) -> Converted:
    """One Math-Shepherd row (``input`` with ``ки`` tags, ``label`` with ``+``/``-``)."""
    tagged = _get(row, "input", (str,), where)
    labeled = _get(row, "label", (str,), where)
    task = row.get("task")
    segments = tagged.split(MATH_SHEPHERD_TAG)
    if len(segments) < 2:
        raise RecordError(where, None, f"no step tag {MATH_SHEPHERD_TAG!r}", field="input")
    if segments[-1].strip():
        raise RecordError(where, None, "text after the last step tag", field="input")
    # `label` is `input` with each two-character tag replaced by one character.
    expected_length = len(tagged) - (len(segments) - 1) * (len(MATH_SHEPHERD_TAG) - 1)
    if len(labeled) != expected_length:
        raise RecordError(
            where,
            None,
            f"length {len(labeled)} does not match input ({expected_length})",
            field="label",
        )
    labels: list[float | None] = []
    offset = 0
    for k, segment in enumerate(segments[:-1]):
        if labeled[offset : offset + len(segment)] != segment:
            raise RecordError(where, None, f"text of step {k} differs from input", field="label")
        mark = labeled[offset + len(segment)]
        if mark not in "+-":
            raise RecordError(
                where, None, f"step {k}: expected + or -, got {mark!r}", field="label"
            )
        labels.append(1 if mark == "+" else 0)
        offset += len(segment) + 1

    first = _FIRST_STEP.search(segments[0])
    if first is None:
        raise RecordError(where, None, "no 'Step 1:' after the question", field="input")
    question = segments[0][: first.start()].strip()
    if not question:
        raise RecordError(where, None, "empty question before 'Step 1:'", field="input")
    steps: list[str] = []
    for k, segment in enumerate([segments[0][first.start() :], *segments[1:-1]]):
        text = segment.strip()
        prefix = _STEP_PREFIX.match(text)
        if prefix and int(prefix.group(1)) == k + 1:
            text = text[prefix.end() :]
        steps.append(text.strip())

    problem_id = text_id("math-shepherd", question)
    text = join_steps(steps)
    solution = Solution(
        problem_id=problem_id,
        sample_id=sample_id,
        steps=steps,
        answer=extract_answer(steps[-1]),
        text=text,
        meta={"task": task},
        step_labels=labels,
        outcome=labels[-1] == 1,
        label_source="math-shepherd",
        first_wrong_step=next((i for i, v in enumerate(labels) if v == 0), None),
    )
    problem = Problem(id=problem_id, problem=question, source="math-shepherd", meta={"task": task})
    return Converted(problem, solution)


# --------------------------------------------------------------------------------------
# ProcessBench


def processbench_row(row: Any, *, where: str, split: str) -> Converted:
    """One ProcessBench row (id, generator, problem, steps, final_answer_correct, label)."""
    row_id = _get(row, "id", (str,), where)
    problem_text = _get(row, "problem", (str,), where)
    generator = _get(row, "generator", (str,), where)
    steps = _get(row, "steps", (list,), where)
    correct = _get(row, "final_answer_correct", (bool,), where)
    wrong = _get(row, "label", (int,), where)
    if not steps or not all(isinstance(s, str) for s in steps):
        raise RecordError(where, None, "expected a non-empty list of strings", field="steps")
    if not -1 <= wrong < len(steps):
        raise RecordError(
            where, None, f"{wrong} is not -1 or a step index below {len(steps)}", field="label"
        )
    if wrong == -1:
        labels: list[float | None] = [1] * len(steps)
    else:
        labels = [1] * wrong + [0] + [None] * (len(steps) - wrong - 1)
    solution = Solution(
        problem_id=row_id,
        sample_id=0,
        steps=list(steps),
        answer=extract_answer(steps[-1]) or extract_answer(join_steps(steps)),
        text=join_steps(steps),
        policy=generator,
        meta={"generator": generator, "split": split},
        step_labels=labels,
        outcome=correct,
        label_source="processbench",
        first_wrong_step=None if wrong == -1 else wrong,
    )
    problem = Problem(id=row_id, problem=problem_text, source="processbench", meta={"split": split})
    return Converted(problem, solution)


# --------------------------------------------------------------------------------------
# Files


def _open_lines(path: str | Path) -> IO[bytes]:
    if str(path) == STDIO:
        return sys.stdin.buffer
    p = Path(path)
    if not p.is_file():
        raise MathverifyError(f"{p}: no such file")
    return p.open("rb")


def _jsonl_rows(path: str | Path) -> Iterator[tuple[int, str, Callable[[], Any]]]:
    """``(line_number, where, parse)`` per non-blank line; parsing is deferred so a caller
    can skip a line that is not JSON the same way as a row with a bad field."""
    name = display_name(path)
    handle = _open_lines(path)
    try:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            where = f"{name}:{number}"

            def parse(raw: bytes = raw, where: str = where) -> Any:
                try:
                    return json.loads(raw.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    raise RecordError(where, None, f"not valid UTF-8 (byte {exc.start})") from exc
                except json.JSONDecodeError as exc:
                    raise RecordError(
                        where, None, f"invalid JSON: {exc.msg} at column {exc.colno}"
                    ) from exc

            yield number, where, parse
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()


def convert_prm800k(
    path: str | Path,
    *,
    keep_quality_control: bool = False,
    skip_bad: bool = False,
    stats: ConvertStats | None = None,
) -> Iterator[Converted]:
    """Convert a raw PRM800K JSONL file (phase 1 or 2); ``sample_id`` = line number."""
    stats = stats if stats is not None else ConvertStats()
    for number, where, parse in _jsonl_rows(path):
        stats.rows += 1
        try:
            row = parse()
            if (
                isinstance(row, Mapping)
                and row.get("is_quality_control_question")
                and not keep_quality_control
            ):
                stats.skipped_quality_control += 1
                continue
            converted = prm800k_row(row, where=where, sample_id=number)
        except MathverifyError as exc:
            if not skip_bad:
                raise
            stats.bad(str(exc))
            continue
        if not converted.solution.steps:
            stats.skipped_empty += 1
            continue
        stats.converted += 1
        yield converted


def convert_math_shepherd(
    path: str | Path, *, skip_bad: bool = False, stats: ConvertStats | None = None
) -> Iterator[Converted]:
    """Convert a Math-Shepherd JSONL file; ``sample_id`` = line number."""
    yield from convert_each(_jsonl_rows(path), math_shepherd_row, skip_bad=skip_bad, stats=stats)


def convert_each(
    rows: Iterable[tuple[int, str, Callable[[], Any]]],
    convert_row: Callable[..., Converted],
    *,
    skip_bad: bool = False,
    stats: ConvertStats | None = None,
) -> Iterator[Converted]:
    """``convert_row(row, where=, sample_id=)`` over ``(sample_id, where, parse)`` rows,
    counting rows and conversions in ``stats``; a bad row raises, or with ``skip_bad`` is
    counted (its message kept) and skipped."""
    stats = stats if stats is not None else ConvertStats()
    for sample_id, where, parse in rows:
        stats.rows += 1
        try:
            converted = convert_row(parse(), where=where, sample_id=sample_id)
        except MathverifyError as exc:
            if not skip_bad:
                raise
            stats.bad(str(exc))
            continue
        stats.converted += 1
        yield converted


def default_processbench_path(split: str) -> Path:
    """``processbench/{split}.json`` under the data dir (``MATHVERIFY_DATA``)."""
    return data_dir() / "processbench" / f"{split}.json"


def convert_processbench(
    path: str | Path,
    *,
    split: str | None = None,
    skip_bad: bool = False,
    stats: ConvertStats | None = None,
) -> Iterator[Converted]:
    """Convert one ProcessBench split file (a JSON array); ``split`` defaults to the file stem."""
    stats = stats if stats is not None else ConvertStats()
    split = split or Path(str(path)).stem
    name = display_name(path)
    seen: set[str] = set()
    for index, row in enumerate(read_json_array(path)):
        stats.rows += 1
        where = f"{name} item {index}"
        try:
            converted = processbench_row(row, where=where, split=split)
            if converted.problem.id in seen:
                raise RecordError(where, None, f"duplicate id {converted.problem.id!r}", field="id")
        except MathverifyError as exc:
            if not skip_bad:
                raise
            stats.bad(str(exc))
            continue
        seen.add(converted.problem.id)
        stats.converted += 1
        yield converted
