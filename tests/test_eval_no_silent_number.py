"""`mathverify eval` and DESIGN.md's "no silent wrong number" (issue #34).

An input that cannot give a number is one line on stderr and exit 2; an input that gives it
on part of the data is a warning with the count, and the count is in the JSON; an option
the chosen mode does not read is an error naming it; every JSON report says what made it;
maj@k is one definition in the table, the JSON and the plots.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mathverify import __version__
from mathverify.cli import app
from mathverify.records import Problem, SearchResult, Solution, write_records

runner = CliRunner()

GENERATE = {"policy": "tiny-policy", "temperature": 0.7, "seed": 3, "mathverify_version": "0"}
SCORE = {"scorer": "tiny-prm", "scorer_format": "mathverify", "aggregate": "min"}


def problems(n: int, prefix: str = "p") -> list[Problem]:
    return [Problem(id=f"{prefix}{i}", problem=f"{i}+0?", answer=str(i)) for i in range(n)]


def solutions(ids: list[str], n_samples: int = 3, **extra) -> list[Solution]:
    """Labeled samples: sample 0 of each problem wrong, the others right."""
    return [
        Solution(
            problem_id=pid,
            sample_id=j,
            steps=[f"\\boxed{{{j}}}"],
            answer="right" if j else "wrong",
            outcome=bool(j),
            n_tokens=5,
            meta={"provenance": {"generate": dict(GENERATE)}},
            **extra,
        )
        for pid in ids
        for j in range(n_samples)
    ]


def write(path: Path, records) -> str:
    write_records(path, records)
    return str(path)


def invoke(*args: str):
    return runner.invoke(app, ["eval", *args])


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


# --------------------------------------------------------------------------------------
# Ids that match nothing, or part


def test_ids_that_match_no_problem_are_an_error(tmp_path):
    gold = write(tmp_path / "problems.jsonl", problems(20))
    # Twenty problems, solutions for twenty others: labels would let numbers print.
    others = write(tmp_path / "sols.jsonl", solutions([f"q{i}" for i in range(20)], 1))
    result = invoke(others, "-p", gold)
    assert_one_line_error(result, "20 of 20 solutions have no problem in ", "problems.jsonl")


def test_some_ids_without_problem_warn_with_the_count_in_stderr_and_json(tmp_path):
    gold = write(tmp_path / "problems.jsonl", problems(10))
    ids = [f"p{i}" for i in range(8)] + ["x1"]  # p8 and p9 have no samples; x1 no problem
    path = write(tmp_path / "sols.jsonl", solutions(ids, 2))
    result = invoke(path, "-p", gold, "--json", str(tmp_path / "eval.json"))
    assert result.exit_code == 0, result.output
    assert f"2 of 18 solutions have no problem in {gold}" in result.stderr
    assert f"2 of 10 problems in {gold} have no solutions" in result.stderr
    report = json.loads((tmp_path / "eval.json").read_text())["reports"][0]
    assert report["rows_without_problem"] == 2
    assert report["missing_problems"] == 2
    assert report["n_problems"] == 8  # x1 is left out of every number


def test_an_empty_problems_file_is_an_error(tmp_path):
    gold = write(tmp_path / "problems.jsonl", [])
    path = write(tmp_path / "sols.jsonl", solutions(["p0"]))
    assert_one_line_error(invoke(path, "-p", gold), "problems.jsonl has no problems")


def test_solutions_and_search_results_in_one_file_are_an_error_for_the_table(tmp_path):
    gold = write(tmp_path / "problems.jsonl", problems(2))
    path = tmp_path / "mixed.jsonl"
    write_records(path, solutions(["p0", "p1"], 2))
    with open(path, "a", encoding="utf-8") as f:
        result = SearchResult(problem_id="p0", method="greedy", answer="0", meta={"outcome": True})
        f.write(json.dumps(result.to_dict()) + "\n")
    assert_one_line_error(invoke(str(path), "-p", gold), "mixed.jsonl:5", "search result")


def test_k_beyond_the_fewest_samples_is_an_error(tmp_path):
    gold = write(tmp_path / "problems.jsonl", problems(2))
    path = write(tmp_path / "sols.jsonl", solutions(["p0", "p1"], 3))
    assert_one_line_error(invoke(path, "-p", gold, "--k", "4"), "maj@4", "has 3")


def test_solutions_without_token_counts_give_no_token_means(tmp_path):
    gold = write(tmp_path / "problems.jsonl", problems(2))
    records = solutions(["p0", "p1"], 2)
    records[0] = replace(records[0], n_tokens=0)  # e.g. converted from a dataset
    path = write(tmp_path / "sols.jsonl", records)
    result = invoke(path, "-p", gold, "--json", "-")
    assert result.exit_code == 0, result.output
    assert "1 of 4 solutions have no token count" in result.stderr
    report = json.loads(result.stdout)["reports"][0]
    assert report["samples_without_tokens"] == 1
    assert report["mean_tokens_per_problem"] is None and report["mean_tokens_per_sample"] is None


# --------------------------------------------------------------------------------------
# Options the chosen mode does not read


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (["--bins", "5"], "--bins"),
        (["--subsets", "10"], "--subsets"),
        (["--seed", "3"], "--seed"),
    ],
)
def test_an_option_the_table_does_not_read_is_an_error_naming_it(tmp_path, extra, flag):
    gold = write(tmp_path / "problems.jsonl", problems(2))
    path = write(tmp_path / "sols.jsonl", solutions(["p0", "p1"]))
    assert_one_line_error(invoke(path, "-p", gold, *extra), flag)


@pytest.mark.parametrize(
    ("extra", "flag"),
    [
        (["--k", "2"], "--k"),
        (["--graders", "math-verify"], "--graders"),
        (["--grade-timeout", "3"], "--grade-timeout"),
        (["--grading", "lenient"], "--grading"),
    ],
)
def test_grading_options_without_gold_answers_are_an_error(tmp_path, extra, flag):
    scored = solutions(["p0", "p1"], step_scores=[0.5], step_labels=[1], label_source="exact")
    path = write(tmp_path / "scored.jsonl", scored)
    result = invoke(path, "--plot", str(tmp_path / "plots"), *extra)
    assert_one_line_error(result, flag)
    assert not (tmp_path / "plots").exists()


# --------------------------------------------------------------------------------------
# One maj@k: table, JSON and plot


def scored_file(tmp_path: Path) -> str:
    """Four samples of two problems, each sample 0 wrong: the first-k maj@1 would be 0."""
    records = []
    for pid, answers in {"p0": ["9", "0", "0", "7"], "p1": ["8", "1", "8", "1"]}.items():
        for j, answer in enumerate(answers):
            right = answer == pid[1]
            records.append(
                Solution(
                    problem_id=pid,
                    sample_id=j,
                    steps=["= x", f"\\boxed{{{answer}}}"],
                    answer=answer,
                    outcome=right,
                    n_tokens=5,
                    step_labels=[1, 1] if right else [1, 0],
                    label_source="exact",
                    step_scores=[1.0, 0.25 * (j + 1) if right else 0.5],
                    scorer="tiny-prm",
                    meta={
                        "score": 0.25 * (j + 1) if right else 0.5,
                        "provenance": {"generate": dict(GENERATE), "score": dict(SCORE)},
                    },
                )
            )
    return write(tmp_path / "scored.jsonl", records)


def test_maj_at_k_is_one_definition_in_table_json_and_plot(tmp_path):
    gold = write(tmp_path / "problems.jsonl", problems(2))
    path = scored_file(tmp_path)
    plots = tmp_path / "plots"
    result = invoke(path, "-p", gold, "--plot", str(plots), "--json", str(tmp_path / "e.json"))
    assert result.exit_code == 0, result.output
    payload = json.loads((tmp_path / "e.json").read_text())
    report = payload["reports"][0]
    # p0: 2 of 4 right, p1: 2 of 4 right (a 2-2 tie at k = 4: half credit).
    assert report["accuracy"] == pytest.approx(0.5)
    assert report["maj"]["1"] == pytest.approx(report["accuracy"])
    assert report["pass_at"]["1"] == pytest.approx(report["accuracy"])
    # p0 pairs: 00 right (1), 9-0, 0-7 ties (1/2 x 4), 97 wrong: 3/6; p1: 11 right, 88
    # wrong, four ties: 3/6. k = 4: p0 "0" wins (1), p1 ties 2-2 (1/2).
    assert report["maj"]["2"] == pytest.approx(0.5)
    assert report["maj"]["4"] == pytest.approx(0.75)
    diagnostics = json.loads((plots / "diagnostics.json").read_text())
    for point in diagnostics["best_of_n"]["scored"]:
        assert point["majority"] == pytest.approx(report["maj"][str(point["n"])])
        assert point["pass_at_n"] == pytest.approx(report["pass_at"][str(point["n"])])
    assert diagnostics["best_of_n"]["scored"][0]["best_of_n"] == pytest.approx(0.5)
    # The table prints the JSON's maj@4 (75.0), not a first-k vote.
    assert "75.0" in result.stdout


def test_help_states_the_definition_and_the_tie_rule():
    result = runner.invoke(app, ["eval", "--help"], terminal_width=200)
    text = " ".join(result.stdout.split())
    assert "all k-subsets" in text and "unbiased" in text
    assert "counts 1/t" in text and "maj@1 = pass@1 = accuracy" in text


# --------------------------------------------------------------------------------------
# Provenance


def test_eval_json_says_what_made_it(tmp_path):
    gold = write(tmp_path / "problems.jsonl", problems(2))
    path = write(tmp_path / "sols.jsonl", solutions(["p0", "p1"]))
    result = invoke(path, "-p", gold, "--k", "1,3", "--json", str(tmp_path / "eval.json"))
    assert result.exit_code == 0, result.output
    provenance = json.loads((tmp_path / "eval.json").read_text())["provenance"]
    made_by_eval = provenance["eval"]
    assert made_by_eval["mathverify_version"] == __version__
    assert made_by_eval["grading"] == "strict" and made_by_eval["graders"] == "math-verify"
    assert made_by_eval["ks"] == [1, 3]
    assert "k-subsets" in made_by_eval["definitions"]["maj@k"]
    assert "bins" not in made_by_eval  # a setting of --plot, which did not run
    assert provenance["inputs"] == {"sols": {"generate": [GENERATE]}}
    made_by = [line for line in result.stderr.splitlines() if "made by" in line]
    assert len(made_by) == 1 and "policy=tiny-policy" in made_by[0]


def test_diagnostics_json_says_what_made_it(tmp_path):
    path = scored_file(tmp_path)
    plots = tmp_path / "plots"
    result = invoke(path, "--plot", str(plots), "--bins", "4")
    assert result.exit_code == 0, result.output
    provenance = json.loads((plots / "diagnostics.json").read_text())["provenance"]
    assert provenance["eval"]["bins"] == 4
    assert provenance["eval"]["mathverify_version"] == __version__
    assert "grading" not in provenance["eval"]  # nothing was graded
    assert provenance["inputs"]["scored"] == {"generate": [GENERATE], "score": [SCORE]}


def test_compare_labels_json_says_what_made_it(tmp_path):
    labeled = solutions(["p0", "p1"], step_labels=[1], label_source="exact")
    gold = write(tmp_path / "gold.jsonl", labeled)
    other = write(tmp_path / "other.jsonl", labeled)
    result = invoke(other, "--compare-labels", gold, "--json", str(tmp_path / "c.json"))
    assert result.exit_code == 0, result.output
    provenance = json.loads((tmp_path / "c.json").read_text())["provenance"]
    assert provenance["eval"]["compare_labels"] == gold
    assert provenance["inputs"] == {"other": {"generate": [GENERATE]}}
    assert provenance["gold"] == {"generate": [GENERATE]}


def test_an_input_made_by_several_settings_is_a_warning(tmp_path):
    gold = write(tmp_path / "problems.jsonl", problems(2))
    records = solutions(["p0", "p1"])
    records[0].meta["provenance"]["generate"]["temperature"] = 1.0
    path = write(tmp_path / "sols.jsonl", records)
    result = invoke(path, "-p", gold, "--json", "-")
    assert result.exit_code == 0, result.output
    assert "2 different generate settings (differing in temperature)" in result.stderr
    inputs = json.loads(result.stdout)["provenance"]["inputs"]["sols"]
    assert len(inputs["generate"]) == 2


# --------------------------------------------------------------------------------------
# Plots and ProcessBench on part of the data


def test_uneven_samples_and_mixed_solution_scores_warn_in_plots(tmp_path):
    path = Path(scored_file(tmp_path))
    rows = path.read_text().splitlines()
    last = json.loads(rows[-1])
    del last["meta"]["score"]  # scored by its minimum step score instead
    rows[-1] = json.dumps(last)
    rows.pop(0)  # p0 keeps 3 samples
    path.write_text("\n".join(rows) + "\n")
    plots = tmp_path / "plots"
    result = invoke(str(path), "--plot", str(plots))
    assert result.exit_code == 0, result.output
    assert "problems have 3 to 4 scored samples" in result.stderr
    assert "stops at N = 3" in result.stderr
    assert "1 of 7 scored solutions have no meta.score" in result.stderr
    counts = json.loads((plots / "diagnostics.json").read_text())["counts"]["scored"]
    assert counts["scored_by_min_step"] == 1 and counts["solutions"] == 7


def pb_solution(pid: str, scores: list[float | None], first: int | None) -> Solution:
    return Solution(
        problem_id=pid,
        sample_id=0,
        steps=[f"step {i}" for i in range(len(scores))],
        step_labels=[0 if first is not None and i >= first else 1 for i in range(len(scores))],
        first_wrong_step=first,
        label_source="processbench",
        step_scores=scores,
        scorer="prm-x",
        outcome=first is None,
    )


def test_processbench_counts_solutions_with_unscored_steps(tmp_path):
    path = write(
        tmp_path / "pb.jsonl",
        [pb_solution("a", [0.9, None], 1), pb_solution("b", [0.9, 0.8], None)],
    )
    result = invoke(path, "--processbench", "--threshold", "0.5", "--json", "-")
    assert result.exit_code == 0, result.output
    assert "1 of 2 solutions have steps without a score" in result.stderr
    (one,) = json.loads(result.stdout)["processbench"]["inputs"]
    assert one["solutions_with_unscored_steps"] == 1


def test_processbench_with_no_step_score_at_all_is_an_error(tmp_path):
    path = write(
        tmp_path / "pb.jsonl",
        [pb_solution("a", [None, None], 1), pb_solution("b", [None], None)],
    )
    result = invoke(path, "--processbench", "--threshold", "0.5")
    assert_one_line_error(result, "none of its 2 solutions has a step score")


def test_compare_labels_with_no_solutions_is_an_error(tmp_path):
    gold = write(tmp_path / "gold.jsonl", solutions(["p0"], step_labels=[1], label_source="exact"))
    empty = write(tmp_path / "empty.jsonl", [])
    result = invoke(empty, "--compare-labels", gold)
    assert_one_line_error(result, "no solutions to compare with", "gold.jsonl")


def test_search_results_without_token_counts_warn_in_plots(tmp_path):
    results = [
        SearchResult(problem_id=f"p{i}", method="greedy", answer="1", n_generated_tokens=tokens)
        for i, tokens in enumerate([10, 0, 12])
    ]
    for result in results:
        result.meta["outcome"] = True
    path = write(tmp_path / "greedy.jsonl", results)
    plots = tmp_path / "plots"
    result = invoke(path, "--plot", str(plots))
    assert result.exit_code == 0, result.output
    assert "1 of 3 search results have no n_generated_tokens" in result.stderr
    counts = json.loads((plots / "diagnostics.json").read_text())["counts"]["greedy"]
    assert counts == {"search_results": 3, "search_results_without_tokens": 1}
