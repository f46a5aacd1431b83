"""Every subcommand's main path on demo-sized stand-ins, with no FutureWarning or
DeprecationWarning from our code or from our calls into transformers, torch, trl (issue #34).

A deprecated keyword or API prints one of these at every call (into the progress bars) and
becomes an error at the library's next major release. The pipeline below runs each command
once, in the order `make demo` and the examples chain them, on a random-init tiny Llama
(:func:`tiny_policy_dir`) and a few synthetic problems; every FutureWarning and
DeprecationWarning raised while one of our frames is on the stack is recorded, unless it is
raised by a library's own import (its module code, not our call). ``data hub`` needs the
network and ``summarize-seeds`` the demo's directories: neither is run here.
"""

from __future__ import annotations

import json
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from transformers.utils.deprecation import deprecate_kwarg
from typer.testing import CliRunner

import mathverify
from mathverify.cli import app

runner = CliRunner()
FIXTURES = Path(__file__).parent / "fixtures"
PACKAGE = str(Path(mathverify.__file__).resolve().parent)
GRADE = ["--grade-workers", "1"]


@contextmanager
def deprecations_we_cause(package: str = PACKAGE) -> Iterator[list[str]]:
    """Record each FutureWarning/DeprecationWarning whose stack holds a frame of mathverify,
    with the innermost such frame, except those raised while a library is being imported."""
    found: list[str] = []

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if not issubclass(category, (FutureWarning, DeprecationWarning)):
            return
        stack = traceback.extract_stack()[:-1]
        ours = [
            i for i, f in enumerate(stack) if str(Path(f.filename).resolve()).startswith(package)
        ]
        if not ours:
            return
        below = stack[ours[-1] + 1 :]
        if any(frame.filename.startswith("<frozen importlib") for frame in below):
            return
        caller = stack[ours[-1]]
        entry = (
            f"{category.__name__}: {message} (raised at {filename}:{lineno}; "
            f"our call: {caller.filename}:{caller.lineno})"
        )
        if entry not in found:  # once per call site: a forward warns at every token
            found.append(entry)

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show
        yield found


@deprecate_kwarg("past_key_values", "5.40.0", new_name="cache")
def _renamed(cache: object = None) -> object:
    return cache


def test_the_recorder_finds_a_deprecated_keyword_only_below_our_frames() -> None:
    with deprecations_we_cause(package=str(Path(__file__).resolve().parent)) as found:
        _renamed(past_key_values=1)  # a frame of this folder calls with the old name
    assert len(found) == 1 and "past_key_values" in found[0]
    with deprecations_we_cause() as found:
        _renamed(past_key_values=1)  # no frame of mathverify/ on the stack
    assert found == []


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, tiny_policy_dir: Path) -> dict:
    """Runs every command once, in pipeline order; returns the recorded warnings by command."""
    root = tmp_path_factory.mktemp("warnings_cli")
    found: dict[str, list[str]] = {}
    failures: dict[str, str] = {}

    def run(name: str, *args: str) -> None:
        with deprecations_we_cause() as seen:
            result = runner.invoke(app, list(args))
        found[name] = seen
        if result.exit_code != 0:
            failures[name] = (result.output or repr(result.exception))[-600:]

    data, policy = root / "data", str(tiny_policy_dir)
    test = str(data / "test.jsonl")
    out = {k: str(root / f"{k}.jsonl") for k in ("samples", "outcome", "exact", "rollout")}
    model = {k: str(root / k) for k in ("sft", "prm", "orm", "value", "svpo")}
    run("data synth", "data", "synth", "-o", str(data), "--train-size", "6", "--test-size", "3")
    for name, path in (
        ("math500", "math500_head3.jsonl"),
        ("mario", "mario_qaf_3.json"),
        ("gsm8k", "gsm8k_test_head3.jsonl"),
        ("prm800k", "prm800k_openr_samples.jsonl"),
        ("math-shepherd", "math_shepherd_format.jsonl"),
    ):
        run(f"data {name}", "data", name, "--input", str(FIXTURES / path), "-o", str(root / name))
    run("data processbench", "data", "processbench", "--split", "gsm8k", "--input",
        str(FIXTURES / "processbench_format.json"), "-o", str(root / "processbench"))  # fmt: skip

    run("train-policy sft", "train-policy", "-i", str(data / "train.jsonl"), "-o", model["sft"],
        "--init", policy, "--max-steps", "2", "--batch-size", "2", "--logging-steps", "1")  # fmt: skip
    run("generate", "generate", "--policy", policy, "-p", test, "-n", "2", "--max-tokens", "24",
        "-o", out["samples"])  # fmt: skip
    run("label outcome", "label", "--method", "outcome", "-p", test, "-i", out["samples"],
        "-o", out["outcome"], *GRADE)  # fmt: skip
    run("label exact", "label", "--method", "exact", "-p", test, "-i", out["samples"],
        "-o", out["exact"])  # fmt: skip
    run("label rollout", "label", "--method", "rollout", "-p", test, "-i", out["exact"],
        "-o", out["rollout"], "--policy", policy, "--rollouts", "2", "--max-tokens", "8", *GRADE)  # fmt: skip
    train = ["-i", out["exact"], "-p", test, "--init", policy, "--max-steps", "2",
             "--batch-size", "2", "--eval-steps", "2", "--logging-steps", "1", "--quiet"]  # fmt: skip
    run("train-prm", "train-prm", *train, "-o", model["prm"])
    run("train-orm", "train-orm", *train, "-o", model["orm"])
    run("train-value", "train-value", *train, "-o", model["value"])
    run("score", "score", "-s", model["prm"], "-p", test, "-i", out["exact"],
        "-o", str(root / "scored.jsonl"))  # fmt: skip
    run("label supervisor", "label", "--method", "supervisor", "-p", test, "-i", out["samples"],
        "-o", str(root / "supervised.jsonl"), "--scorer", model["prm"])  # fmt: skip

    search = ["search", "--policy", policy, "-p", test, "--max-depth", "3",
              "--max-step-tokens", "8", *GRADE]  # fmt: skip
    sampled = ["-n", "2", "--scorer", model["prm"]]
    for method, options in (
        ("greedy", []),
        ("majority", ["-n", "2"]),
        ("best-of-n", sampled),
        ("weighted-vote", sampled),
        (
            "sbs",
            [
                "--b1",
                "1",
                "--b2",
                "2",
                "--scorer",
                model["prm"],
                "--save-tree",
                str(root / "sbs-trees.jsonl"),
            ],
        ),  # fmt: skip
        (
            "mcts",
            [
                "--b2",
                "2",
                "--simulations",
                "2",
                "--scorer",
                model["value"],
                "--save-tree",
                str(root / "mcts-trees.jsonl"),
            ],
        ),  # fmt: skip
    ):
        run(
            f"search {method}", *search, "-m", method, *options, "-o", str(root / f"{method}.jsonl")
        )
    run("search offline", "search", "-m", "offline", "--trees", str(root / "sbs-trees.jsonl"),
        "-p", test, "-o", str(root / "offline.jsonl"), *GRADE)  # fmt: skip
    run("label mcts", "label", "--method", "mcts", "-p", test, "-i", str(root / "mcts-trees.jsonl"),
        "-o", str(root / "mcts-labels.jsonl"))  # fmt: skip
    run("label mcts --pairs", "label", "--method", "mcts", "--pairs", "-p", test,
        "-i", str(root / "mcts-trees.jsonl"), "-o", str(root / "pairs.jsonl"))  # fmt: skip
    # Trees this small give no sibling steps of different Q, so the pairs are written here.
    problem_id = json.loads(Path(test).read_text().splitlines()[0])["id"]
    pairs = root / "hand-pairs.jsonl"
    pairs.write_text(json.dumps({"problem_id": problem_id, "node": 0, "prefix": [],
        "chosen": "= 5", "rejected": "= 6", "chosen_q": 0.5, "rejected_q": -0.5,
        "chosen_node": 1, "rejected_node": 2}) + "\n")  # fmt: skip
    run("train-policy svpo", "train-policy", "--objective", "svpo", "-i", str(pairs),
        "-p", test, "-o", model["svpo"], "--init", policy, "--max-steps", "1", "--batch-size", "2")  # fmt: skip

    run("eval", "eval", out["outcome"], str(root / "scored.jsonl"), "-p", test,
        "--json", str(root / "eval.json"), "--plot", str(root / "plots"), *GRADE)  # fmt: skip
    run("select", "select", "-i", str(root / "scored.jsonl"), "-o", str(root / "picked.jsonl"))
    return {"found": found, "failures": failures}


def test_every_command_runs(pipeline: dict) -> None:
    assert pipeline["failures"] == {}


def test_no_deprecation_warning_from_our_calls(pipeline: dict) -> None:
    raised = {name: seen for name, seen in pipeline["found"].items() if seen}
    assert raised == {}
