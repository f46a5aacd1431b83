"""ProcessBench's first-wrong-step metric: hand-computed tables, the exact threshold sweep,
the ``eval --processbench`` command, and real ProcessBench rows scored end to end."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
from conftest import require_data
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.errors import MathverifyError
from mathverify.eval.processbench import (
    PBSample,
    choose_threshold,
    evaluate_processbench,
    f1_at,
    predict_first_wrong,
    sample_from_solution,
    score_split,
)
from mathverify.records import SearchResult, Solution, write_records

runner = CliRunner()


@pytest.mark.parametrize(
    ("scores", "threshold", "expected"),
    [
        ([0.9, 0.8, 0.3, 0.9], 0.5, 2),
        ([0.9, 0.8], 0.5, None),
        ([0.4], 0.5, 0),
        ([0.5, 0.6], 0.5, None),  # "below" is strict
        ([None, 0.2], 0.5, 1),  # an unscored step is never flagged
        ([0.9, None, None], 0.95, 0),
        ([None, None], 0.5, None),
        ([], 0.5, None),
        ([0.1, 0.2], 0.1, None),
    ],
)
def test_predict_first_wrong(scores, threshold, expected):
    assert predict_first_wrong(scores, threshold) == expected


@pytest.mark.parametrize(
    ("gold", "predicted", "expected"),
    [
        # erroneous: 1->1 right, 2->0 wrong, 0->0 right (2/3); correct: 2 of 3 say none (2/3)
        (
            [None, None, None, 1, 2, 0],
            [None, 2, None, 1, 0, 0],
            (3, 3, 2 / 3, 2 / 3, 2 / 3),
        ),
        # erroneous 1/2, correct 1/1: F1 = 2 * 0.5 * 1 / 1.5 = 2/3
        ([3, 1, None], [3, None, None], (2, 1, 0.5, 1.0, 2 / 3)),
        # a late guess is as wrong as an early one
        ([2, 2], [3, 1], (2, 0, 0.0, None, None)),
        ([None], [0], (0, 1, None, 0.0, None)),
        # both zero: F1 is 0, not a division error
        ([1, None], [None, 0], (1, 1, 0.0, 0.0, 0.0)),
        ([0, None, None, None], [0, None, None, 4], (1, 3, 1.0, 2 / 3, 0.8)),
    ],
)
def test_score_split_hand_computed(gold, predicted, expected):
    result = score_split("s", gold, predicted)
    assert (
        result.n_erroneous,
        result.n_correct,
        result.erroneous_accuracy,
        result.correct_accuracy,
        result.f1,
    ) == expected


def test_score_split_lengths_must_match():
    with pytest.raises(ValueError):
        score_split("s", [None], [])


def pb(gold, *scores, split="s"):
    return PBSample(split, gold, tuple(scores))


# Hand-worked: windows of right thresholds are A (-inf,.7], B (-inf,.6], C (.3,.8],
# D (.4,inf], E (.1,.2]. F1 per piece: (.1,.2] 0.5, (.3,.4] 0.5, (.4,.6] 0.8 (C, D, A, B
# right), (.6,.7] 4/7, others 0. Best piece (.4,.6]: its middle is 0.5.
HELD_OUT = [
    pb(None, 0.9, 0.7),  # A
    pb(None, 0.6, 0.8),  # B
    pb(1, 0.8, 0.3),  # C
    pb(0, 0.4, 0.9),  # D
    pb(2, 0.9, 0.2, 0.1),  # E
]


def test_choose_threshold_hand_computed():
    threshold, f1 = choose_threshold(HELD_OUT)
    assert threshold == 0.5
    assert f1 == 0.8
    assert f1_at(HELD_OUT, threshold) == 0.8
    assert f1_at(HELD_OUT, 0.65) == 4 / 7
    assert f1_at(HELD_OUT, 0.15) == 0.5


def test_choose_threshold_lowest_and_highest_pieces():
    # Windows (-inf, .3] and (.2, inf]: only (.2, .3] gets both right; its middle is .25.
    assert choose_threshold([pb(None, 0.3), pb(0, 0.2)]) == (0.25, 1.0)
    # Disjoint windows (-inf, .3] and (.5, inf]: F1 is 0 everywhere; ties go to the lowest
    # piece, whose threshold is its upper end.
    assert choose_threshold([pb(None, 0.3), pb(0, 0.5)]) == (0.3, 0.0)
    # An unscored correct sample is right everywhere; flagging every step (above .9) is best.
    high = [pb(None, None), pb(0, 0.9), pb(0, 0.95)]
    threshold, f1 = choose_threshold(high)
    assert 0.95 < threshold < 0.9500001 and f1 == 1.0


def test_choose_threshold_is_the_best_of_a_brute_force_sweep():
    rng = random.Random(7)
    for _ in range(40):
        samples = []
        for _ in range(rng.randint(2, 12)):
            n = rng.randint(1, 5)
            scores = [rng.choice([None, round(rng.random(), 2)]) for _ in range(n)]
            gold = rng.choice([None, rng.randrange(n)])
            samples.append(pb(gold, *scores))
        samples += [pb(None, 0.5), pb(0, 0.25)]
        threshold, f1 = choose_threshold(samples)
        assert f1_at(samples, threshold) == pytest.approx(f1)
        grid = [i / 200 for i in range(-1, 203)]
        assert f1 >= max(f1_at(samples, t) for t in grid) - 1e-12


@pytest.mark.parametrize(
    "samples",
    [[pb(None, 0.5)], [pb(0, 0.5)], [pb(None, None), pb(0, None)]],
)
def test_choose_threshold_needs_both_kinds_with_scores(samples):
    with pytest.raises(ValueError):
        choose_threshold(samples)


def test_evaluate_processbench_per_split_in_first_seen_order():
    samples = [
        pb(1, 0.9, 0.2, split="math"),  # predicted 1: right
        pb(None, 0.9, 0.8, split="gsm8k"),  # none: right
        pb(None, 0.3, split="math"),  # predicted 0: wrong
        pb(0, 0.7, 0.1, split="gsm8k"),  # predicted 1: wrong
        pb(None, 0.6, split="math"),  # right
    ]
    math_, gsm8k = evaluate_processbench(samples, 0.5)
    assert (math_.split, math_.erroneous_accuracy, math_.correct_accuracy) == ("math", 1.0, 0.5)
    assert math_.f1 == 2 / 3
    assert (gsm8k.split, gsm8k.erroneous_accuracy, gsm8k.correct_accuracy) == ("gsm8k", 0.0, 1.0)
    assert gsm8k.f1 == 0.0


def solution(pid, labels, scores, *, first=None, source="processbench", split=None, sid=0):
    return Solution(
        problem_id=pid,
        sample_id=sid,
        steps=[f"step {i}" for i in range(len(labels))],
        step_labels=labels,
        first_wrong_step=first,
        label_source=source,
        step_scores=scores,
        scorer="prm-x",
        outcome=first is None,
        meta={"split": split} if split else {},
    )


def test_sample_from_solution_gold_from_field_or_labels():
    from_field = sample_from_solution(solution("a", [1, 0, None], [0.9, 0.1, 0.2], first=1), "s")
    assert from_field == PBSample("s", 1, (0.9, 0.1, 0.2))
    # first_wrong_step unset: read from the labels with the source's scheme
    assert sample_from_solution(solution("a", [1, 1, 0], [0.5] * 3), "s").first_wrong_step == 2
    prm800k = solution("a", [1, 0, -1], [0.5] * 3, source="prm800k")
    assert sample_from_solution(prm800k, "s").first_wrong_step == 2
    soft = solution("a", [0.9, 0.2], [0.5] * 2, source="rollout-soft-k8")
    assert sample_from_solution(soft, "s").first_wrong_step == 1
    assert sample_from_solution(solution("a", [1, 1], [0.5] * 2), "s").first_wrong_step is None


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (solution("a", [1], None), "no step_scores"),
        (Solution(problem_id="a", sample_id=0, steps=["x"], step_scores=[0.5]), "no step_labels"),
        (solution("a", [1, 1], [0.5, 0.5], first=5), "not a step index"),
    ],
)
def test_sample_from_solution_errors(broken, message):
    with pytest.raises(MathverifyError, match=message):
        sample_from_solution(broken, "s")


# --------------------------------------------------------------------------------------
# The command


def write(path: Path, records) -> str:
    write_records(path, records)
    return str(path)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    held_out = [
        solution("h0", [1, 1], [0.9, 0.7]),
        solution("h1", [1, 1], [0.6, 0.8]),
        solution("h2", [1, 0], [0.8, 0.3], first=1),
        solution("h3", [0, None], [0.4, 0.9], first=0),
        solution("h4", [1, 1, 0], [0.9, 0.2, 0.1], first=2),
    ]
    # At 0.5: math e0 right, e1 wrong (flags 0), c0 right, c1 wrong -> 1/2, 1/2, F1 1/2.
    # gsm8k: e2 right, c2 right -> 1, 1, F1 1. Average F1 3/4.
    evaluated = [
        solution("e0", [1, 0], [0.7, 0.45], first=1, split="math"),
        solution("e1", [1, 1, 0], [0.3, 0.9, 0.1], first=2, split="math"),
        solution("c0", [1, 1], [0.6, 0.55], split="math"),
        solution("c1", [1, 1], [0.6, 0.49], split="math"),
        solution("e2", [0], [0.2], first=0, split="gsm8k"),
        solution("c2", [1], [0.99], split="gsm8k"),
    ]
    return {
        "held_out": write(tmp_path / "held_out.jsonl", held_out),
        "evaluated": write(tmp_path / "evaluated.jsonl", evaluated),
        "unsplit": write(tmp_path / "unsplit.jsonl", [evaluated[0], evaluated[2]]),
    }


def pb_json(args: list[str]) -> dict:
    result = runner.invoke(app, ["eval", *args, "--processbench", "--json", "-"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_eval_processbench_with_threshold_from_held_out(files):
    payload = pb_json([files["evaluated"], "--threshold-from", files["held_out"]])
    numbers = payload["processbench"]
    assert numbers["threshold"] == 0.5 and numbers["held_out_f1"] == 0.8
    assert numbers["held_out_samples"] == 5
    assert payload["reports"] == []  # no --problems: only the ProcessBench numbers
    (one,) = numbers["inputs"]
    math_, gsm8k = one["splits"]
    assert math_ == {
        "split": "math",
        "n_erroneous": 2,
        "n_correct": 2,
        "erroneous_accuracy": 0.5,
        "correct_accuracy": 0.5,
        "f1": 0.5,
    }
    assert (gsm8k["split"], gsm8k["f1"]) == ("gsm8k", 1.0)
    assert one["average_f1"] == 0.75


def test_eval_processbench_given_threshold_and_split_from_file_name(files):
    numbers = pb_json([files["unsplit"], files["held_out"], "--threshold", "0.65"])["processbench"]
    assert numbers["threshold"] == 0.65 and numbers["threshold_from"] is None
    first, second = numbers["inputs"]
    # meta.split wins over the file name; without it the input's name is the split
    assert [s["split"] for s in first["splits"]] == ["math"]
    assert [s["split"] for s in second["splits"]] == ["held_out"]
    assert second["splits"][0]["f1"] == 4 / 7


def test_eval_processbench_table_in_terminal(files):
    result = runner.invoke(
        app, ["eval", files["evaluated"], "--processbench", "--threshold", "0.5"]
    )
    assert result.exit_code == 0, result.output
    assert "ProcessBench" in result.stdout and "gsm8k" in result.stdout
    assert "100.0" in result.stdout and "average" in result.stdout


def bad_invocations(files: dict[str, str], tmp_path: Path) -> list[tuple[list[str], str]]:
    copy = tmp_path / "copy.jsonl"
    shutil.copy(files["evaluated"], copy)
    search = write(
        tmp_path / "search.jsonl", [SearchResult(problem_id="a", method="greedy", answer="1")]
    )
    unscored = write(tmp_path / "unscored.jsonl", [solution("a", [1], None)])
    one_kind = write(tmp_path / "one_kind.jsonl", [solution("a", [1], [0.5])])
    ev = files["evaluated"]
    return [
        ([ev, "--processbench"], "exactly one of --threshold or --threshold-from"),
        (
            [ev, "--processbench", "--threshold", "0.5", "--threshold-from", files["held_out"]],
            "exactly one",
        ),
        ([ev, "--threshold", "0.5"], "go with --processbench"),
        ([ev, "--processbench", "--threshold-from", ev], "also an evaluated input"),
        ([ev, "--processbench", "--threshold-from", str(copy)], "also an evaluated input"),
        ([ev, "--processbench", "--threshold-from", one_kind], "with and without a wrong step"),
        ([ev, "--processbench", "--threshold-from", "nope.jsonl"], "no such file"),
        ([search, "--processbench", "--threshold", "0.5"], "search.jsonl:1: --processbench"),
        (
            [unscored, "--processbench", "--threshold", "0.5"],
            "unscored.jsonl:1: has no step_scores",
        ),
    ]


def test_eval_processbench_bad_input_is_one_line_exit_2(files, tmp_path):
    for args, message in bad_invocations(files, tmp_path):
        result = runner.invoke(app, ["eval", *args])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.output


# --------------------------------------------------------------------------------------
# Real ProcessBench rows, a random-init char-level PRM and ORM, end to end


def make_random_verifier(directory: Path, kind: str, max_length: int) -> Path:
    import torch
    from transformers import LlamaForCausalLM

    from mathverify.models.card import ModelCard
    from mathverify.models.tiny import build_tokenizer, tiny_llama_config
    from mathverify.models.verifier import VerifierModel, save_verifier

    tokenizer = build_tokenizer()
    torch.manual_seed(0)
    backbone = LlamaForCausalLM(
        tiny_llama_config(
            tokenizer, hidden_size=64, num_layers=2, num_heads=2, max_positions=max_length
        )
    )
    card = ModelCard(
        kind=kind, label_scheme="hard", extra={"n_outputs": 1, "max_length": max_length}
    )
    return save_verifier(VerifierModel(backbone, 1), directory, tokenizer, card)


def invoke(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, (args, result.output)


def test_char_tokenizer_reads_real_math_text_with_unknown_characters():
    # The model-free half of the test below: characters outside printable ASCII become <unk>,
    # one token each, and every step still gets its own score position.
    from mathverify.models.tiny import UNK, build_tokenizer
    from mathverify.models.verifier_examples import tokenize_prm_example
    from mathverify.prompting import PromptFormat

    tokenizer = build_tokenizer()
    steps = ["194 ÷ 11 = 17 r 9, so 194 = 11 × 17 + 9.", "π ≈ 3.14 — fine.", "\\boxed{9}"]
    encoded = tokenize_prm_example(tokenizer, PromptFormat(), "Find 194 mod 11 (≡).", steps)
    unk = tokenizer.convert_tokens_to_ids(UNK)
    assert encoded["input_ids"].count(unk) == 6  # ≡ ÷ × π ≈ —
    positions = encoded["score_positions"]
    assert len(positions) == len(steps) and positions == sorted(set(positions))


def test_real_processbench_rows_scored_by_a_tiny_model_end_to_end(tmp_path):
    paths = {}
    for split in ("gsm8k", "math"):
        rows = json.loads(require_data("processbench", f"{split}.json").read_text("utf-8"))
        # Both kinds in each file, so a threshold can be chosen on gsm8k.
        picked = [r for r in rows if r["label"] == -1][:3] + [r for r in rows if r["label"] >= 0][
            :3
        ]
        source = tmp_path / f"{split}.json"
        source.write_text(json.dumps(picked), encoding="utf-8")
        paths[split] = source
    text = "".join(
        step for path in paths.values() for r in json.loads(path.read_text()) for step in r["steps"]
    )
    assert any(ord(c) > 126 for c in text)  # real math text: characters the tokenizer lacks

    # The PRM's context (1024 characters) ends inside some solutions: later steps get None.
    for kind, max_length in (("prm", 1024), ("orm", 4096)):
        model = make_random_verifier(tmp_path / kind, kind, max_length)
        for split, source in paths.items():
            labeled, problems = tmp_path / f"{split}.jsonl", tmp_path / f"{split}.problems.jsonl"
            invoke(
                [
                    "data",
                    "processbench",
                    "--split",
                    split,
                    "--input",
                    str(source),
                    "-o",
                    str(labeled),
                    "--problems-out",
                    str(problems),
                ]
            )
            invoke(
                [
                    "score",
                    "-s",
                    str(model),
                    "-p",
                    str(problems),
                    "-i",
                    str(labeled),
                    "-o",
                    str(tmp_path / f"{split}.{kind}.jsonl"),
                ]
            )
        scored = [
            json.loads(line) for line in (tmp_path / f"math.{kind}.jsonl").read_text().splitlines()
        ]
        assert len(scored) == 6
        for row in scored:
            scores = row["step_scores"]
            assert len(scores) == len(row["steps"])
            assert all(0.0 <= s <= 1.0 for s in scores if s is not None)
            if kind == "orm":  # one score, for the whole solution, at the last step
                assert scores[-1] is not None and all(s is None for s in scores[:-1])
        if kind == "prm":
            flat = [s for row in scored for s in row["step_scores"]]
            assert None in flat and any(s is not None for s in flat)
        payload = pb_json(
            [
                str(tmp_path / f"math.{kind}.jsonl"),
                "--threshold-from",
                str(tmp_path / f"gsm8k.{kind}.jsonl"),
            ]
        )["processbench"]
        (split_numbers,) = payload["inputs"][0]["splits"]
        assert split_numbers["split"] == "math"
        assert (split_numbers["n_erroneous"], split_numbers["n_correct"]) == (3, 3)
        assert split_numbers["f1"] is not None and 0.0 <= split_numbers["f1"] <= 1.0
