"""JSONL records shared by every stage, with a validating reader and a resumable writer.

Record types (field names are a public format, documented in README.md):

- :class:`Problem`: ``id, problem, answer, source, meta``
- :class:`Solution`: ``problem_id, sample_id, steps, answer, text, n_tokens, policy, meta``
  plus optional label fields (``step_labels, outcome, label_source, first_wrong_step``) and
  score fields (``step_scores, scorer``). A *labeled* solution has ``outcome`` or
  ``step_labels``; a *scored* one has ``step_scores``. One type keeps a solution that is both
  labeled and scored (as search and eval need) free of class hierarchies.
- :class:`SearchResult`: ``problem_id, method, config, answer, steps, candidates,
  n_generated_tokens, seconds, tree_id``
- :class:`Tree`: ``problem_id, method, nodes`` with nodes
  ``{id, parent, text, prior, visits, value, q, terminal, reward}``
- :class:`StepPair`: ``problem_id, run, node, prefix, chosen, rejected, chosen_q, rejected_q``
  (plus node ids and ``finished`` flags): two sibling steps of an MCTS tree, the one with the
  higher Q chosen (SVPO's step-level preference)

Every record has a ``key()`` that identifies it within one output file; ``--resume`` skips
keys already written. Reading never keys on question text.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar, TypeVar

from mathverify.errors import MathverifyError, RecordError
from mathverify.provenance import Provenance

STDIO = "-"

# Field kinds understood by the validator. A field's kind is looked up in each record's
# FIELDS table; anything not listed there is an error in the record definition, not input.
_KINDS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "dict": (dict,),
    "list": (list,),
    "id": (int, str),  # a tree node id
}


def _check(value: Any, kind: str) -> str | None:
    """Return a message when ``value`` does not fit ``kind`` (e.g. ``str?``, ``list[str]``)."""
    optional = kind.endswith("?")
    kind = kind.rstrip("?")
    if value is None:
        return None if optional else "must not be null"
    if kind.startswith("list[") and kind.endswith("]"):
        if not isinstance(value, list):
            return f"expected a list, got {type(value).__name__}"
        inner = kind[5:-1]
        for i, item in enumerate(value):
            problem = _check(item, inner)
            if problem:
                return f"item {i}: {problem}"
        return None
    types = _KINDS[kind]
    # bool is an int in Python; a JSON true must not pass as a number and vice versa.
    if isinstance(value, bool) and bool not in types:
        return f"expected {kind}, got bool"
    if not isinstance(value, types):
        return f"expected {kind}, got {type(value).__name__}"
    return None


class Record(ABC):
    """Base of the JSONL record types: validation from dicts and serialisation to dicts.

    A record type says how its records are keyed (:meth:`key`); the rest is shared.
    """

    # field name -> kind; a kind ending in "?" may be null. Fields with a dataclass default
    # may be absent from the JSON object.
    FIELDS: ClassVar[dict[str, str]] = {}
    KIND: ClassVar[str] = "record"

    @abstractmethod
    def key(self) -> str:
        """The record's id in a file of its kind; a resumed run skips the keys already written."""

    @classmethod
    def from_dict(cls: type[R], data: Any, *, path: str = "<dict>", line: int | None = None) -> R:
        if not isinstance(data, dict):
            raise RecordError(path, line, f"expected a JSON object, got {type(data).__name__}")
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            kind = cls.FIELDS[f.name]
            if f.name not in data:
                has_default = (
                    f.default is not dataclasses.MISSING
                    or f.default_factory is not dataclasses.MISSING  # type: ignore[misc]
                )
                if has_default:
                    continue
                raise RecordError(path, line, "missing", field=f.name)
            problem = _check(data[f.name], kind)
            if problem:
                raise RecordError(path, line, problem, field=f.name)
            values[f.name] = data[f.name]
        extra = {k: v for k, v in data.items() if k not in cls.FIELDS}
        record = cls(**values)
        record._extra = extra  # type: ignore[attr-defined]
        record.validate(path, line)
        return record

    def validate(self, path: str, line: int | None) -> None:
        """Cross-field checks; subclasses that have some raise RecordError (none by default)."""
        return None

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        # Unknown fields written by other tools travel through untouched.
        out.update(getattr(self, "_extra", {}))
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)


R = TypeVar("R", bound=Record)


@dataclass
class Problem(Record):
    """A question with its gold answer. ``id`` is stable across runs and sources."""

    id: str
    problem: str
    answer: str | None = None
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    FIELDS: ClassVar[dict[str, str]] = {
        "id": "str",
        "problem": "str",
        "answer": "str?",
        "source": "str",
        "meta": "dict",
    }
    KIND: ClassVar[str] = "problem"

    def key(self) -> str:
        return self.id


@dataclass
class Solution(Record):
    """One sampled solution; optionally labeled (step_labels/outcome) and scored (step_scores)."""

    problem_id: str
    sample_id: int
    steps: list[str]
    answer: str | None = None
    text: str = ""
    n_tokens: int = 0
    policy: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    # labels
    step_labels: list[float | None] | None = None
    outcome: bool | None = None
    label_source: str | None = None
    first_wrong_step: int | None = None
    # scores
    step_scores: list[float | None] | None = None
    scorer: str | None = None

    FIELDS: ClassVar[dict[str, str]] = {
        "problem_id": "str",
        "sample_id": "int",
        "steps": "list[str]",
        "answer": "str?",
        "text": "str",
        "n_tokens": "int",
        "policy": "str",
        "meta": "dict",
        "step_labels": "list[float?]?",
        "outcome": "bool?",
        "label_source": "str?",
        "first_wrong_step": "int?",
        "step_scores": "list[float?]?",
        "scorer": "str?",
    }
    KIND: ClassVar[str] = "solution"

    def key(self) -> str:
        return self.key_for(self.problem_id, self.sample_id)

    @staticmethod
    def key_for(problem_id: str, sample_id: int) -> str:
        """The key of sample ``sample_id`` of ``problem_id``, without the record."""
        return f"{problem_id}#{sample_id}"

    @classmethod
    def from_dict(cls, data: Any, *, path: str = "<dict>", line: int | None = None) -> Solution:
        """A solution whose record has no ``answer`` field gets the answer its text commits
        to (its steps' when it has no text), as ``generate`` extracts it. Otherwise a
        solution written by another tool would grade as "no answer", wrong, with exit 0.
        An explicit ``"answer": null`` stays None: the solution gave no answer."""
        solution = super().from_dict(data, path=path, line=line)
        if "answer" not in data:
            from mathverify.steps import extract_answer, join_steps

            solution.answer = extract_answer(solution.text or join_steps(solution.steps))
        return solution

    def validate(self, path: str, line: int | None) -> None:
        for name in ("step_labels", "step_scores"):
            values = getattr(self, name)
            if values is not None and len(values) != len(self.steps):
                raise RecordError(
                    path,
                    line,
                    f"has {len(values)} entries for {len(self.steps)} steps",
                    field=name,
                )

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        # Keep plain solutions plain: optional label/score fields appear once they are set.
        for name in (
            "step_labels",
            "outcome",
            "label_source",
            "first_wrong_step",
            "step_scores",
            "scorer",
        ):
            if out.get(name) is None:
                out.pop(name, None)
        return out


@dataclass
class SearchResult(Record):
    """The outcome of one search on one problem, with everything needed to audit it."""

    problem_id: str
    method: str
    answer: str | None
    steps: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    n_generated_tokens: int = 0
    seconds: float = 0.0
    tree_id: str | None = None
    run: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    FIELDS: ClassVar[dict[str, str]] = {
        "problem_id": "str",
        "method": "str",
        "answer": "str?",
        "steps": "list[str]",
        "config": "dict",
        "candidates": "list[dict]",
        "n_generated_tokens": "int",
        "seconds": "float",
        "tree_id": "str?",
        "run": "int",
        "meta": "dict",
    }
    KIND: ClassVar[str] = "search result"

    def key(self) -> str:
        return self.key_for(self.problem_id, self.run)

    @staticmethod
    def key_for(problem_id: str, run: int = 0) -> str:
        """The key of run ``run`` of a search on ``problem_id``, without the record."""
        return f"{problem_id}#{run}"


TREE_NODE_FIELDS = ("id", "parent", "text", "prior", "visits", "value", "q", "terminal", "reward")


@dataclass
class Tree(Record):
    """A whole search tree for one problem: nodes in creation order, root first."""

    problem_id: str
    nodes: list[dict[str, Any]]
    method: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    run: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    FIELDS: ClassVar[dict[str, str]] = {
        "problem_id": "str",
        "nodes": "list[dict]",
        "method": "str",
        "config": "dict",
        "run": "int",
        "meta": "dict",
    }
    KIND: ClassVar[str] = "tree"

    def key(self) -> str:
        # The key of the search result the tree belongs to.
        return SearchResult.key_for(self.problem_id, self.run)

    def validate(self, path: str, line: int | None) -> None:
        for i, node in enumerate(self.nodes):
            missing = [name for name in TREE_NODE_FIELDS if name not in node]
            if missing:
                raise RecordError(path, line, f"node {i} lacks {', '.join(missing)}", field="nodes")


@dataclass
class StepPair(Record):
    """Two sibling steps after the same prefix, the one with the higher Q chosen (SVPO).

    ``node`` is the parent's id in the tree of ``problem_id`` (run ``run``); ``prefix`` its
    steps (empty texts left out), ``chosen``/``rejected`` the children's step texts with
    their node ids, Q values in [-1, 1] and whether the step ended the solution.
    """

    problem_id: str
    node: int | str
    prefix: list[str]
    chosen: str
    rejected: str
    chosen_q: float
    rejected_q: float
    chosen_node: int | str = ""
    rejected_node: int | str = ""
    chosen_finished: bool = False
    rejected_finished: bool = False
    run: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    FIELDS: ClassVar[dict[str, str]] = {
        "problem_id": "str",
        "node": "id",
        "prefix": "list[str]",
        "chosen": "str",
        "rejected": "str",
        "chosen_q": "float",
        "rejected_q": "float",
        "chosen_node": "id",
        "rejected_node": "id",
        "chosen_finished": "bool",
        "rejected_finished": "bool",
        "run": "int",
        "meta": "dict",
    }
    KIND: ClassVar[str] = "step pair"

    def key(self) -> str:
        return f"{self.problem_id}#{self.run}#{self.chosen_node}>{self.rejected_node}"

    def validate(self, path: str, line: int | None) -> None:
        for name in ("chosen_q", "rejected_q"):
            value = getattr(self, name)
            if not -1.0 <= value <= 1.0:
                raise RecordError(path, line, f"{value} is outside [-1, 1]", field=name)
        if not self.chosen_q > self.rejected_q:
            raise RecordError(
                path,
                line,
                f"chosen_q {self.chosen_q} is not above rejected_q {self.rejected_q}",
                field="chosen_q",
            )
        if not self.chosen.strip():
            raise RecordError(path, line, "empty step", field="chosen")
        if not self.rejected.strip():
            raise RecordError(path, line, "empty step", field="rejected")
        if (self.chosen, self.chosen_finished) == (self.rejected, self.rejected_finished):
            raise RecordError(path, line, "the same step as chosen", field="rejected")


# --------------------------------------------------------------------------------------
# Reading


def _open_binary(path: str | os.PathLike[str]) -> IO[bytes]:
    if str(path) == STDIO:
        return sys.stdin.buffer
    p = Path(path)
    if not p.exists():
        raise MathverifyError(f"{p}: no such file")
    if p.is_dir():
        raise MathverifyError(f"{p}: is a directory, expected a JSONL file")
    return p.open("rb")


def display_name(path: str | os.PathLike[str]) -> str:
    return "<stdin>" if str(path) == STDIO else str(path)


def iter_json_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, parsed_object)`` for each non-blank line; errors name the line."""
    name = display_name(path)
    handle = _open_binary(path)
    try:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise RecordError(
                    name, number, f"not valid UTF-8 (byte {exc.start}: {raw[exc.start]:#04x})"
                ) from exc
            if not text.strip():
                continue
            try:
                yield number, json.loads(text)
            except json.JSONDecodeError as exc:
                raise RecordError(
                    name, number, f"invalid JSON: {exc.msg} at column {exc.colno}"
                ) from exc
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()


def read_records(path: str | os.PathLike[str], record_type: type[R]) -> Iterator[R]:
    """Stream validated records from a JSONL path or ``-`` (stdin)."""
    name = display_name(path)
    for number, obj in iter_json_lines(path):
        yield record_type.from_dict(obj, path=name, line=number)


def read_all(path: str | os.PathLike[str], record_type: type[R]) -> list[R]:
    return list(read_records(path, record_type))


def read_numbered(path: str) -> list[tuple[int, Solution]]:
    """Solutions with their line numbers, so later errors can name the line."""
    name = display_name(path)
    return [(n, Solution.from_dict(obj, path=name, line=n)) for n, obj in iter_json_lines(path)]


def read_problems_by_id(path: str | os.PathLike[str]) -> dict[str, Problem]:
    """Problems keyed by id; a repeated id is an error (it would make labels ambiguous)."""
    problems: dict[str, Problem] = {}
    name = display_name(path)
    for number, obj in iter_json_lines(path):
        problem = Problem.from_dict(obj, path=name, line=number)
        if problem.id in problems:
            raise RecordError(name, number, f"duplicate id {problem.id!r}", field="id")
        problems[problem.id] = problem
    return problems


# --------------------------------------------------------------------------------------
# Sharding


def parse_shard(spec: str | None) -> tuple[int, int] | None:
    """Parse ``i/n`` (0 <= i < n) as used by ``--shard``; None means no sharding."""
    if spec is None or spec == "":
        return None
    try:
        index_text, count_text = spec.split("/")
        index, count = int(index_text), int(count_text)
    except ValueError:
        raise MathverifyError(f"--shard {spec!r}: expected i/n, e.g. 0/4") from None
    if count < 1 or not 0 <= index < count:
        raise MathverifyError(f"--shard {spec!r}: need 0 <= i < n")
    return index, count


def in_shard(problem_id: str, shard: tuple[int, int] | None) -> bool:
    """Stable assignment of a problem to a shard, independent of file order and machine."""
    if shard is None:
        return True
    index, count = shard
    return zlib.crc32(problem_id.encode("utf-8")) % count == index


# --------------------------------------------------------------------------------------
# Writing


def _existing_keys(
    path: Path, record_type: type[Record], provenance: Provenance | None = None
) -> set[str]:
    """Keys already in ``path``; a torn last line (a killed writer) is cut off first.

    With ``provenance``, every existing record's stored settings must equal it (else a
    :class:`MathverifyError` names the line and the field).
    """
    keys: set[str] = set()
    if not path.exists() or path.stat().st_size == 0:
        return keys
    with path.open("rb+") as handle:
        data = handle.read()
        if not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            handle.truncate(cut)
            data = data[:cut]
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RecordError(str(path), number, f"cannot resume: unreadable line ({exc})") from exc
        record = record_type.from_dict(obj, path=str(path), line=number)
        if provenance is not None:
            provenance.check_resume(_meta_of(record), f"{path}:{number}")
        keys.add(record.key())
    return keys


def _meta_of(record: Record) -> dict[str, Any]:
    meta = getattr(record, "meta", None)
    if not isinstance(meta, dict):
        raise TypeError(f"{type(record).__name__} has no meta to carry a provenance")
    return meta


class RecordWriter:
    """Write records as JSONL, one flushed line each, to a path or ``-`` (stdout).

    With ``resume=True`` an existing file is kept and ``done(key)`` tells which records are
    already there, so a killed run restarts without losing or duplicating rows. Without it an
    existing file is replaced.

    With ``provenance`` each record written gets it stamped into ``meta["provenance"]``, and
    a resumed file must have been written with the same settings (else an error names the
    field that differs).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        record_type: type[Record],
        *,
        resume: bool = False,
        provenance: Provenance | None = None,
    ) -> None:
        self.path = str(path)
        self.record_type = record_type
        self.provenance = provenance
        self.written = 0
        self._keys: set[str] = set()
        self._handle: IO[str]
        if self.path == STDIO:
            self._handle = sys.stdout
            return
        p = Path(self.path)
        if p.parent and not p.parent.exists():
            p.parent.mkdir(parents=True, exist_ok=True)
        if resume:
            self._keys = _existing_keys(p, record_type, provenance)
            self._handle = p.open("a", encoding="utf-8")
        else:
            self._handle = p.open("w", encoding="utf-8")

    @property
    def resumed(self) -> int:
        """How many records were already in the file when it was opened."""
        return len(self._keys) - self.written

    def done(self, key: str) -> bool:
        return key in self._keys

    def write(self, record: Record) -> None:
        key = record.key()
        if key in self._keys:
            return
        if self.provenance is not None:
            self.provenance.stamp(_meta_of(record))
        # One write call per line so a killed process leaves at most one torn line.
        self._handle.write(record.to_json() + "\n")
        self._handle.flush()
        self._keys.add(key)
        self.written += 1

    def write_all(self, records: Iterable[Record]) -> None:
        for record in records:
            self.write(record)

    def close(self) -> None:
        if self._handle is not sys.stdout:
            self._handle.close()
        else:
            self._handle.flush()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def write_records(path: str | os.PathLike[str], records: Iterable[Record]) -> int:
    """Write all records to ``path`` (replacing it); returns how many were written."""
    records = list(records)
    record_type = type(records[0]) if records else Record
    with RecordWriter(path, record_type) as writer:
        writer.write_all(records)
        return writer.written
