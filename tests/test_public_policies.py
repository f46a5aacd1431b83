"""Policies without ``mathverify.json``: chat prompts from the tokenizer's template, and the
real-model code paths (byte-level BPE with merges, special tokens, a chat template) end to end.

The models come from :mod:`bpe_models` (built on the spot, a few seconds each): a Qwen2-style
one whose tokenizer merges ``".\\n\\n"`` into one token, and a Llama-3-style one that merges
the separator with the next step's first word and adds its BOS itself.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import bpe_models
import pytest
from transformers import AutoTokenizer
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.errors import MathverifyError
from mathverify.models.card import ModelCard, load_card
from mathverify.models.prompts import model_prompt_format
from mathverify.prompting import DEFAULT_SYSTEM, PromptFormat
from mathverify.records import Problem, RecordWriter, Solution, read_all
from mathverify.steps import extract_answer
from mathverify.training.prm import tokenize_prm_example

runner = CliRunner()
SEP = bpe_models.SEP
FAST = ["--grade-workers", "1"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bpe")
    return {f: bpe_models.build_model(f, root / f) for f in bpe_models.FLAVOURS}


@pytest.fixture(scope="module")
def problems_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("problems") / "problems.jsonl"
    with RecordWriter(str(path), Problem) as writer:
        writer.write_all(bpe_models.problems(3, seed=7))
    return path


def invoke(*args: str) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# ---------------------------------------------------------------------------------------
# The prompt


@pytest.mark.parametrize("flavour", bpe_models.FLAVOURS)
@pytest.mark.parametrize("system", [DEFAULT_SYSTEM, "Be brief.", None])
def test_chat_prompt_is_the_template_rendered_once(models, flavour, system) -> None:
    tokenizer = AutoTokenizer.from_pretrained(models[flavour])
    prompt = PromptFormat.chat(tokenizer, system=system)
    problem = "What is 2 + 5?"
    assert prompt.prompt(problem) == bpe_models.chat_prompt(flavour, problem, system)
    assert prompt.prefix(problem, ["a.", "b."]) == prompt.prompt(problem) + "a.\n\nb.\n\n"
    ids = tokenizer(prompt.prompt(problem))["input_ids"]
    # The template's BOS is dropped from the text because the tokenizer adds its own: once.
    bos = tokenizer.bos_token_id
    assert ids.count(bos) == (1 if flavour == "llama" else 0) if bos is not None else True
    if flavour == "llama":
        assert ids[0] == bos


def test_resolution_card_tokenizer_and_request(models, tmp_path) -> None:
    qwen = str(models["qwen"])
    auto = model_prompt_format(qwen)
    assert (auto.kind, auto.system, auto.separator) == ("chat", DEFAULT_SYSTEM, SEP)
    assert model_prompt_format(qwen, system="").system is None
    assert model_prompt_format(qwen, requested="plain") == PromptFormat()
    # A tokenizer without a chat template: plain on auto, a one-line error on chat.
    bare = tmp_path / "bare"
    tokenizer = AutoTokenizer.from_pretrained(qwen)
    tokenizer.chat_template = None
    tokenizer.save_pretrained(bare)
    assert model_prompt_format(str(bare)) == PromptFormat()
    with pytest.raises(MathverifyError, match="chat needs a chat template"):
        model_prompt_format(str(bare), requested="chat")
    # A card's format wins on auto; an explicit other kind overrides it.
    carded = tmp_path / "carded"
    tokenizer.chat_template = bpe_models.CHATML_TEMPLATE
    tokenizer.save_pretrained(carded)
    ModelCard(kind="policy", prompt=PromptFormat(template="Q: {problem}\nA:")).save(carded)
    assert model_prompt_format(str(carded)).template == "Q: {problem}\nA:"
    assert model_prompt_format(str(carded), requested="chat").kind == "chat"
    # A name neither on disk nor in the hub cache: no network lookup, so plain on auto.
    assert model_prompt_format("no-such/model-anywhere") == PromptFormat()


# ---------------------------------------------------------------------------------------
# The step separator across BPE merges


@pytest.mark.parametrize(
    ("flavour", "merged"),
    [("qwen", ".\n\n"), ("llama", ".\n\nThe")],
)
def test_score_positions_land_on_the_separator_across_merges(models, flavour, merged) -> None:
    """Score positions are found by character offsets of the whole text (training/prm.py):
    each step's position is the last token that starts before the end of its separator,
    i.e. the token holding the separator, merged with the step's end (qwen: ``".\n\n"``)
    or also with the next step's start (llama: ``"7.\n\nThe sum is 1"``). The ids are
    those of the whole text, as the backends and scorers encode it."""
    tokenizer = AutoTokenizer.from_pretrained(models[flavour])
    prompt = PromptFormat.chat(tokenizer)
    problem = bpe_models.problems(1)[0]
    steps = bpe_models.solution_steps(problem)
    encoded = tokenize_prm_example(tokenizer, prompt, problem.problem, steps)
    text = prompt.prefix(problem.problem, steps)
    assert encoded["input_ids"] == tokenizer(text)["input_ids"]
    offsets = tokenizer(text, return_offsets_mapping=True)["offset_mapping"]
    pieces = [text[a:b] for a, b in offsets]
    assert any(merged in piece for piece in pieces)  # the merge under test really happens
    positions = encoded["score_positions"]
    assert len(positions) == len(steps) and positions == sorted(set(positions))
    end = len(prompt.prompt(problem.problem))
    for step, position in zip(steps, positions, strict=True):
        end += len(step) + len(SEP)
        start, stop = offsets[position]
        assert start < end and stop > end - len(SEP)  # the token overlaps the separator
        assert position + 1 == len(offsets) or offsets[position + 1][0] >= end
    assert SEP in pieces[positions[0]] and pieces[positions[0]] != SEP


def test_prefix_ids_extend_when_merges_keep_newlines_apart(models) -> None:
    """With Qwen2's pre-tokenizer the newlines never merge with the next word, so a search
    prefix (steps so far plus the separator) tokenises to a prefix of the whole solution's
    ids: a PRM reads the same token at a step whether it scores a prefix or the whole."""
    tokenizer = AutoTokenizer.from_pretrained(models["qwen"])
    prompt = PromptFormat.chat(tokenizer)
    problem = bpe_models.problems(1)[0]
    steps = bpe_models.solution_steps(problem)
    whole = tokenize_prm_example(tokenizer, prompt, problem.problem, steps)
    for k in range(1, len(steps)):
        part = tokenize_prm_example(tokenizer, prompt, problem.problem, steps[:k])
        assert whole["input_ids"][: len(part["input_ids"])] == part["input_ids"]
        assert whole["score_positions"][:k] == part["score_positions"]


# ---------------------------------------------------------------------------------------
# End to end through the CLI


@pytest.mark.parametrize("flavour", bpe_models.FLAVOURS)
def test_generate_with_a_cardless_chat_policy(models, problems_file, tmp_path, flavour) -> None:
    out = tmp_path / "solutions.jsonl"
    invoke("generate", "--policy", models[flavour], "-p", problems_file, "-o", out,
           "-n", "2", "--max-tokens", "48", "--seed", "1")  # fmt: skip
    solutions = rows(out)
    assert len(solutions) == 6
    for solution in solutions:
        assert solution["meta"]["prompt_format"] == {
            "template": PromptFormat().template,
            "separator": SEP,
            "kind": "chat",
            "system": DEFAULT_SYSTEM,
        }
        assert solution["steps"] == [s.strip() for s in solution["text"].split(SEP) if s.strip()]
        assert solution["answer"] == extract_answer(solution["text"])
    # The trained tiny model writes several steps and a boxed answer.
    assert any(len(s["steps"]) >= 2 and s["answer"] for s in solutions)
    plain = tmp_path / "plain.jsonl"
    invoke("generate", "--policy", models[flavour], "-p", problems_file, "-o", plain, "-n", "1",
           "--max-tokens", "8", "--prompt-format", "plain")  # fmt: skip
    assert all("kind" not in s["meta"]["prompt_format"] for s in rows(plain))


def test_openai_backend_sends_the_rendered_chat_prompt(models, problems_file, tmp_path) -> None:
    import threading

    from test_backend_openai import MODEL, FakeServer

    server = FakeServer()
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        out = tmp_path / "s.jsonl"
        invoke("generate", "--backend", "openai", "--base-url", server.url, "--model", MODEL,
               "--policy", models["llama"], "-p", problems_file, "-o", out, "-n", "1",
               "--temperature", "0", "--max-tokens", "80")  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    problems = {p.id: p.problem for p in read_all(problems_file, Problem)}
    sent = sorted(r["prompt"] for r in server.requests)
    assert sent == sorted(bpe_models.chat_prompt("llama", p) for p in problems.values())
    assert all(r["meta"]["prompt_format"]["kind"] == "chat" for r in rows(out))


def test_pipeline_with_a_cardless_chat_policy(models, problems_file, tmp_path) -> None:
    """generate -> outcome labels -> train-prm; rollout labels; SBS with the PRM; MCTS with
    gold reward -> MCTS labels -> train-value; train-policy. Every model trained from the
    cardless chat policy records the chat format and is read back with it."""
    policy, problems = models["qwen"], problems_file
    solutions, labeled = tmp_path / "solutions.jsonl", tmp_path / "labeled.jsonl"
    invoke("generate", "--policy", policy, "-p", problems, "-o", solutions, "-n", "4",
           "--max-tokens", "48", "--temperature", "1.0")  # fmt: skip
    invoke("label", "--method", "outcome", "-p", problems, "-i", solutions, "-o", labeled, *FAST)

    rollout = tmp_path / "rollout.jsonl"
    invoke("label", "--method", "rollout", "--policy", policy, "-p", problems, "-i", solutions,
           "-o", rollout, "--rollouts", "2", "--max-tokens", "32", *FAST)  # fmt: skip
    for row in rows(rollout):
        assert len(row["step_labels"]) == len(row["steps"])

    prm = tmp_path / "prm"
    invoke("train-prm", "-i", rollout, "-p", problems, "-o", prm, "--init", policy,
           "--max-steps", "2", "--batch-size", "4", "--eval-fraction", "0", "--quiet")  # fmt: skip
    card = load_card(prm)
    assert (card.prompt.kind, card.prompt.system, card.base_model) == (
        "chat",
        DEFAULT_SYSTEM,
        str(policy),
    )

    sbs = tmp_path / "sbs.jsonl"
    invoke("search", "--method", "sbs", "--b1", "1", "--b2", "2", "--policy", policy,
           "--scorer", prm, "--problems", problems, "--max-depth", "4", "--max-step-tokens", "16",
           "--device", "cpu", "--group-by", "string", "-o", sbs, *FAST)  # fmt: skip
    results = rows(sbs)
    assert len(results) == 3
    assert all(r["config"]["prompt"]["kind"] == "chat" for r in results)
    assert any(c["score"] is not None for r in results for c in r["candidates"])

    trees, mcts = tmp_path / "trees.jsonl", tmp_path / "mcts.jsonl"
    invoke("search", "--method", "mcts", "--policy", policy, "--scorer", "none", "--gold-reward",
           "--simulations", "3", "--b2", "2", "--max-depth", "4", "--max-step-tokens", "16",
           "--problems", problems, "--save-tree", trees, "-o", mcts,
           *FAST)  # fmt: skip
    q_labels = tmp_path / "q.jsonl"
    invoke("label", "--method", "mcts", "-p", problems, "-i", trees, "-o", q_labels)
    value = tmp_path / "value"
    invoke("train-value", "-i", q_labels, "-p", problems, "-o", value, "--init", policy,
           "--max-steps", "2", "--batch-size", "4", "--eval-fraction", "0", "--quiet")  # fmt: skip
    assert load_card(value).prompt.kind == "chat"

    gold = tmp_path / "gold.jsonl"
    with RecordWriter(str(gold), Solution) as writer:
        writer.write_all(
            Solution(problem_id=p.id, sample_id=0, steps=bpe_models.solution_steps(p))
            for p in read_all(problems, Problem)
        )
    sft = tmp_path / "sft"
    invoke("train-policy", "-i", gold, "-p", problems, "-o", sft, "--init", policy,
           "--max-steps", "1", "--batch-size", "2", "--logging-steps", "1")  # fmt: skip
    assert load_card(sft).prompt.kind == "chat"
    # Fine-tuned again from its card, it stays a chat model with the same system turn.
    sft2 = tmp_path / "sft2"
    invoke("train-policy", "-i", gold, "-p", problems, "-o", sft2, "--init", sft,
           "--max-steps", "1", "--batch-size", "2", "--logging-steps", "1")  # fmt: skip
    assert load_card(sft2).prompt == load_card(sft).prompt
    again = tmp_path / "again.jsonl"
    invoke("generate", "--policy", sft, "-p", problems, "-o", again, "-n", "1",
           "--max-tokens", "8")  # fmt: skip
    assert all(r["meta"]["prompt_format"]["kind"] == "chat" for r in rows(again))


def test_plain_policy_card_is_used_as_before(models, problems_file, tmp_path) -> None:
    """A card's plain format wins over the tokenizer's chat template on auto."""
    carded = tmp_path / "carded"
    shutil.copytree(models["qwen"], carded)
    ModelCard(kind="policy", prompt=PromptFormat()).save(carded)
    out = tmp_path / "s.jsonl"
    invoke("generate", "--policy", carded, "-p", problems_file, "-o", out, "-n", "1",
           "--max-tokens", "8")  # fmt: skip
    assert all("kind" not in r["meta"]["prompt_format"] for r in rows(out))


def test_prompt_format_errors_are_one_line(models, problems_file, tmp_path) -> None:
    bare = tmp_path / "bare"
    shutil.copytree(models["qwen"], bare)
    tokenizer = AutoTokenizer.from_pretrained(bare)
    tokenizer.chat_template = None
    for leftover in bare.glob("chat_template.*"):
        leftover.unlink()
    tokenizer.save_pretrained(bare)
    common = ["generate", "-p", str(problems_file), "-o", str(tmp_path / "s.jsonl"), "-n", "1"]
    for extra, message in [
        (["--policy", str(bare), "--prompt-format", "chat"], "chat needs a chat template"),
        (["--policy", str(models["qwen"]), "--prompt-format", "json"], "choose one of auto"),
    ]:
        result = runner.invoke(app, [*common, *extra])
        assert result.exit_code == 2
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and message in errors[0]


def test_step_stop_inside_a_merged_token(models) -> None:
    """The llama flavour writes the separator inside tokens like ``"7.\\n\\nThe sum is 1"``:
    a step-wise call still ends at the separator, and the step is the greedy solution's
    first step exactly (the characters after the separator in that token are dropped)."""
    from mathverify.backends import next_steps
    from mathverify.backends.hf import HFPolicy

    policy = HFPolicy.load(str(models["llama"]), device="cpu")
    prompt = PromptFormat.chat(policy.tokenizer).prompt(bpe_models.problems(1)[0].problem)
    [[whole]] = policy.complete([prompt], temperature=0.0, max_tokens=48)
    assert SEP in whole.text
    [[step]] = next_steps(policy, [prompt], separator=SEP, max_tokens=48)
    assert (step.step, step.finished) == (whole.text.split(SEP)[0].strip(), False)
    generated = policy.tokenizer(prompt + whole.text)["input_ids"]
    pieces = policy.tokenizer.convert_ids_to_tokens(generated)
    assert any("ĊĊ" in piece and piece != "ĊĊ" for piece in pieces)
