"""Provenance: stamped into every record a writer writes; a resume with other settings refused."""

from __future__ import annotations

import json

import pytest

from mathverify import __version__
from mathverify.errors import MathverifyError
from mathverify.provenance import Provenance, collect, stage_provenance
from mathverify.records import RecordWriter, Solution, Tree, read_all


def _solution(i: int) -> Solution:
    return Solution(problem_id=f"p{i}", sample_id=0, steps=["1+1=2"], answer="2")


def test_writer_stamps_the_stage_settings_and_the_version(tmp_path):
    path = tmp_path / "out.jsonl"
    stage = Provenance("generate", {"policy": "pol", "temperature": 0.7, "seed": 3})
    with RecordWriter(path, Solution, provenance=stage) as writer:
        writer.write(_solution(0))
    (record,) = read_all(path, Solution)
    assert stage_provenance(record.meta, "generate") == {
        "policy": "pol",
        "temperature": 0.7,
        "seed": 3,
        "mathverify_version": __version__,
    }


def test_a_later_stage_keeps_the_earlier_stages_provenance(tmp_path):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    with RecordWriter(first, Solution, provenance=Provenance("generate", {"seed": 1})) as w:
        w.write(_solution(0))
    with RecordWriter(second, Solution, provenance=Provenance("label", {"method": "exact"})) as w:
        w.write_all(read_all(first, Solution))
    (record,) = read_all(second, Solution)
    assert set(record.meta["provenance"]) == {"generate", "label"}
    assert collect([record.meta])["label"] == [
        {"method": "exact", "mathverify_version": __version__}
    ]


def test_resume_with_the_same_settings_skips_written_rows(tmp_path):
    path = tmp_path / "out.jsonl"
    stage = Provenance("generate", {"temperature": 0.7})
    with RecordWriter(path, Solution, provenance=stage) as writer:
        writer.write(_solution(0))
    with RecordWriter(path, Solution, resume=True, provenance=stage) as writer:
        assert writer.done("p0#0")
        writer.write(_solution(1))
    assert [r.problem_id for r in read_all(path, Solution)] == ["p0", "p1"]


@pytest.mark.parametrize(
    ("new", "field"),
    [({"temperature": 1.0, "seed": 0}, "temperature"), ({"temperature": 0.7, "seed": 5}, "seed")],
)
def test_resume_with_other_settings_is_refused_naming_the_field(tmp_path, new, field):
    path = tmp_path / "out.jsonl"
    with RecordWriter(
        path, Solution, provenance=Provenance("generate", {"temperature": 0.7, "seed": 0})
    ) as writer:
        writer.write(_solution(0))
    before = path.read_text()
    with pytest.raises(MathverifyError, match=rf"out.jsonl:1: .*'{field}'"):
        RecordWriter(path, Solution, resume=True, provenance=Provenance("generate", new))
    assert path.read_text() == before


def test_resume_of_a_file_without_settings_is_refused(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text(json.dumps(_solution(0).to_dict()) + "\n")
    with pytest.raises(MathverifyError, match="no generate settings"):
        RecordWriter(path, Solution, resume=True, provenance=Provenance("generate", {}))


def test_trees_carry_a_provenance_too(tmp_path):
    path = tmp_path / "trees.jsonl"
    with RecordWriter(path, Tree, provenance=Provenance("search", {"method": "mcts"})) as w:
        w.write(Tree(problem_id="p0", nodes=[]))
    (tree,) = read_all(path, Tree)
    assert stage_provenance(tree.meta, "search")["method"] == "mcts"
