"""Load math benchmarks as :class:`~mathverify.records.Problem` records with stable ids.

Sources, from local files under :func:`mathverify.paths.data_dir` (layout in SOURCES.md) or
from the Hugging Face hub by name; both go through the same row mapping, so a problem
gets the same id and fields either way:

- MATH500 (``math500/test.jsonl``, hub ``HuggingFaceH4/MATH-500``): id = ``unique_id``.
- MARIO_EVAL's MATH test set (``mario_eval/math_testset_annotation.json``, the file
  AlphaMath's ``--qaf`` reads): id = ``mario-{index}``.
- GSM8K (``gsm8k/{train,test}.jsonl``, hub ``openai/gsm8k`` config ``main``): id =
  ``gsm8k-{split}-{row index}``, answer = the number after ``####``, commas removed.

Not for labeled solutions (PRM800K, Math-Shepherd, ProcessBench): see
:mod:`mathverify.data.converters`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mathverify.errors import MathverifyError, RecordError
from mathverify.paths import data_dir
from mathverify.records import STDIO, Problem, display_name, iter_json_lines
from mathverify.steps import extract_gsm8k

__all__ = [
    "FORMATS",
    "GSM8K_SPLITS",
    "HUB_SOURCES",
    "HubSource",
    "default_path",
    "detect_format",
    "gsm8k_problem",
    "load_gsm8k",
    "load_hub",
    "load_mario",
    "load_math500",
    "mario_problem",
    "math500_problem",
    "problems_from_dataset",
    "problems_from_rows",
    "read_json_array",
]

FORMATS = ("math500", "mario", "gsm8k")
GSM8K_SPLITS = ("train", "test")

# Columns that identify a format when a hub dataset is not in HUB_SOURCES.
_FORMAT_COLUMNS: dict[str, frozenset[str]] = {
    "math500": frozenset({"problem", "answer", "unique_id"}),
    "mario": frozenset({"index", "question", "answer"}),
    "gsm8k": frozenset({"question", "answer"}),
}


@dataclass(frozen=True)
class HubSource:
    """How to read one hub dataset: the row format and the config name it needs."""

    format: str
    config: str | None = None


HUB_SOURCES: dict[str, HubSource] = {
    "HuggingFaceH4/MATH-500": HubSource("math500"),
    "openai/gsm8k": HubSource("gsm8k", "main"),
    "gsm8k": HubSource("gsm8k", "main"),
}


def default_path(source: str, split: str = "test") -> Path:
    """Where a source's file lives under the data dir (``MATHVERIFY_DATA``)."""
    relative = {
        "math500": "math500/test.jsonl",
        "mario": "mario_eval/math_testset_annotation.json",
        "gsm8k": f"gsm8k/{split}.jsonl",
    }
    if source not in relative:
        raise MathverifyError(f"unknown source {source!r}: choose one of {', '.join(relative)}")
    return data_dir() / relative[source]


# --------------------------------------------------------------------------------------
# Row mapping, shared by files and the hub. `where` names the row in error messages, e.g.
# "test.jsonl:12" or "annotation.json item 3".


def _get(row: Mapping[str, Any], name: str, types: tuple[type, ...], where: str) -> Any:
    if name not in row:
        raise RecordError(where, None, "missing", field=name)
    value = row[name]
    if isinstance(value, bool) or not isinstance(value, types):
        expected = " or ".join(t.__name__ for t in types)
        raise RecordError(
            where, None, f"expected {expected}, got {type(value).__name__}", field=name
        )
    return value


def _level(value: int | str, where: str) -> int:
    # MATH500 stores 1..5; the original MATH files store "Level 5".
    if isinstance(value, int):
        return value
    text = value.removeprefix("Level").strip()
    if not text.isdigit():
        raise RecordError(
            where, None, f"expected a level like 3 or 'Level 3', got {value!r}", field="level"
        )
    return int(text)


def math500_problem(row: Mapping[str, Any], where: str) -> Problem:
    """One MATH500 row (problem, solution, answer, subject, level, unique_id) as a Problem."""
    return Problem(
        id=_get(row, "unique_id", (str,), where),
        problem=_get(row, "problem", (str,), where),
        answer=_get(row, "answer", (str,), where),
        source="math500",
        meta={
            "subject": _get(row, "subject", (str,), where),
            "level": _level(_get(row, "level", (int, str), where), where),
            "solution": _get(row, "solution", (str,), where),
        },
    )


def mario_problem(row: Mapping[str, Any], where: str) -> Problem:
    """One MARIO_EVAL qaf row (index, question, answer, human_type) as a Problem.

    A few rows list several acceptable answers ("enter one of the foci"): ``answer`` is the
    first and ``meta["answers"]`` all of them, any of which is correct.
    """
    answer = _get(row, "answer", (str, list), where)
    meta: dict[str, Any] = {"human_type": _get(row, "human_type", (str,), where)}
    if isinstance(answer, list):
        if not answer or not all(isinstance(a, str) for a in answer):
            raise RecordError(where, None, "expected a non-empty list of strings", field="answer")
        meta["answers"] = list(answer)
        answer = answer[0]
    return Problem(
        id=f"mario-{_get(row, 'index', (int,), where)}",
        problem=_get(row, "question", (str,), where),
        answer=answer,
        source="mario",
        meta=meta,
    )


def gsm8k_problem(row: Mapping[str, Any], split: str, index: int, where: str) -> Problem:
    """One GSM8K row (question, answer with ``#### N``) as a Problem; ``index`` counts from 0."""
    solution = _get(row, "answer", (str,), where)
    answer = extract_gsm8k(solution)
    if answer is None:
        raise RecordError(where, None, "no final answer after '####'", field="answer")
    return Problem(
        id=f"gsm8k-{split}-{index}",
        problem=_get(row, "question", (str,), where),
        answer=answer,
        source="gsm8k",
        meta={"solution": solution},
    )


def problems_from_rows(
    rows: Iterable[tuple[str, Any]], fmt: str, *, split: str = "test"
) -> list[Problem]:
    """Map ``(where, row)`` pairs of one format to Problems; a repeated id is an error."""
    if fmt not in FORMATS:
        raise MathverifyError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, (where, row) in enumerate(rows):
        if not isinstance(row, Mapping):
            raise RecordError(where, None, f"expected a JSON object, got {type(row).__name__}")
        if fmt == "math500":
            problem = math500_problem(row, where)
        elif fmt == "mario":
            problem = mario_problem(row, where)
        else:
            problem = gsm8k_problem(row, split, index, where)
        if problem.id in seen:
            raise RecordError(where, None, f"duplicate id {problem.id!r}", field="id")
        seen.add(problem.id)
        problems.append(problem)
    return problems


# --------------------------------------------------------------------------------------
# Local files


def _jsonl_rows(path: str | Path) -> Iterator[tuple[str, Any]]:
    name = display_name(path)
    for number, obj in iter_json_lines(path):
        yield f"{name}:{number}", obj


def read_json_array(path: str | Path) -> list[Any]:
    """A file holding one JSON array (``-`` for stdin); errors name the file and position."""
    name = display_name(path)
    if str(path) == STDIO:
        text = sys.stdin.read()
    else:
        p = Path(path)
        if not p.is_file():
            raise MathverifyError(f"{p}: no such file")
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise MathverifyError(f"{p}: not valid UTF-8 (byte {exc.start})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MathverifyError(
            f"{name}:{exc.lineno}: invalid JSON: {exc.msg} at column {exc.colno}"
        ) from exc
    if not isinstance(data, list):
        raise MathverifyError(f"{name}: expected a JSON array, got {type(data).__name__}")
    return data


def _array_rows(path: str | Path) -> Iterator[tuple[str, Any]]:
    name = display_name(path)
    for index, obj in enumerate(read_json_array(path)):
        yield f"{name} item {index}", obj


def load_math500(path: str | Path | None = None) -> list[Problem]:
    """MATH500 problems from ``math500/test.jsonl`` (or ``path``)."""
    return problems_from_rows(_jsonl_rows(path or default_path("math500")), "math500")


def load_mario(path: str | Path | None = None) -> list[Problem]:
    """The 5,000 MATH test problems of MARIO_EVAL's ``math_testset_annotation.json``."""
    return problems_from_rows(_array_rows(path or default_path("mario")), "mario")


def load_gsm8k(split: str = "test", path: str | Path | None = None) -> list[Problem]:
    """GSM8K problems of ``split`` from ``gsm8k/{split}.jsonl`` (or ``path``)."""
    if split not in GSM8K_SPLITS:
        raise MathverifyError(f"GSM8K split {split!r}: choose one of {', '.join(GSM8K_SPLITS)}")
    return problems_from_rows(
        _jsonl_rows(path or default_path("gsm8k", split)), "gsm8k", split=split
    )


# --------------------------------------------------------------------------------------
# Hugging Face hub


def detect_format(columns: Iterable[str]) -> str | None:
    """The row format whose columns ``columns`` has (most specific first), or None."""
    present = set(columns)
    for fmt in ("math500", "mario", "gsm8k"):
        if _FORMAT_COLUMNS[fmt] <= present:
            return fmt
    return None


def problems_from_dataset(
    dataset: Any, *, name: str, split: str, fmt: str | None = None
) -> list[Problem]:
    """Problems from a ``datasets.Dataset`` (hub or in-memory), mapped like the local files."""
    if fmt is None:
        source = HUB_SOURCES.get(name)
        fmt = source.format if source else detect_format(dataset.column_names)
    if fmt is None:
        known = "; ".join(f"{f}: {', '.join(sorted(c))}" for f, c in _FORMAT_COLUMNS.items())
        raise MathverifyError(
            f"{name}: cannot tell the format from columns {', '.join(dataset.column_names)} "
            f"(expected {known}); pass a format"
        )
    rows = ((f"{name} [{split}] row {i}", row) for i, row in enumerate(dataset))
    return problems_from_rows(rows, fmt, split=split)


def load_hub(
    name: str, split: str, *, config: str | None = None, fmt: str | None = None
) -> list[Problem]:
    """Problems of a hub dataset via ``datasets.load_dataset`` (needs network or a cache).

    ``config`` and ``fmt`` default from :data:`HUB_SOURCES` for known names; other names
    are recognised by their columns.
    """
    import datasets  # heavy; only this function needs it

    source = HUB_SOURCES.get(name)
    if config is None and source is not None:
        config = source.config
    try:
        dataset = datasets.load_dataset(name, config, split=split)
    except (OSError, ValueError, datasets.exceptions.DatasetsError) as exc:
        # ConnectionError (offline, no network) is an OSError; a bad split is a ValueError.
        raise MathverifyError(f"cannot load {name!r} split {split!r} from the hub: {exc}") from exc
    return problems_from_dataset(dataset, name=name, split=split, fmt=fmt)
