"""The hub's stepwise-supervision layout, read into labeled solutions and written from them.

A row holds ``prompt`` (the problem), ``completions`` (one string per step) and ``labels``
(one boolean per step: is the step right). It is the layout of trl-lib/math_shepherd and
trl-lib/prm800k, and what TRL's PRM code reads (TRL docs, "Dataset formats", stepwise
supervision; the two sets are built by huggingface/trl ``examples/datasets/math_shepherd.py``
and ``prm800k.py``).

- **Reading** (``data stepwise``): a row becomes a Problem (id ``stepwise-`` + a hash of the
  prompt, so rows of one prompt share it) and a labeled Solution: ``steps`` are the
  completions as given, ``step_labels`` 1/0 (``label_source`` "stepwise", hard labels);
  numbers in [0, 1] are read too, and a row with one strictly between is soft
  ("stepwise-soft"). ``outcome`` stays None: the layout does not say whether the final answer
  is right (trl-lib/prm800k rows are also prefixes that stop at a rated step).
  ``sample_id`` is the line number of a JSONL file, else the row number from 1.
- **Writing** (``data export-stepwise``): a labeled solution and its problem become a row.
  Labels become booleans through the scheme's training targets: PRM800K's neutral steps by
  ``neutral`` (TRL's prm800k script counts them wrong: ``negative``), soft labels by a
  threshold the caller must give. The layout labels every step it lists, so steps from the
  first unlabeled one on are left out (counted).

Sources: a JSONL file (or ``-``), a parquet file (by its suffix), or a hub dataset name,
loaded with ``datasets`` (needs network or a cached copy). A malformed row raises a
MathverifyError naming the file, the line or row, and the field, or with ``skip_bad`` is
counted in the stats.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from mathverify.data.converters import (
    Converted,
    ConvertStats,
    _get,
    _jsonl_rows,
    convert_each,
    text_id,
)
from mathverify.errors import MathverifyError, RecordError
from mathverify.records import (
    STDIO,
    Problem,
    Solution,
    display_name,
)
from mathverify.steps import extract_answer, join_steps

__all__ = [
    "DEFAULT_HUB_SPLIT",
    "convert_stepwise",
    "is_hub_name",
    "stepwise_row",
    "write_stepwise",
]

FIELDS = ("prompt", "completions", "labels")
DEFAULT_HUB_SPLIT = "train"
LABEL_SOURCE = "stepwise"
SOFT_LABEL_SOURCE = "stepwise-soft"

RowSource = Iterator[tuple[int, str, Callable[[], Any]]]  # (sample_id, where, parse)


# --------------------------------------------------------------------------------------
# Reading


def _label(value: Any, where: str, index: int) -> float | int:
    """A step label: a boolean, or a number in [0, 1] (1/0 stay ints, as hard labels)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float) and not math.isnan(value) and 0 <= value <= 1:
        return int(value) if value in (0, 1) else float(value)
    raise RecordError(
        where,
        None,
        f"expected true/false or a number in [0, 1], got {value!r}",
        field=f"labels[{index}]",
    )


def stepwise_row(row: Any, *, where: str, sample_id: int) -> Converted:
    """One stepwise-supervision row as a Problem and its labeled Solution."""
    prompt = _get(row, "prompt", (str,), where)
    completions = _get(row, "completions", (list,), where)
    raw_labels = _get(row, "labels", (list,), where)
    if not prompt.strip():
        raise RecordError(where, None, "empty", field="prompt")
    if not completions:
        raise RecordError(where, None, "no steps", field="completions")
    for k, step in enumerate(completions):
        if not isinstance(step, str):
            name = type(step).__name__
            raise RecordError(
                where, None, f"expected a string, got {name}", field=f"completions[{k}]"
            )
    if len(raw_labels) != len(completions):
        raise RecordError(
            where,
            None,
            f"{len(raw_labels)} labels for {len(completions)} completions",
            field="labels",
        )
    labels: list[float | None] = [_label(v, where, k) for k, v in enumerate(raw_labels)]
    soft = any(v not in (0, 1) for v in labels)
    steps = list(completions)
    problem_id = text_id("stepwise", prompt)
    solution = Solution(
        problem_id=problem_id,
        sample_id=sample_id,
        steps=steps,
        answer=extract_answer(steps[-1]),
        text=join_steps(steps),
        step_labels=labels,
        label_source=SOFT_LABEL_SOURCE if soft else LABEL_SOURCE,
        first_wrong_step=None if soft else next((i for i, v in enumerate(labels) if v == 0), None),
    )
    return Converted(Problem(id=problem_id, problem=prompt, source="stepwise"), solution)


def is_hub_name(source: str) -> bool:
    """``owner/name`` that is no local path: a hub dataset."""
    parts = source.split("/")
    return (
        len(parts) == 2
        and all(parts)
        and not source.startswith(".")
        and Path(source).suffix not in (".jsonl", ".json", ".parquet")
        and not Path(source).exists()
    )


def _parquet_rows(path: Path) -> RowSource:
    import pyarrow as pa  # a dependency of datasets; only parquet input needs it
    import pyarrow.parquet as pq

    name = display_name(path)
    try:
        parquet = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise MathverifyError(f"{name}: cannot read as parquet: {exc}") from exc
    missing = [f for f in FIELDS if f not in parquet.schema_arrow.names]
    if missing:
        raise MathverifyError(_no_columns(name, missing, parquet.schema_arrow.names))

    def rows() -> RowSource:
        number = 0
        for batch in parquet.iter_batches(batch_size=1024, columns=list(FIELDS)):
            for row in batch.to_pylist():
                number += 1
                yield number, f"{name} row {number}", (lambda row=row: row)

    return rows()


def _no_columns(name: str, missing: list[str], columns: Iterable[str]) -> str:
    return (
        f"{name}: no column {', '.join(missing)}; the stepwise layout has {', '.join(FIELDS)} "
        f"(columns: {', '.join(columns)})"
    )


def _hub_rows(name: str, split: str) -> RowSource:
    import datasets  # heavy; only hub input needs it

    try:
        dataset = datasets.load_dataset(name, split=split)
    except (OSError, ValueError, datasets.exceptions.DatasetsError) as exc:
        # ConnectionError (offline, no network) is an OSError; a bad split is a ValueError.
        raise MathverifyError(f"cannot load {name!r} split {split!r} from the hub: {exc}") from exc
    missing = [f for f in FIELDS if f not in dataset.column_names]
    if missing:
        raise MathverifyError(_no_columns(f"{name} [{split}]", missing, dataset.column_names))
    return (
        (number, f"{name} [{split}] row {number}", (lambda row=row: row))
        for number, row in enumerate(dataset, start=1)
    )


def stepwise_rows(source: str, split: str | None = None) -> RowSource:
    """``(sample_id, where, parse)`` per row of a JSONL or parquet file or a hub dataset.

    The source is opened now: a missing file, a parquet file without the layout's columns or
    a hub dataset that cannot load fails here, not at the first row."""
    if source == STDIO or Path(source).is_file():
        if split is not None:
            raise MathverifyError(f"--split applies to a hub dataset, not to the file {source}")
        if source != STDIO and Path(source).suffix == ".parquet":
            return _parquet_rows(Path(source))
        return _jsonl_rows(source)
    if Path(source).exists():
        raise MathverifyError(f"{source}: not a file (give a JSONL or parquet file)")
    if is_hub_name(source):
        return _hub_rows(source, split or DEFAULT_HUB_SPLIT)
    raise MathverifyError(f"{source}: no such file, and not a hub dataset name (owner/name)")


def convert_stepwise(
    source: str,
    *,
    split: str | None = None,
    skip_bad: bool = False,
    stats: ConvertStats | None = None,
) -> Iterator[Converted]:
    """Labeled solutions from stepwise-supervision rows (see the module docstring); the
    source is opened before this returns."""
    rows = stepwise_rows(source, split)
    return convert_each(rows, stepwise_row, skip_bad=skip_bad, stats=stats)


# --------------------------------------------------------------------------------------
# Writing


def write_stepwise(rows: Iterable[Mapping[str, Any]], output: str) -> int:
    """Write rows as JSONL (``-`` for stdout) or, for a ``.parquet`` path, parquet; a file
    appears whole or not at all. Returns the number of rows."""
    if output == STDIO:
        count = 0
        for row in rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
        sys.stdout.flush()
        return count
    path = Path(output)
    partial = path.with_name(path.name + ".part")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if path.suffix == ".parquet":
            count = _write_parquet(list(rows), partial)
        else:
            count = 0
            with partial.open("w", encoding="utf-8") as handle:
                for row in rows:
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
                    count += 1
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return count


def _write_parquet(rows: list[Mapping[str, Any]], path: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("prompt", pa.string()),
            ("completions", pa.list_(pa.string())),
            ("labels", pa.list_(pa.bool_())),
        ]
    )
    pq.write_table(pa.Table.from_pylist([dict(r) for r in rows], schema=schema), path)
    return len(rows)
