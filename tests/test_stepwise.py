"""``data stepwise`` and ``data export-stepwise``: the hub's stepwise-supervision layout
(``prompt``, ``completions``, ``labels``) of trl-lib/math_shepherd, trl-lib/prm800k and TRL's
PRM code, read into labeled solutions and written back, on rows made here (no network: the
hub path runs on an in-memory ``datasets.Dataset``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.data import stepwise
from mathverify.errors import MathverifyError
from mathverify.labeling import stepwise_export
from mathverify.records import Problem, Solution, read_all

runner = CliRunner()

ROWS = [
    {
        "prompt": "Compute 2+3*4.",
        "completions": ["3*4 = 12", "2+12 = 14", "The answer is \\boxed{14}"],
        "labels": [True, True, True],
    },
    {"prompt": "Compute 2+3*4.", "completions": ["2+3 = 5", "5*4 = 20"], "labels": [False, False]},
    {
        "prompt": "Is 7.5 larger than 7.25?",
        "completions": ["0.5 is less than 0.25.", "So 7.25 is larger: \\boxed{no}"],
        "labels": [False, False],
    },
    {"prompt": "Größer: 3 oder 5?", "completions": ["5 > 3, also 5."], "labels": [True]},
]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def read_jsonl(path: Path) -> list[Any]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def invoke(*args: object) -> Any:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


# --------------------------------------------------------------------------------------
# Round trips


def test_rows_round_trip_through_records_as_jsonl(tmp_path: Path) -> None:
    rows = write_jsonl(tmp_path / "rows.jsonl", ROWS)
    labeled, problems, back = tmp_path / "labeled.jsonl", tmp_path / "p.jsonl", tmp_path / "b.jsonl"
    read = invoke("data", "stepwise", "-i", rows, "-o", labeled, "--problems-out", problems)
    assert "read 4 rows, wrote 4 solutions" in read.stderr and "3 problems" in read.stderr
    written = invoke("data", "export-stepwise", "-i", labeled, "-p", problems, "-o", back)
    assert "wrote 4 rows" in written.stderr
    assert read_jsonl(back) == ROWS


def test_rows_round_trip_through_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    source = tmp_path / "train-00000-of-00001.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), source)
    labeled, problems, back = tmp_path / "l.jsonl", tmp_path / "p.jsonl", tmp_path / "b.parquet"
    invoke("data", "stepwise", "-i", source, "-o", labeled, "--problems-out", problems)
    invoke("data", "export-stepwise", "-i", labeled, "-p", problems, "-o", back)
    table = pq.read_table(back)
    assert table.column_names == ["prompt", "completions", "labels"]
    assert str(table.schema.field("labels").type) == "list<element: bool>"
    assert table.to_pylist() == ROWS
    # Parquet rows are numbered from 1, as JSONL lines are.
    assert [s.sample_id for s in read_all(labeled, Solution)] == [1, 2, 3, 4]


def test_records_round_trip_through_rows(tmp_path: Path) -> None:
    """Our labeled solutions -> rows -> solutions: steps, labels and problem text survive
    (ids do not: the layout has none, so the problem id is a hash of the prompt)."""
    problems = write_jsonl(
        tmp_path / "problems.jsonl",
        [{"id": "a", "problem": "Compute 1+2*3."}, {"id": "b", "problem": "Compute 9-4."}],
    )
    solutions = [
        {"problem_id": "a", "sample_id": 0, "steps": ["= 1+6", "= 7"], "step_labels": [1, 1]},
        {"problem_id": "a", "sample_id": 1, "steps": ["= 3*3", "= 9"], "step_labels": [0, 0]},
        {"problem_id": "b", "sample_id": 0, "steps": ["= 5"], "step_labels": [1]},
    ]
    labeled = write_jsonl(
        tmp_path / "labeled.jsonl", [{**s, "label_source": "exact"} for s in solutions]
    )
    rows, again, again_problems = (
        tmp_path / "rows.jsonl",
        tmp_path / "x.jsonl",
        tmp_path / "y.jsonl",
    )
    invoke("data", "export-stepwise", "-i", labeled, "-p", problems, "-o", rows)
    invoke("data", "stepwise", "-i", rows, "-o", again, "--problems-out", again_problems)
    back = read_all(again, Solution)
    assert [(s.steps, s.step_labels) for s in back] == [
        (s["steps"], s["step_labels"]) for s in solutions
    ]
    texts = {p.id: p.problem for p in read_all(again_problems, Problem)}
    assert [texts[s.problem_id] for s in back] == ["Compute 1+2*3."] * 2 + ["Compute 9-4."]
    assert back[0].problem_id == back[1].problem_id != back[2].problem_id


# --------------------------------------------------------------------------------------
# Reading: what a row becomes


@pytest.mark.parametrize(
    ("labels", "step_labels", "label_source", "first_wrong_step"),
    [
        ([True, True], [1, 1], "stepwise", None),
        ([True, False], [1, 0], "stepwise", 1),
        ([1, 0], [1, 0], "stepwise", 1),  # numbers 1/0 are hard labels too
        ([1.0, 0.0], [1, 0], "stepwise", 1),
        ([0.75, 0.0], [0.75, 0], "stepwise-soft", None),  # soft: a fraction of rollouts
    ],
)
def test_a_row_becomes_a_labeled_solution(labels, step_labels, label_source, first_wrong_step):
    row = {"prompt": "Compute 1+1.", "completions": ["= 2", "\\boxed{2}"], "labels": labels}
    item = stepwise.stepwise_row(row, where="f.jsonl:3", sample_id=3)
    solution = item.solution
    assert solution.step_labels == step_labels and solution.label_source == label_source
    assert solution.first_wrong_step == first_wrong_step
    assert (solution.sample_id, solution.answer, solution.outcome) == (3, "2", None)
    assert solution.steps == ["= 2", "\\boxed{2}"] and solution.text == "= 2\n\n\\boxed{2}"
    assert item.problem.id == solution.problem_id and item.problem.problem == "Compute 1+1."
    assert solution.problem_id.startswith("stepwise-")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ([1, 2], "rows.jsonl:2: expected a JSON object, got list"),
        ({"completions": ["a"], "labels": [True]}, "rows.jsonl:2: field 'prompt': missing"),
        ({"prompt": 5, "completions": ["a"], "labels": [True]}, "field 'prompt': expected str"),
        ({"prompt": " ", "completions": ["a"], "labels": [True]}, "field 'prompt': empty"),
        ({"prompt": "q", "completions": "a", "labels": [True]}, "field 'completions': expected list"),
        ({"prompt": "q", "completions": [], "labels": []}, "field 'completions': no steps"),
        ({"prompt": "q", "completions": ["a", 3], "labels": [True, True]}, "field 'completions[1]': expected a string, got int"),
        ({"prompt": "q", "completions": ["a"], "label": [True]}, "field 'labels': missing"),
        ({"prompt": "q", "completions": ["a", "b"], "labels": [True]}, "field 'labels': 1 labels for 2 completions"),
        ({"prompt": "q", "completions": ["a"], "labels": ["+"]}, "field 'labels[0]': expected true/false or a number in [0, 1], got '+'"),
        ({"prompt": "q", "completions": ["a"], "labels": [2]}, "field 'labels[0]'"),
        ({"prompt": "q", "completions": ["a"], "labels": [None]}, "field 'labels[0]'"),
    ],
)  # fmt: skip
def test_a_bad_row_names_the_file_line_and_field(tmp_path: Path, row, message) -> None:
    rows = write_jsonl(tmp_path / "rows.jsonl", [ROWS[0], row, ROWS[1]])
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["data", "stepwise", "-i", str(rows), "-o", str(out)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert "rows.jsonl:2" in lines[0]
    # --skip-bad writes the good rows and counts the bad one, with its message.
    skipped = runner.invoke(
        app, ["data", "stepwise", "-i", str(rows), "-o", str(out), "--skip-bad"]
    )
    assert skipped.exit_code == 0, skipped.output
    said = skipped.stderr.replace(f"{tmp_path}/", "")
    assert "skipped 1 (1 bad); first bad row: rows.jsonl:2" in said
    assert [s.sample_id for s in read_all(out, Solution)] == [1, 3]


def test_a_line_that_is_not_json_names_the_line(tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps(ROWS[0]) + "\n\n{not json\n")
    result = runner.invoke(app, ["data", "stepwise", "-i", str(rows), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and "rows.jsonl:3: invalid JSON" in result.output


def test_parquet_without_the_layouts_columns_is_refused(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    source = tmp_path / "other.parquet"
    pq.write_table(pa.Table.from_pylist([{"prompt": "q", "steps": ["a"]}]), source)
    with pytest.raises(MathverifyError, match="other.parquet: no column completions, labels"):
        stepwise.convert_stepwise(str(source))
    not_parquet = write_jsonl(tmp_path / "rows.parquet", ROWS)
    with pytest.raises(MathverifyError, match="rows.parquet: cannot read as parquet"):
        stepwise.convert_stepwise(str(not_parquet))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("missing.jsonl", "missing.jsonl: no such file, and not a hub dataset name"),
        (".", ".: not a file"),
    ],
)
def test_a_source_that_is_neither_file_nor_hub_name(tmp_path, monkeypatch, source, message):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["data", "stepwise", "-i", source, "-o", str(out)])
    assert result.exit_code == 2 and message in result.output
    assert not out.exists()  # the input is checked before any output is opened


def test_split_is_for_a_hub_dataset(tmp_path: Path) -> None:
    rows = write_jsonl(tmp_path / "rows.jsonl", ROWS)
    result = runner.invoke(app, ["data", "stepwise", "-i", str(rows), "--split", "test"])
    assert result.exit_code == 2 and "--split applies to a hub dataset" in result.output


def test_hub_names_are_owner_slash_name_that_are_no_local_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert stepwise.is_hub_name("trl-lib/math_shepherd")
    assert not stepwise.is_hub_name("data/rows.jsonl")
    assert not stepwise.is_hub_name("rows.jsonl") and not stepwise.is_hub_name("./a/b")
    (tmp_path / "trl-lib").mkdir()
    (tmp_path / "trl-lib" / "prm800k").write_text("")
    assert not stepwise.is_hub_name("trl-lib/prm800k")


def test_a_hub_dataset_loads_through_datasets(tmp_path, monkeypatch) -> None:
    datasets = pytest.importorskip("datasets")
    calls = []

    def load_dataset(name: str, split: str) -> Any:
        calls.append((name, split))
        return datasets.Dataset.from_list(ROWS if split == "test" else [{"prompt": "q"}])

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    out = tmp_path / "out.jsonl"
    invoke("data", "stepwise", "-i", "trl-lib/prm800k", "--split", "test", "-o", out)
    solutions = read_all(out, Solution)
    assert calls == [("trl-lib/prm800k", "test")]
    assert [s.steps for s in solutions] == [r["completions"] for r in ROWS]
    provenance = solutions[0].meta["provenance"]["data"]
    assert (provenance["hub"], provenance["split"]) == ("trl-lib/prm800k", "test")
    # The default split is train; a set without the layout's columns is refused by name.
    result = runner.invoke(app, ["data", "stepwise", "-i", "trl-lib/prm800k", "-o", str(out)])
    assert calls[-1] == ("trl-lib/prm800k", "train")
    assert result.exit_code == 2
    assert "trl-lib/prm800k [train]: no column completions, labels" in result.output


# --------------------------------------------------------------------------------------
# Writing: labels become booleans


@pytest.mark.parametrize(
    ("labels", "scheme", "options", "expected"),
    [
        ([1, 1, 0], "hard", {}, [True, True, False]),
        ([1, 0, None], "hard", {}, [True, False]),  # the layout labels every step it lists
        ([None, 1], "hard", {}, []),
        ([1, 0, -1], "prm800k", {}, [True, True, False]),  # neutral counts as right
        ([1, 0, -1], "prm800k", {"neutral": "negative"}, [True, False, False]),  # as TRL's script
        ([1, 0, -1], "prm800k", {"neutral": "ignore"}, [True]),
        ([1.0, 0.5, 0.25], "soft", {"threshold": 0.5}, [True, True, False]),
        ([1.0, 0.5, 0.25], "soft", {"threshold": 0.2}, [True, True, True]),
        ([1, 0], "hard", {"threshold": 0.9}, [True, False]),
    ],
)
def test_step_labels_become_booleans(labels, scheme, options, expected) -> None:
    assert stepwise_export.stepwise_labels(labels, scheme, **options) == expected


@pytest.mark.parametrize(
    ("labels", "scheme", "options", "message"),
    [
        ([0.5], "soft", {}, "soft labels: give --threshold T"),
        ([1], "hard", {"threshold": 0.0}, r"--threshold must be in \(0, 1\]"),
        ([2], "hard", {}, "hard label must be 0 or 1"),
    ],
)
def test_labels_that_give_no_boolean_are_refused(labels, scheme, options, message) -> None:
    with pytest.raises(MathverifyError, match=message):
        stepwise_export.stepwise_labels(labels, scheme, **options)


def _export(tmp_path: Path, solutions: list[dict], *options: str) -> Any:
    problems = write_jsonl(tmp_path / "problems.jsonl", [{"id": "a", "problem": "Compute 1+1."}])
    labeled = write_jsonl(tmp_path / "labeled.jsonl", solutions)
    out = tmp_path / "rows.jsonl"
    args = ["data", "export-stepwise", "-i", labeled, "-p", problems, "-o", out, *options]
    return runner.invoke(app, [str(a) for a in args]), out


def _solution(**fields: Any) -> dict[str, Any]:
    return {"problem_id": "a", "sample_id": 0, "steps": ["= 2", "\\boxed{2}"], **fields}


def test_export_reads_the_scheme_from_label_source(tmp_path: Path) -> None:
    result, out = _export(
        tmp_path,
        [
            _solution(step_labels=[1, 0], label_source="prm800k"),
            _solution(sample_id=1, step_labels=[0.8, 0.3], label_source="rollout-soft-k8"),
        ],
        "--threshold", "0.5",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert [r["labels"] for r in read_jsonl(out)] == [[True, True], [True, False]]


def test_export_counts_rows_cut_and_skipped(tmp_path: Path) -> None:
    result, out = _export(
        tmp_path,
        [
            _solution(step_labels=[1, None], label_source="processbench"),
            _solution(sample_id=1, step_labels=[None, None], label_source="processbench"),
            _solution(sample_id=2, step_labels=[1, 1]),
        ],
    )
    assert result.exit_code == 0, result.output
    assert [r["completions"] for r in read_jsonl(out)] == [["= 2"], ["= 2", "\\boxed{2}"]]
    assert (
        "read 3 solutions, wrote 2 rows to " in result.stderr
        and "skipped 1 (1 with no labeled first step); 1 rows end before an unlabeled step"
        in result.stderr
    )


@pytest.mark.parametrize(
    ("solution", "options", "message"),
    [
        (_solution(), (), "labeled.jsonl:2: field 'step_labels': missing (label the steps first)"),
        (_solution(problem_id="z", step_labels=[1, 1]), (), "labeled.jsonl:2: field 'problem_id': 'z' not in"),
        (_solution(step_labels=[0.5, 1.0], label_source="mcts"), (), "labeled.jsonl:2: field 'step_labels': soft labels: give --threshold"),
        (_solution(step_labels=[1, 1], label_source="mine"), (), "labeled.jsonl:2: field 'label_source': label source 'mine' has no known scheme"),
        (_solution(step_labels=[1, 1], label_source="mine"), ("--label-scheme", "wrong"), "--label-scheme 'wrong': choose auto or one of"),
        (_solution(step_labels=[-1, 1]), (), "labeled.jsonl:2: field 'step_labels': step 0: hard label must be 0 or 1"),
    ],
)  # fmt: skip
def test_export_errors_name_the_line_and_field(tmp_path, solution, options, message) -> None:
    good = _solution(step_labels=[1, 1])
    result, out = _export(tmp_path, [good, solution], *options)
    assert result.exit_code == 2
    lines = result.output.replace(f"{tmp_path}/", "").strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), lines
    assert not out.exists()  # nothing half-written
    if "--label-scheme" not in options:
        skipped, out = _export(tmp_path, [good, solution], *options, "--skip-bad")
        assert skipped.exit_code == 0, skipped.output
        said = skipped.stderr.replace(f"{tmp_path}/", "")
        assert "skipped 1 (1 bad); first bad row: labeled.jsonl:2" in said
        assert len(read_jsonl(out)) == 1


def test_export_with_a_label_scheme_reads_unknown_sources(tmp_path: Path) -> None:
    result, out = _export(
        tmp_path,
        [_solution(step_labels=[1, 0], label_source="mine")],
        "--label-scheme", "hard",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert read_jsonl(out) == [
        {"prompt": "Compute 1+1.", "completions": ["= 2", "\\boxed{2}"], "labels": [True, False]}
    ]
