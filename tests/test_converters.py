"""Converters of PRM800K, Math-Shepherd and ProcessBench (mathverify.data.converters).

Expected labels are derived here from the raw JSON by simpler means than the converters
use (text lookups, line splits, list arithmetic), then compared step by step.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import require_data
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.data import converters
from mathverify.errors import MathverifyError
from mathverify.labeling import schemes
from mathverify.records import Problem, Solution, read_all, read_problems_by_id

FIXTURES = Path(__file__).parent / "fixtures"
PRM800K_FIXTURE = FIXTURES / "prm800k_openr_samples.jsonl"
SHEPHERD_FIXTURE = FIXTURES / "math_shepherd_format.jsonl"
PROCESSBENCH_FIXTURE = FIXTURES / "processbench_format.json"
runner = CliRunner()


def jsonl_rows(path: Path) -> list[dict]:
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


# --------------------------------------------------------------------------------------
# PRM800K


def expected_prm800k(row: dict) -> tuple[list[str], list[int]]:
    """The labeled trajectory as the PRM800K README reconstructs it, rating looked up by text."""
    texts: list[str] = []
    ratings: list[int] = []
    for k, step in enumerate(row["label"]["steps"]):
        rating_of = {c["text"]: c["rating"] for c in step["completions"] or []}
        if step["chosen_completion"] is not None:
            text = step["completions"][step["chosen_completion"]]["text"]
            texts.append(text)
            ratings.append(rating_of[text])
        elif step["human_completion"] is not None:
            texts.append(step["human_completion"]["text"])
            ratings.append(1)  # a human-written step is a +1 step by definition
        else:
            pre = row["question"].get("pre_generated_steps") or []
            if row["generation"] is not None and k < len(pre) and pre[k] in rating_of:
                texts.append(pre[k])
                ratings.append(rating_of[pre[k]])
            break
    return texts, ratings


def prm800k_rows(path: Path) -> list[dict]:
    return jsonl_rows(path)


@pytest.mark.parametrize("source", ["fixture", "shared"])
def test_prm800k_every_row_converts_step_by_step(source):
    path = PRM800K_FIXTURE
    if source == "shared":
        path = require_data("prm800k_samples", "samples_prm800k.jsonl")
    rows = prm800k_rows(path)
    stats = converters.ConvertStats()
    converted = list(converters.convert_prm800k(path, keep_quality_control=True, stats=stats))
    assert len(converted) == len(rows) == stats.rows == stats.converted
    for line, (row, item) in enumerate(zip(rows, converted, strict=True), start=1):
        solution = item.solution
        texts, ratings = expected_prm800k(row)
        assert solution.steps == texts, f"line {line}"
        assert solution.step_labels == ratings, f"line {line}"
        assert solution.label_source == "prm800k"
        assert solution.sample_id == line
        wrong = [i for i, r in enumerate(ratings) if r == -1]
        assert solution.first_wrong_step == (wrong[0] if wrong else None)
        assert solution.outcome is (True if row["label"]["finish_reason"] == "solution" else None)
        assert solution.meta["finish_reason"] == row["label"]["finish_reason"]
        assert solution.meta["phase"] == (1 if row["generation"] is None else 2)
        if row["generation"] is not None:
            # phase 2 labels the pre-generated solution: its steps, in order
            pre = row["question"]["pre_generated_steps"]
            assert solution.steps == pre[: len(solution.steps)]
        assert item.problem.problem == row["question"]["problem"]
        assert item.problem.answer == row["question"]["ground_truth_answer"]
        assert item.problem.id == solution.problem_id
        Solution.from_dict(json.loads(solution.to_json()))  # a valid record


def test_prm800k_samples_cover_the_hard_cases():
    # The fixture must keep exercising a human completion, a phase-2 stop at an error,
    # and a trailing all-null step; otherwise the test above would prove less.
    rows = prm800k_rows(PRM800K_FIXTURE)
    steps = [s for row in rows for s in row["label"]["steps"]]
    assert any(s["human_completion"] is not None and s["chosen_completion"] is None for s in steps)
    assert any(s["completions"] is None for s in steps)
    assert any(
        row["generation"] is not None and row["label"]["finish_reason"] == "found_error"
        for row in rows
    )
    converted = list(converters.convert_prm800k(PRM800K_FIXTURE))
    found_error = [
        c.solution for c in converted if c.solution.meta["finish_reason"] == "found_error"
    ]
    assert found_error and all(s.step_labels[-1] == -1 for s in found_error)
    human = [c.solution for c in converted if c.solution.meta["human_steps"]]
    assert human and all(s.step_labels[i] == 1 for s in human for i in s.meta["human_steps"])


def test_prm800k_answer_from_answer_section():
    converted = converters.convert_prm800k(PRM800K_FIXTURE)
    for item in converted:
        last = item.solution.steps[-1]
        if "# Answer" in last:
            assert item.solution.answer == last.split("# Answer")[-1].strip()


def prm800k_row(**changes) -> dict:
    row = prm800k_rows(PRM800K_FIXTURE)[0]
    row.update(changes)
    return row


def write_rows(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_prm800k_quality_control_rows_skipped_unless_kept(tmp_path):
    rows = [prm800k_row(), prm800k_row(is_quality_control_question=True)]
    path = write_rows(tmp_path / "p.jsonl", rows)
    stats = converters.ConvertStats()
    assert [c.solution.sample_id for c in converters.convert_prm800k(path, stats=stats)] == [1]
    assert (stats.rows, stats.converted, stats.skipped_quality_control) == (2, 1, 1)
    kept = list(converters.convert_prm800k(path, keep_quality_control=True))
    assert [c.solution.sample_id for c in kept] == [1, 2]
    assert kept[1].solution.meta["is_quality_control_question"] is True


def test_prm800k_null_rating_stays_unknown(tmp_path):
    row = prm800k_row()
    first = row["label"]["steps"][0]
    first["completions"][first["chosen_completion"]]["rating"] = None
    (item,) = converters.convert_prm800k(write_rows(tmp_path / "p.jsonl", [row]))
    assert item.solution.step_labels[0] is None


def test_prm800k_labeler_stopping_at_first_step_gives_no_solution(tmp_path):
    row = prm800k_row()
    row["label"]["steps"] = [
        {"completions": None, "human_completion": None, "chosen_completion": None}
    ]
    stats = converters.ConvertStats()
    assert (
        list(converters.convert_prm800k(write_rows(tmp_path / "p.jsonl", [row]), stats=stats)) == []
    )
    assert stats.skipped_empty == 1


def _set_rating(row: dict) -> dict:
    step = row["label"]["steps"][2]
    step["completions"][step["chosen_completion"]]["rating"] = 2
    return row


def _bad_chosen(row: dict) -> dict:
    row["label"]["steps"][0]["chosen_completion"] = 9
    return row


def _no_problem(row: dict) -> dict:
    del row["question"]["problem"]
    return row


def _labeled_after_stop(row: dict) -> dict:
    row["label"]["steps"].insert(
        0, {"completions": None, "human_completion": None, "chosen_completion": None}
    )
    return row


@pytest.mark.parametrize(
    ("breaker", "message"),
    [
        (
            _set_rating,
            r"p\.jsonl:2: field 'label\.steps\[2\]\.completions\[0\]\.rating': rating must be",
        ),
        (_bad_chosen, r"p\.jsonl:2: field 'label\.steps\[0\]\.chosen_completion': index 9 but 1"),
        (_no_problem, r"p\.jsonl:2 question: field 'problem': missing"),
        (
            _labeled_after_stop,
            r"p\.jsonl:2: field 'label\.steps\[0\]': no completion chosen, yet step 1",
        ),
    ],
)
def test_prm800k_bad_row_named_or_skipped(tmp_path, breaker, message):
    rows = [prm800k_row(), breaker(prm800k_row()), prm800k_row()]
    path = write_rows(tmp_path / "p.jsonl", rows)
    with pytest.raises(MathverifyError, match=message):
        list(converters.convert_prm800k(path))
    stats = converters.ConvertStats()
    kept = list(converters.convert_prm800k(path, skip_bad=True, stats=stats))
    assert [c.solution.sample_id for c in kept] == [1, 3]
    assert stats.skipped_bad == 1
    assert re.search(message, stats.errors[0])


def test_prm800k_invalid_json_line_named_or_skipped(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(prm800k_row()) + "\n{oops\n", encoding="utf-8")
    with pytest.raises(MathverifyError, match=r"p\.jsonl:2: invalid JSON"):
        list(converters.convert_prm800k(path))
    stats = converters.ConvertStats()
    assert len(list(converters.convert_prm800k(path, skip_bad=True, stats=stats))) == 1
    assert stats.skipped_bad == 1


# --------------------------------------------------------------------------------------
# Math-Shepherd


def expected_shepherd(row: dict) -> tuple[str, list[str], list[int]]:
    """Question, step texts and labels from the line structure: one "Step k:" line per step."""
    chunks = re.split(r"\n(?=Step \d+:)", row["label"])
    labels = [1 if chunk.rstrip()[-1] == "+" else 0 for chunk in chunks]
    question, first = row["input"].split("Step 1:", 1)
    tagged = ["Step 1:" + first.split("\nStep 2:")[0]] + re.split(r"\n(?=Step \d+:)", row["input"])[
        1:
    ]
    steps = [re.sub(r"^Step \d+:", "", t).replace("ки", "").strip() for t in tagged]
    return question.strip(), steps, labels


@pytest.mark.parametrize("source", ["fixture", "shared"])
def test_math_shepherd_every_row_converts_step_by_step(source):
    path = SHEPHERD_FIXTURE
    if source == "shared":
        path = require_data("math_shepherd_samples", "samples_math-shepherd.jsonl")
    rows = jsonl_rows(path)
    converted = list(converters.convert_math_shepherd(path))
    assert len(converted) == len(rows)
    for line, (row, item) in enumerate(zip(rows, converted, strict=True), start=1):
        question, steps, labels = expected_shepherd(row)
        solution = item.solution
        assert row["input"].count("ки") == len(solution.steps)
        assert item.problem.problem == question
        assert solution.steps == steps, f"line {line}"
        assert solution.step_labels == labels, f"line {line}"
        assert solution.first_wrong_step == (labels.index(0) if 0 in labels else None)
        assert solution.outcome is (labels[-1] == 1)
        assert solution.label_source == "math-shepherd"
        assert solution.sample_id == line
        assert solution.meta["task"] == row["task"]
        assert solution.answer == row["input"].split("The answer is:")[-1].replace("ки", "").strip()


def test_math_shepherd_same_question_same_problem_id(tmp_path):
    row = jsonl_rows(SHEPHERD_FIXTURE)[1]
    path = write_rows(tmp_path / "m.jsonl", [row, row])
    first, second = converters.convert_math_shepherd(path)
    assert first.problem.id == second.problem.id
    assert (first.solution.key(), second.solution.key()) == (
        f"{first.problem.id}#1",
        f"{first.problem.id}#2",
    )


def _shepherd_row() -> dict:
    return jsonl_rows(SHEPHERD_FIXTURE)[1]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda r: r.update(label=r["label"].replace(" -\nStep 3", " ?\nStep 3")),
            "step 1: expected",
        ),
        (lambda r: r.update(label=r["label"][:-1]), "field 'label': length"),
        (lambda r: r.update(label=r["label"].replace("pen", "pan")), "text of step 0 differs"),
        (lambda r: r.update(input=r["input"].replace("ки", "")), "field 'input': no step tag"),
        (lambda r: r.update(input=r["input"] + " extra"), "text after the last step tag"),
        (
            lambda r: r.update(
                input=r["input"].replace("Step 1:", "Stage 1:"),
                label=r["label"].replace("Step 1:", "Stage 1:"),
            ),
            "no 'Step 1:'",
        ),
        (lambda r: r.pop("label"), "field 'label': missing"),
    ],
)
def test_math_shepherd_bad_row_named_or_skipped(tmp_path, change, message):
    bad = _shepherd_row()
    change(bad)
    path = write_rows(tmp_path / "m.jsonl", [_shepherd_row(), bad])
    with pytest.raises(MathverifyError, match=r"m\.jsonl:2: .*" + re.escape(message)):
        list(converters.convert_math_shepherd(path))
    stats = converters.ConvertStats()
    assert len(list(converters.convert_math_shepherd(path, skip_bad=True, stats=stats))) == 1
    assert stats.skipped_bad == 1


# --------------------------------------------------------------------------------------
# ProcessBench


def check_processbench(path: Path, split: str) -> int:
    rows = json.loads(path.read_text(encoding="utf-8"))
    converted = list(converters.convert_processbench(path))
    assert len(converted) == len(rows)
    for row, item in zip(rows, converted, strict=True):
        solution = item.solution
        n, wrong = len(row["steps"]), row["label"]
        expected = [1] * n if wrong == -1 else [1] * wrong + [0] + [None] * (n - wrong - 1)
        assert solution.step_labels == expected, row["id"]
        assert solution.first_wrong_step == (None if wrong == -1 else wrong)
        assert solution.steps == row["steps"]
        assert solution.outcome is row["final_answer_correct"]
        assert solution.label_source == "processbench"
        assert solution.meta == {"generator": row["generator"], "split": split}
        assert (solution.problem_id, solution.sample_id) == (row["id"], 0)
        assert item.problem == Problem(
            id=row["id"],
            problem=row["problem"],
            answer=None,
            source="processbench",
            meta={"split": split},
        )
    return len(converted)


def test_processbench_fixture():
    assert check_processbench(PROCESSBENCH_FIXTURE, "processbench_format") == 3


@pytest.mark.parametrize(
    ("split", "rows"), [("gsm8k", 400), ("math", 1000), ("olympiadbench", 1000), ("omnimath", 1000)]
)
def test_processbench_real_splits(split, rows):
    path = require_data("processbench", f"{split}.json")
    assert check_processbench(path, split) == rows


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"label": 3}, "field 'label': 3 is not -1 or a step index below 3"),
        ({"label": -2}, "field 'label': -2 is not"),
        ({"label": True}, "field 'label': expected int, got bool"),
        ({"steps": []}, "field 'steps': expected a non-empty list"),
        ({"steps": ["a", 2]}, "field 'steps': expected a non-empty list of strings"),
        ({"final_answer_correct": "yes"}, "field 'final_answer_correct': expected bool"),
        ({"id": "fixture-0"}, "field 'id': duplicate id"),
    ],
)
def test_processbench_bad_row_named_or_skipped(tmp_path, change, message):
    rows = json.loads(PROCESSBENCH_FIXTURE.read_text(encoding="utf-8"))
    rows[1].update(change)
    path = tmp_path / "pb.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    with pytest.raises(MathverifyError, match=r"pb\.json item 1: " + re.escape(message)):
        list(converters.convert_processbench(path))
    stats = converters.ConvertStats()
    kept = list(converters.convert_processbench(path, skip_bad=True, stats=stats))
    assert [c.problem.id for c in kept] == ["fixture-0", "fixture-2"]
    assert (stats.rows, stats.converted, stats.skipped_bad) == (3, 2, 1)


# --------------------------------------------------------------------------------------
# CLI


def test_cli_processbench_writes_solutions_and_problems(tmp_path, monkeypatch):
    monkeypatch.setenv("MATHVERIFY_DATA", str(tmp_path))
    (tmp_path / "processbench").mkdir()
    (tmp_path / "processbench" / "math.json").write_bytes(PROCESSBENCH_FIXTURE.read_bytes())
    out, problems = tmp_path / "s.jsonl", tmp_path / "p.jsonl"
    result = runner.invoke(
        app,
        [
            "data",
            "processbench",
            "--split",
            "math",
            "-o",
            str(out),
            "--problems-out",
            str(problems),
        ],
    )
    assert result.exit_code == 0, result.output
    solutions = read_all(out, Solution)
    assert [s.first_wrong_step for s in solutions] == [None, 1, 0]
    assert all(s.meta["split"] == "math" for s in solutions)
    assert sorted(read_problems_by_id(problems)) == ["fixture-0", "fixture-1", "fixture-2"]
    assert "data processbench: read 3 rows, wrote 3 solutions" in result.stderr
    assert "and 3 problems" in result.stderr

    result = runner.invoke(app, ["data", "processbench", "--split", "aime", "-o", str(out)])
    assert result.exit_code == 2
    assert "--split 'aime'" in result.stderr


def test_cli_prm800k_skip_bad_counts_in_summary(tmp_path):
    rows = [
        prm800k_row(),
        _bad_chosen(prm800k_row()),
        prm800k_row(is_quality_control_question=True),
    ]
    path = write_rows(tmp_path / "p.jsonl", rows)
    out = tmp_path / "s.jsonl"
    result = runner.invoke(app, ["data", "prm800k", "--input", str(path), "-o", str(out)])
    assert result.exit_code == 2
    assert "p.jsonl:2: field 'label.steps[0].chosen_completion'" in result.stderr
    result = runner.invoke(
        app, ["data", "prm800k", "--input", str(path), "-o", str(out), "--skip-bad"]
    )
    assert result.exit_code == 0, result.output
    assert [s.sample_id for s in read_all(out, Solution)] == [1]
    summary = result.stderr.strip()
    assert "\n" not in summary
    assert "read 3 rows, wrote 1 solutions" in summary
    assert "skipped 2 (1 bad, 1 quality-control)" in summary
    assert "first bad row:" in summary


def test_cli_math_shepherd_stdin_to_stdout_and_resume(tmp_path):
    text = SHEPHERD_FIXTURE.read_text(encoding="utf-8")
    result = runner.invoke(app, ["data", "math-shepherd", "--input", "-", "-o", "-"], input=text)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [json.loads(line)["step_labels"] for line in lines] == [
        expected_shepherd(row)[2] for row in jsonl_rows(SHEPHERD_FIXTURE)
    ]
    # a killed run left two rows; --resume writes only the rest
    out = tmp_path / "s.jsonl"
    out.write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")
    args = ["data", "math-shepherd", "--input", str(SHEPHERD_FIXTURE), "-o", str(out), "--resume"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").splitlines() == lines
    assert "skipped 2 (2 already written)" in result.stderr


# --------------------------------------------------------------------------------------
# Label schemes (mathverify.labeling.schemes)

TARGET_CASES = [
    # (labels, scheme, neutral, targets)
    ([1, 0, None], "hard", "positive", [1.0, 0.0, None]),
    ([1.0, 1, 0.0], "hard", "negative", [1.0, 1.0, 0.0]),
    ([0.25, 1, 0, None], "soft", "positive", [0.25, 1.0, 0.0, None]),
    ([1, 0, -1], "prm800k", "positive", [1.0, 1.0, 0.0]),
    ([1, 0, -1], "prm800k", "negative", [1.0, 0.0, 0.0]),
    ([1, 0, -1, None], "prm800k", "ignore", [1.0, None, 0.0, None]),
    ([], "prm800k", "positive", []),
]


@pytest.mark.parametrize(("labels", "scheme", "neutral", "targets"), TARGET_CASES)
def test_to_training_targets(labels, scheme, neutral, targets):
    assert schemes.to_training_targets(labels, scheme, neutral=neutral) == targets


def test_neutral_counts_as_positive_by_default():
    assert schemes.to_training_targets([0], "prm800k") == [1.0]
    assert schemes.first_wrong_step([1, 0, 1], "prm800k") is None


FIRST_WRONG_CASES = [
    # (labels, scheme, options, first wrong index)
    ([1, 1, 0, 1], "hard", {}, 2),
    ([1, 1, 1], "hard", {}, None),
    ([1, 0, None, None], "hard", {}, 1),
    ([None, 1, 0], "hard", {}, 2),
    ([0.9, 0.6, 0.4], "soft", {}, 2),
    ([0.9, 0.6, 0.4], "soft", {"threshold": 0.7}, 1),
    ([0.5, 0.5], "soft", {}, None),  # at the threshold is not below it
    ([1, 0, 1, -1], "prm800k", {}, 3),
    ([1, 0, 1, -1], "prm800k", {"neutral": "negative"}, 1),
    ([1, 0, 1, -1], "prm800k", {"neutral": "ignore"}, 3),
    ([1, None, 1], "prm800k", {}, None),
    ([], "hard", {}, None),
]


@pytest.mark.parametrize(("labels", "scheme", "options", "expected"), FIRST_WRONG_CASES)
def test_first_wrong_step(labels, scheme, options, expected):
    assert schemes.first_wrong_step(labels, scheme, **options) == expected


@pytest.mark.parametrize(
    ("labels", "scheme", "message"),
    [
        ([1, 2], "hard", "step 1: hard label must be 0 or 1, got 2"),
        ([0.5], "hard", "step 0: hard label must be 0 or 1"),
        ([1, -0.1], "soft", "step 1: soft label must be in"),
        ([1.5], "soft", "soft label must be in"),
        ([1, 0, 0.5], "prm800k", "step 2: PRM800K rating must be -1, 0 or 1"),
        ([True], "hard", "step 0: label True is not a number"),
        (["1"], "prm800k", "label '1' is not a number"),
        ([float("nan")], "soft", "is not a number"),
        ([1], "ternary", "unknown label scheme 'ternary'"),
    ],
)
def test_bad_labels_are_named(labels, scheme, message):
    with pytest.raises(MathverifyError, match=re.escape(message)):
        schemes.to_training_targets(labels, scheme)
    with pytest.raises(MathverifyError, match=re.escape(message)):
        schemes.first_wrong_step(labels, scheme)


@pytest.mark.parametrize(
    ("source", "scheme"),
    [
        ("prm800k", "prm800k"),
        ("math-shepherd", "hard"),
        ("processbench", "hard"),
        ("rollout-hard-k8", "hard"),
        ("rollout-soft-k16", "soft"),
    ],
)
def test_scheme_for_source(source, scheme):
    assert schemes.scheme_for_source(source) == scheme


def test_unknown_neutral_mode_and_source():
    with pytest.raises(MathverifyError, match="unknown neutral mode 'half'"):
        schemes.to_training_targets([0], "prm800k", neutral="half")
    with pytest.raises(MathverifyError, match="label source 'vibes' has no known scheme"):
        schemes.scheme_for_source("vibes")


def test_converted_labels_fit_their_scheme_and_first_wrong_step():
    converted = [
        *converters.convert_prm800k(PRM800K_FIXTURE),
        *converters.convert_math_shepherd(SHEPHERD_FIXTURE),
        *converters.convert_processbench(PROCESSBENCH_FIXTURE),
    ]
    sources = {c.solution.label_source for c in converted}
    assert sources == {"prm800k", "math-shepherd", "processbench"}
    assert sources <= set(schemes.LABEL_SOURCE_SCHEMES)
    for item in converted:
        solution = item.solution
        scheme = schemes.scheme_for_source(solution.label_source)
        schemes.check_labels(solution.step_labels, scheme)
        assert schemes.first_wrong_step(solution.step_labels, scheme) == solution.first_wrong_step


def test_prm800k_phase2_stop_keeps_only_the_reviewed_step(tmp_path):
    rows = [
        r for r in prm800k_rows(PRM800K_FIXTURE) if r["label"]["finish_reason"] == "found_error"
    ]
    row = rows[0]
    stop = len(row["label"]["steps"]) - 1
    (item,) = converters.convert_prm800k(write_rows(tmp_path / "a.jsonl", [row]))
    assert item.solution.meta["stopped_at_step"] == stop
    assert len(item.solution.steps) == stop + 1
    # Without the pre-generated step among the rated completions, labels end before the stop.
    row["question"]["pre_generated_steps"][stop] = "a step nobody rated"
    (item,) = converters.convert_prm800k(write_rows(tmp_path / "b.jsonl", [row]))
    assert len(item.solution.steps) == stop
    assert item.solution.first_wrong_step is None


def test_cli_missing_input_leaves_output_alone(tmp_path):
    out = tmp_path / "s.jsonl"
    out.write_text("earlier run\n", encoding="utf-8")
    missing = tmp_path / "missing.jsonl"
    result = runner.invoke(app, ["data", "math-shepherd", "--input", str(missing), "-o", str(out)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {missing}: no such file or directory"
    assert out.read_text(encoding="utf-8") == "earlier run\n"
