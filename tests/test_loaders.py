"""Benchmark loaders (mathverify.data.loaders) and the `mathverify data` problem commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import require_data
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.data import loaders
from mathverify.errors import MathverifyError
from mathverify.records import Problem, read_all

FIXTURES = Path(__file__).parent / "fixtures"
runner = CliRunner()


def jsonl_rows(path: Path) -> list[dict]:
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------
# Field mapping, on the fixtures


def test_math500_maps_every_field():
    raw = jsonl_rows(FIXTURES / "math500_head3.jsonl")
    problems = loaders.load_math500(FIXTURES / "math500_head3.jsonl")
    assert [p.id for p in problems] == [r["unique_id"] for r in raw]
    for problem, row in zip(problems, raw, strict=True):
        assert problem.problem == row["problem"]
        assert problem.answer == row["answer"]
        assert problem.source == "math500"
        assert problem.meta == {
            "subject": row["subject"],
            "level": row["level"],
            "solution": row["solution"],
        }


def test_mario_ids_and_list_answers():
    raw = json.loads((FIXTURES / "mario_qaf_3.json").read_text(encoding="utf-8"))
    problems = loaders.load_mario(FIXTURES / "mario_qaf_3.json")
    assert [p.id for p in problems] == [f"mario-{r['index']}" for r in raw]
    for problem, row in zip(problems, raw, strict=True):
        assert problem.problem == row["question"]
        assert problem.meta["human_type"] == row["human_type"]
        if isinstance(row["answer"], list):
            # several acceptable answers: the first is `answer`, all are kept
            assert problem.answer == row["answer"][0]
            assert problem.meta["answers"] == row["answer"]
        else:
            assert problem.answer == row["answer"]
            assert "answers" not in problem.meta


def test_gsm8k_answer_after_hashes_without_commas(tmp_path):
    raw = jsonl_rows(FIXTURES / "gsm8k_test_head3.jsonl")
    problems = loaders.load_gsm8k("test", FIXTURES / "gsm8k_test_head3.jsonl")
    assert [p.id for p in problems] == [f"gsm8k-test-{i}" for i in range(len(raw))]
    for problem, row in zip(problems, raw, strict=True):
        assert problem.problem == row["question"]
        assert problem.meta == {"solution": row["answer"]}
        assert problem.answer == row["answer"].split("####")[-1].strip().replace(",", "")
    big = write_jsonl(tmp_path / "train.jsonl", [{"question": "q", "answer": "a\n#### 1,234"}])
    (problem,) = loaders.load_gsm8k("train", big)
    assert (problem.id, problem.answer) == ("gsm8k-train-0", "1234")


def test_gsm8k_row_index_ignores_blank_lines(tmp_path):
    path = tmp_path / "g.jsonl"
    rows = [json.dumps({"question": q, "answer": "#### 1"}) for q in ("a", "b")]
    path.write_text(f"{rows[0]}\n\n{rows[1]}\n", encoding="utf-8")
    assert [p.id for p in loaders.load_gsm8k("test", path)] == ["gsm8k-test-0", "gsm8k-test-1"]


def test_default_paths_come_from_the_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("MATHVERIFY_DATA", str(tmp_path))
    assert loaders.default_path("math500") == tmp_path / "math500" / "test.jsonl"
    assert loaders.default_path("gsm8k", "train") == tmp_path / "gsm8k" / "train.jsonl"
    target = tmp_path / "mario_eval"
    target.mkdir()
    (target / "math_testset_annotation.json").write_bytes(
        (FIXTURES / "mario_qaf_3.json").read_bytes()
    )
    assert len(loaders.load_mario()) == 3
    with pytest.raises(MathverifyError, match="no such file"):
        loaders.load_math500()


# --------------------------------------------------------------------------------------
# Bad input names file, line or item, and field

MATH500_ROW = {
    "problem": "p",
    "solution": "s",
    "answer": "1",
    "subject": "Algebra",
    "level": 2,
    "unique_id": "test/algebra/1.json",
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"answer": None}, r"t\.jsonl:2: field 'answer': expected str, got NoneType"),
        ({"level": True}, r"t\.jsonl:2: field 'level': expected int or str, got bool"),
        ({"level": "hard"}, r"t\.jsonl:2: field 'level': expected a level"),
        ({"unique_id": "test/algebra/0.json"}, r"t\.jsonl:2: field 'id': duplicate id"),
    ],
)
def test_math500_bad_row(tmp_path, change, message):
    first = {**MATH500_ROW, "unique_id": "test/algebra/0.json"}
    path = write_jsonl(tmp_path / "t.jsonl", [first, {**MATH500_ROW, **change}])
    with pytest.raises(MathverifyError, match=message):
        loaders.load_math500(path)


def test_math500_missing_field_and_level_text(tmp_path):
    row = {k: v for k, v in MATH500_ROW.items() if k != "subject"}
    with pytest.raises(MathverifyError, match=r":1: field 'subject': missing"):
        loaders.load_math500(write_jsonl(tmp_path / "a.jsonl", [row]))
    (problem,) = loaders.load_math500(
        write_jsonl(tmp_path / "b.jsonl", [{**MATH500_ROW, "level": "Level 4"}])
    )
    assert problem.meta["level"] == 4


def test_bad_json_line_is_named(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(MATH500_ROW) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(MathverifyError, match=r"t\.jsonl:2: invalid JSON"):
        loaders.load_math500(path)


def test_mario_bad_item_is_named_by_index(tmp_path):
    rows = [
        {"index": 1, "question": "q", "answer": "1", "human_type": "Real"},
        {"index": 2, "question": "q", "human_type": "Real"},
    ]
    path = tmp_path / "m.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    with pytest.raises(MathverifyError, match=r"m\.json item 1: field 'answer': missing"):
        loaders.load_mario(path)
    path.write_text(json.dumps({"index": 1}), encoding="utf-8")
    with pytest.raises(MathverifyError, match="expected a JSON array"):
        loaders.load_mario(path)
    path.write_text("[1,\n 2,", encoding="utf-8")
    with pytest.raises(MathverifyError, match=r"m\.json:2: invalid JSON"):
        loaders.load_mario(path)
    rows[1] = {"index": 2, "question": "q", "answer": [], "human_type": "Real"}
    path.write_text(json.dumps(rows), encoding="utf-8")
    with pytest.raises(MathverifyError, match=r"item 1: field 'answer': expected a non-empty list"):
        loaders.load_mario(path)


def test_gsm8k_without_final_answer(tmp_path):
    path = write_jsonl(tmp_path / "g.jsonl", [{"question": "q", "answer": "no marker"}])
    with pytest.raises(MathverifyError, match=r"g\.jsonl:1: field 'answer': no final answer"):
        loaders.load_gsm8k("test", path)
    with pytest.raises(MathverifyError, match="split 'dev'"):
        loaders.load_gsm8k("dev", path)


# --------------------------------------------------------------------------------------
# Hub: the mapping on an in-memory Dataset, and a clear error offline


def test_hub_mapping_matches_the_local_loaders():
    from datasets import Dataset

    math_rows = jsonl_rows(FIXTURES / "math500_head3.jsonl")
    from_hub = loaders.problems_from_dataset(
        Dataset.from_list(math_rows), name="HuggingFaceH4/MATH-500", split="test"
    )
    assert from_hub == loaders.load_math500(FIXTURES / "math500_head3.jsonl")

    gsm_rows = jsonl_rows(FIXTURES / "gsm8k_test_head3.jsonl")
    from_hub = loaders.problems_from_dataset(
        Dataset.from_list(gsm_rows), name="openai/gsm8k", split="test"
    )
    assert from_hub == loaders.load_gsm8k("test", FIXTURES / "gsm8k_test_head3.jsonl")


def test_hub_format_from_columns_or_error():
    from datasets import Dataset

    rows = [{"index": 5, "question": "q", "answer": "2", "human_type": "Real"}]
    (problem,) = loaders.problems_from_dataset(
        Dataset.from_list(rows), name="someone/mario-copy", split="test"
    )
    assert problem.id == "mario-5"
    with pytest.raises(MathverifyError, match="cannot tell the format from columns text"):
        loaders.problems_from_dataset(
            Dataset.from_list([{"text": "x"}]), name="someone/other", split="train"
        )
    bad = Dataset.from_list([{"question": "q", "answer": "no marker"}])
    with pytest.raises(MathverifyError, match=r"openai/gsm8k \[test\] row 0: field 'answer'"):
        loaders.problems_from_dataset(bad, name="openai/gsm8k", split="test")


def test_hub_offline_is_a_clear_error(monkeypatch):
    import datasets
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # Both libraries read the variable at import time; set their copies too.
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(MathverifyError, match=r"cannot load 'HuggingFaceH4/MATH-500' split 'test'"):
        loaders.load_hub("HuggingFaceH4/MATH-500", "test")
    result = runner.invoke(app, ["data", "hub", "openai/gsm8k", "--split", "test", "-o", "-"])
    assert result.exit_code == 2
    assert "error: cannot load 'openai/gsm8k'" in result.stderr
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------------------------
# The real files, when present


def test_real_files_load_with_distinct_ids():
    math500 = loaders.load_math500(require_data("math500", "test.jsonl"))
    mario = loaders.load_mario(require_data("mario_eval", "math_testset_annotation.json"))
    gsm_test = loaders.load_gsm8k("test", require_data("gsm8k", "test.jsonl"))
    for problems, path in [
        (math500, require_data("math500", "test.jsonl")),
        (gsm_test, require_data("gsm8k", "test.jsonl")),
    ]:
        assert len(problems) == len(jsonl_rows(path))
    raw_mario = json.loads(
        require_data("mario_eval", "math_testset_annotation.json").read_text(encoding="utf-8")
    )
    assert len(mario) == len(raw_mario)
    for problems in (math500, mario, gsm_test):
        assert len({p.id for p in problems}) == len(problems)
    # SOURCES.md: every MATH500 problem appears verbatim in MARIO_EVAL's MATH test set.
    mario_text = {p.problem for p in mario}
    assert all(p.problem in mario_text for p in math500)
    assert all(p.answer and p.answer.lstrip("-").replace(".", "").isdigit() for p in gsm_test)


# --------------------------------------------------------------------------------------
# CLI


def test_cli_math500_writes_records_and_summary(tmp_path):
    out = tmp_path / "m.jsonl"
    result = runner.invoke(
        app, ["data", "math500", "--input", str(FIXTURES / "math500_head3.jsonl"), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert read_all(out, Problem) == loaders.load_math500(FIXTURES / "math500_head3.jsonl")
    assert f"data math500: wrote 3 problems to {out}" in result.stderr


def test_cli_shards_partition_the_problems(tmp_path):
    path = FIXTURES / "gsm8k_test_head3.jsonl"
    ids: list[str] = []
    for i in range(2):
        out = tmp_path / f"s{i}.jsonl"
        result = runner.invoke(
            app,
            [
                "data",
                "gsm8k",
                "--split",
                "test",
                "--input",
                str(path),
                "--shard",
                f"{i}/2",
                "-o",
                str(out),
            ],
        )
        assert result.exit_code == 0, result.output
        shard_ids = [p.id for p in read_all(out, Problem)]
        assert f"wrote {len(shard_ids)} problems" in result.stderr
        assert f"skipped {3 - len(shard_ids)} in other shards" in result.stderr
        ids += shard_ids
    assert sorted(ids) == sorted(p.id for p in loaders.load_gsm8k("test", path))


def test_cli_mario_to_stdout():
    result = runner.invoke(
        app, ["data", "mario", "--input", str(FIXTURES / "mario_qaf_3.json"), "-o", "-"]
    )
    assert result.exit_code == 0, result.output
    ids = [json.loads(line)["id"] for line in result.stdout.splitlines()]
    assert ids == [p.id for p in loaders.load_mario(FIXTURES / "mario_qaf_3.json")]


def test_cli_bad_input_is_one_line(tmp_path):
    path = write_jsonl(tmp_path / "g.jsonl", [{"question": "q"}])
    result = runner.invoke(app, ["data", "gsm8k", "--input", str(path), "-o", "-"])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {path}:1: field 'answer': missing"
    result = runner.invoke(app, ["data", "gsm8k", "--shard", "3/2", "--input", str(path)])
    assert result.exit_code == 2
    assert "--shard" in result.stderr
