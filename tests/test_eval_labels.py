"""Comparing step labels with gold labels: class F1, AUROC, first-wrong agreement, tokens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.errors import MathverifyError
from mathverify.eval.labels import (
    LabelComparison,
    auroc,
    compare_label_files,
    compare_labels,
    f1_interval,
    markdown_table,
    step_classes,
)
from mathverify.records import Solution, write_records

runner = CliRunner()


def solution(key: str, labels: list, source: str, tokens: int | None = None) -> Solution:
    problem_id, sample_id = key.split("#")
    return Solution(
        problem_id=problem_id,
        sample_id=int(sample_id),
        steps=[f"step {i}" for i in range(len(labels))],
        step_labels=labels,
        label_source=source,
        meta={} if tokens is None else {"rollout_tokens": tokens},
    )


GOLD = {
    s.key(): s
    for s in [
        solution("a#0", [1.0, 1.0, 0.0], "exact"),  # first wrong: 2
        solution("b#0", [1.0, 1.0], "exact"),  # no wrong step
        solution("c#0", [0.0, 0.0, 0.0], "exact"),  # first wrong: 0
        solution("d#0", [1.0], "exact"),  # only in gold: ignored
    ]
}
SOFT = [
    solution("a#0", [0.5, 0.0, 0.0], "rollout-soft-k4", 10),  # classes T F F
    solution("b#0", [1.0, 0.25], "rollout-soft-k4", 20),  # T T
    solution("c#0", [0.25, 0.0, None], "rollout-soft-k4", 30),  # T F (cut)
]


@pytest.mark.parametrize(
    ("scores", "positives", "expected"),
    [
        ([0.1, 0.2, 0.8, 0.9], [False, False, True, True], 1.0),
        ([0.9, 0.8, 0.2, 0.1], [False, False, True, True], 0.0),
        ([0.5, 0.5, 0.5], [True, False, True], 0.5),
        ([0.0, 0.3, 0.3, 1.0], [False, True, False, True], 0.875),
        ([0.2, 0.4], [True, True], None),
        ([], [], None),
    ],
)
def test_auroc_table(scores, positives, expected):
    assert auroc(scores, positives) == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("labels", "source", "threshold", "expected"),
    [
        ([1, 0, None], "exact", None, [True, False, None]),
        ([0.25, 0.0, 1.0], "rollout-soft-k4", None, [True, False, True]),  # any success
        ([0.25, 0.5, 1.0], "rollout-soft-k4", 0.5, [False, True, True]),  # at least 0.5
        ([1.0, 0.0], "rollout-hard-k8", 0.5, [True, False]),  # a threshold moves only soft
        ([1, 0, -1], "prm800k", None, [True, True, False]),  # neutral counts as correct
        ([0.7, 0.2], None, None, [True, True]),  # no source: read as soft
    ],
)
def test_step_classes_follow_the_scheme(labels, source, threshold, expected):
    record = solution("p#0", labels, source)
    assert step_classes(record, soft_threshold=threshold) == expected


def test_soft_rollouts_against_exact_labels_by_hand():
    result = compare_labels(GOLD, SOFT, name="k4")
    # steps compared (gold, other): a: TT TF FF, b: TT TT, c: FT FF (its last is cut)
    assert (result.n_solutions, result.n_steps, result.n_steps_skipped) == (3, 7, 1)
    assert result.step_accuracy == pytest.approx(5 / 7)
    correct, wrong = result.correct_step, result.wrong_step
    assert (correct.support, correct.predicted) == (4, 4)
    assert correct.precision == correct.recall == correct.f1 == pytest.approx(3 / 4)
    assert (wrong.support, wrong.predicted) == (3, 3)
    assert wrong.precision == wrong.recall == wrong.f1 == pytest.approx(2 / 3)
    # positives 0.5, 0.0, 1.0, 0.25 against negatives 0.0, 0.25, 0.0: 9.5 of 12 pairs
    assert result.step_auroc == pytest.approx(9.5 / 12)
    # first wrong: gold 2, None, 0; other 1, None, 1
    assert result.first_wrong_agreement == pytest.approx(1 / 3)
    assert (result.erroneous_accuracy, result.correct_accuracy) == (0.0, 1.0)
    assert result.processbench_f1 == 0.0
    assert (result.label_tokens, result.label_tokens_per_solution) == (60, 20.0)
    assert result.label_source == "rollout-soft-k4" and result.name == "k4"


def test_until_first_wrong_counts_only_the_steps_a_cut_labels():
    result = compare_labels(GOLD, SOFT, until_first_wrong=True)
    # a: TT TF (its last step is after the first wrong), b: TT TT, c: FT FF
    assert (result.n_steps, result.n_steps_skipped) == (6, 2)
    assert result.correct_step.f1 == pytest.approx(3 / 4)
    assert (result.wrong_step.support, result.wrong_step.predicted) == (2, 2)
    assert result.wrong_step.f1 == pytest.approx(1 / 2)


def test_identical_labels_agree_everywhere_and_tokens_need_every_row():
    hard = [solution(k, s.step_labels, "exact") for k, s in GOLD.items()]
    hard[0].meta["rollout_tokens"] = 5  # the others carry none: no total
    result = compare_labels(GOLD, hard)
    assert result.correct_step.f1 == result.wrong_step.f1 == 1.0
    assert result.step_auroc == 1.0 and result.first_wrong_agreement == 1.0
    assert result.processbench_f1 == 1.0
    assert result.label_tokens is None and result.label_tokens_per_solution is None


def test_a_class_never_predicted_has_no_precision():
    all_correct = [solution(s.key(), [1.0] * len(s.steps), "rollout-hard-k8") for s in SOFT]
    result = compare_labels(GOLD, all_correct)
    assert result.wrong_step.precision is None and result.wrong_step.f1 is None
    assert result.wrong_step.recall == 0.0
    assert result.step_auroc == 0.5


@pytest.mark.parametrize(
    ("other", "message"),
    [
        ([solution("z#0", [1.0], "exact")], "other: solution z#0 is not in the gold file"),
        ([SOFT[0], SOFT[0]], "other: solution a#0 appears twice"),
        (
            [Solution(problem_id="a", sample_id=0, steps=["x", "y", "z"], step_labels=[1, 1, 1])],
            "other: solution a#0 has other steps than the gold file's",
        ),
        (
            [Solution(problem_id="b", sample_id=0, steps=["step 0", "step 1"])],
            "other: solution b#0 has no step_labels",
        ),
        ([solution("b#0", [1.0, 2.0], "rollout-hard-k4")], "other: solution b#0: step 1"),
    ],
)
def test_mismatched_inputs_are_clear_errors(other, message):
    with pytest.raises(MathverifyError, match=message.replace("(", r"\(")):
        compare_labels(GOLD, other)


def test_files_and_markdown(tmp_path: Path):
    gold_path, other_path = tmp_path / "gold.jsonl", tmp_path / "k4.jsonl"
    write_records(gold_path, list(GOLD.values()))
    write_records(other_path, SOFT)
    [result] = compare_label_files(str(gold_path), [str(other_path)], ["K=4"])
    assert result == compare_labels(GOLD, SOFT, name="K=4")
    table = markdown_table([result], {"seconds": ["1.5"]})
    header, rule, row = table.splitlines()
    assert header.count("|") == rule.count("|") == row.count("|") == 12
    low, high = result.correct_step_f1_ci
    assert row.startswith(
        f"| K=4 | 3 | 7 | 0.750 | {low:.3f}-{high:.3f} | 0.667 | 0.792 | 0.333 | 0.000 | 20.0 | 1.5 |"
    )

    bad_gold = tmp_path / "bad.jsonl"
    steps = GOLD["a#0"].steps
    write_records(bad_gold, [Solution(problem_id="a", sample_id=0, steps=steps)])
    with pytest.raises(MathverifyError, match=f"^{bad_gold}: solution a#0 has no step_labels"):
        compare_label_files(str(bad_gold), [str(other_path)])


def test_eval_compare_labels_cli(tmp_path: Path):
    gold_path, other_path = tmp_path / "gold.jsonl", tmp_path / "k4.jsonl"
    write_records(gold_path, list(GOLD.values()))
    write_records(other_path, SOFT)
    args = ["eval", str(other_path), "--compare-labels", str(gold_path), "--names", "K=4"]
    result = runner.invoke(app, [*args, "--until-first-wrong", "--json", "-"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["until_first_wrong"] is True and payload["label_threshold"] is None
    [row] = payload["comparisons"]
    assert row["name"] == "K=4" and row["n_steps"] == 6
    assert row["wrong_step"]["f1"] == pytest.approx(1 / 2)
    assert "| K=4 | 3 | 6 |" in result.stderr  # the table goes to stderr when JSON is stdout

    result = runner.invoke(app, [*args, "--label-threshold", "0.5"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("| labels |")

    for extra, message in [
        (["-p", str(gold_path)], "--compare-labels takes no --problems"),
        (["--names", "a,b"], "--names has 2 names for 1 inputs"),
    ]:
        result = runner.invoke(app, [*args[:-2], *extra])
        assert result.exit_code == 2 and message in result.stderr
    result = runner.invoke(app, ["eval", str(other_path), "--until-first-wrong"])
    assert result.exit_code == 2
    assert "--until-first-wrong go with --compare-labels" in result.stderr


def test_a_comparison_survives_json():
    result = compare_labels(GOLD, SOFT)
    assert LabelComparison.from_dict(json.loads(json.dumps(result.to_dict()))) == result


def test_f1_interval_by_hand():
    # Problem 1: its one correct step found; problem 2: its one correct step missed. A
    # resample holds 2 x problem 1 (F1 1), 2 x problem 2 (F1 0) or one of each (F1 2/3), the
    # pure ones a quarter of the time each, so the 95% interval spans 0 to 1.
    assert f1_interval([(1, 1, 1), (0, 1, 0)], samples=2000) == (0.0, 1.0)
    # Alike problems leave no spread; one problem (or none) gives no interval.
    assert f1_interval([(2, 3, 2)] * 5) == (pytest.approx(0.8), pytest.approx(0.8))
    assert f1_interval([(1, 1, 1)]) is None
    assert f1_interval([]) is None
    # A resample whose pool has no step of the class on either side is left out.
    assert f1_interval([(0, 0, 0), (1, 2, 1)], samples=500) == (pytest.approx(2 / 3),) * 2
    assert f1_interval([(1, 1, 1), (0, 1, 0)], samples=0) is None
    with pytest.raises(ValueError, match="level must be between 0 and 1, not 95"):
        f1_interval([(1, 1, 1), (0, 1, 0)], level=95)
    same = f1_interval([(3, 4, 5), (1, 4, 2), (0, 2, 1)], seed=7)
    assert same == f1_interval([(3, 4, 5), (1, 4, 2), (0, 2, 1)], seed=7)


def test_the_interval_resamples_problems_not_solutions():
    result = compare_labels(GOLD, SOFT)
    low, high = result.correct_step_f1_ci
    assert low <= result.correct_step.f1 <= high
    assert compare_labels(GOLD, SOFT, bootstrap_samples=0).correct_step_f1_ci is None
    # Two solutions of one problem are one unit: no interval from a single problem.
    gold = {
        s.key(): s for s in [solution("a#0", [1.0, 0.0], "exact"), solution("a#1", [1.0], "exact")]
    }
    other = [
        solution("a#0", [0.5, 0.0], "rollout-soft-k4"),
        solution("a#1", [0.0], "rollout-soft-k4"),
    ]
    assert compare_labels(gold, other).correct_step_f1_ci is None


def test_a_comparison_without_an_interval_loads():
    data = compare_labels(GOLD, SOFT).to_dict()
    del data["correct_step_f1_ci"]  # JSON written before the interval existed
    assert LabelComparison.from_dict(data).correct_step_f1_ci is None
