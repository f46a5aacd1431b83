"""Records: validation with file/line/field errors, resumable writing, sharding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mathverify.errors import MathverifyError, RecordError
from mathverify.records import (
    Problem,
    RecordWriter,
    SearchResult,
    Solution,
    Tree,
    in_shard,
    parse_shard,
    read_all,
    read_problems_by_id,
)


def write_lines(path: Path, lines: list[str | bytes]) -> Path:
    with path.open("wb") as handle:
        for line in lines:
            handle.write(line if isinstance(line, bytes) else line.encode("utf-8"))
            handle.write(b"\n")
    return path


GOOD_PROBLEM = json.dumps({"id": "p1", "problem": "1+1?", "answer": "2"})


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([GOOD_PROBLEM, "{not json"], ":2: invalid JSON"),
        ([GOOD_PROBLEM, json.dumps({"problem": "x"})], ":2: field 'id': missing"),
        ([json.dumps({"id": 3, "problem": "x"})], ":1: field 'id': expected str, got int"),
        ([json.dumps({"id": "a", "problem": "x", "meta": []})], ":1: field 'meta': expected dict"),
        ([GOOD_PROBLEM, GOOD_PROBLEM.encode() + b"\xff"], ":2: not valid UTF-8"),
        (["[1, 2]"], ":1: expected a JSON object, got list"),
    ],
)
def test_reader_errors_name_file_line_and_field(tmp_path, lines, expected):
    path = write_lines(tmp_path / "in.jsonl", lines)
    with pytest.raises(RecordError) as info:
        read_all(path, Problem)
    message = str(info.value)
    assert message.startswith(str(path))
    assert expected in message
    assert "\n" not in message


def test_empty_file_and_blank_lines_give_no_records(tmp_path):
    assert read_all(write_lines(tmp_path / "empty.jsonl", []), Problem) == []
    assert (
        len(read_all(write_lines(tmp_path / "blank.jsonl", ["", GOOD_PROBLEM, "  "]), Problem)) == 1
    )


def test_missing_file_is_a_domain_error(tmp_path):
    with pytest.raises(MathverifyError, match="no such file"):
        read_all(tmp_path / "nope.jsonl", Problem)


def test_duplicate_problem_ids_are_refused(tmp_path):
    path = write_lines(tmp_path / "p.jsonl", [GOOD_PROBLEM, GOOD_PROBLEM])
    with pytest.raises(RecordError, match=":2: field 'id': duplicate id 'p1'"):
        read_problems_by_id(path)


def test_solution_label_length_must_match_steps():
    data = {"problem_id": "p", "sample_id": 0, "steps": ["a", "b"], "step_labels": [1]}
    with pytest.raises(RecordError, match="step_labels.*1 entries for 2 steps"):
        Solution.from_dict(data)


def test_bool_is_not_an_int_and_null_only_where_optional():
    base = {"problem_id": "p", "steps": ["a"]}
    with pytest.raises(RecordError, match="sample_id.*got bool"):
        Solution.from_dict({**base, "sample_id": True})
    with pytest.raises(RecordError, match="sample_id.*must not be null"):
        Solution.from_dict({**base, "sample_id": None})
    assert Solution.from_dict({**base, "sample_id": 0, "answer": None}).answer is None


def test_round_trip_keeps_unknown_fields_and_omits_unset_labels():
    data = {"problem_id": "p", "sample_id": 2, "steps": ["a"], "custom": {"x": 1}}
    out = Solution.from_dict(data).to_dict()
    assert out["custom"] == {"x": 1}
    assert "step_labels" not in out and "outcome" not in out
    labeled = Solution.from_dict({**data, "outcome": True, "step_labels": [None]})
    assert labeled.to_dict()["outcome"] is True


def test_tree_nodes_need_all_fields():
    node = {k: 0 for k in ("id", "parent", "text", "prior", "visits", "value", "q", "terminal")}
    with pytest.raises(RecordError, match="node 0 lacks reward"):
        Tree.from_dict({"problem_id": "p", "nodes": [node]})
    Tree.from_dict({"problem_id": "p", "nodes": [{**node, "reward": None}]})


def test_search_result_key_includes_run():
    result = SearchResult.from_dict({"problem_id": "p", "method": "sbs", "answer": "3", "run": 2})
    assert result.key() == "p#2"


def solution(pid: str, sid: int) -> Solution:
    return Solution(problem_id=pid, sample_id=sid, steps=["x"])


def test_writer_resume_skips_written_keys_and_cuts_a_torn_line(tmp_path):
    path = tmp_path / "out.jsonl"
    with RecordWriter(path, Solution) as writer:
        writer.write(solution("a", 0))
        writer.write(solution("a", 1))
    # A killed writer can leave half a line behind.
    with path.open("a") as handle:
        handle.write('{"problem_id": "a", "sample_id": 2, "st')
    with RecordWriter(path, Solution, resume=True) as writer:
        assert writer.resumed == 2
        assert writer.done("a#0") and not writer.done("a#2")
        for sid in range(4):
            writer.write(solution("a", sid))
        assert writer.written == 2
    keys = [Solution.from_dict(json.loads(line)).key() for line in path.read_text().splitlines()]
    assert keys == ["a#0", "a#1", "a#2", "a#3"]


def test_writer_without_resume_replaces_the_file(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text("old content\n")
    with RecordWriter(path, Solution) as writer:
        writer.write(solution("a", 0))
    assert len(path.read_text().splitlines()) == 1


@pytest.mark.parametrize("spec", ["1", "2/2", "-1/3", "a/b", "0/0"])
def test_bad_shard_specs(spec):
    with pytest.raises(MathverifyError, match="--shard"):
        parse_shard(spec)


def test_shards_partition_ids():
    ids = [f"id-{i}" for i in range(200)]
    shards = [parse_shard(f"{i}/3") for i in range(3)]
    assigned = [[pid for pid in ids if in_shard(pid, s)] for s in shards]
    assert sorted(sum(assigned, [])) == sorted(ids)
    assert all(len(part) > 30 for part in assigned)
    assert parse_shard(None) is None and in_shard("x", None)
