"""Public scorers refuse, in one line, what would give a silent wrong number (issue #34).

A tag or label token the tokenizer cannot encode as one known token, a checkpoint whose
loading report has weights transformers initialised at random, a config naming another
kind of head, a directory that is not a model, activations that overflow: each is a
:class:`MathverifyError` with a one-line message (``error: ...`` and exit 2 at the CLI),
never scores. The checkpoints are the tiny ones of ``tests/public_models.py``, edited here.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import public_models as pm
import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.errors import MathverifyError
from mathverify.scoring import load_scorer
from mathverify.scoring.public import PUBLIC_FORMATS, encode_solution, format_token_ids

PROBLEM = "What is the sum of 2 and 3?"
STEPS = ["We add the numbers: 2 + 3 = 5.", "So the answer is $\\boxed{5}$."]

SAVERS: dict[str, Callable[..., Path]] = {
    "math-shepherd": pm.save_math_shepherd,
    "qwen-prm": pm.save_qwen_prm,
    "rlhflow": pm.save_rlhflow,
    "orm-seqcls": pm.save_orm_seqcls,
}


def _one_line(message: str) -> None:
    assert "\n" not in message.strip(), message


def _cli_score(model: Path, fmt: str, tmp_path: Path) -> tuple[int, list[str]]:
    problems = tmp_path / "p.jsonl"
    problems.write_text(json.dumps({"id": "p0", "problem": PROBLEM, "answer": "5"}) + "\n")
    solutions = tmp_path / "s.jsonl"
    solutions.write_text(json.dumps({"problem_id": "p0", "sample_id": 0, "steps": STEPS}) + "\n")
    args = ["score", "--scorer", str(model), "--scorer-format", fmt, "--device", "cpu"]
    result = CliRunner().invoke(app, [*args, "-p", str(problems), "-i", str(solutions)])
    # transformers' progress bars ("Loading weights: 100%|...") go to stderr too.
    lines = [line for line in result.output.splitlines() if line.strip()]
    return result.exit_code, [line for line in lines if not re.search(r"\d+%\|", line)]


# --- tags and label tokens --------------------------------------------------------------


def _sp(corpus: list[str], added: tuple[str, ...] = ()) -> PreTrainedTokenizerFast:
    return pm.sentencepiece_tokenizer(
        ["<unk>", "<s>", "</s>"], bos="<s>", eos="</s>", unk="<unk>", added=added, corpus=corpus
    )


def _without(char: str) -> list[str]:
    return [line.replace(char, " ") for line in pm.CORPUS + pm.SIGN_CORPUS]


TOKENIZERS: dict[str, tuple[str, Callable[[], PreTrainedTokenizerFast], str]] = {
    # The user's case: a SentencePiece tokenizer without ``ки`` encodes it to <unk>.
    "shepherd-tag-unknown": (
        "math-shepherd",
        lambda: pm.math_shepherd_tokenizer(tag=False),
        "unknown",
    ),
    # A byte-level tokenizer without ``ки`` splits it into byte tokens.
    "shepherd-tag-split": (
        "math-shepherd",
        lambda: pm.bpe_tokenizer(["<unk>", "<s>", "</s>"], bos="<s>", eos="</s>"),
        "not one",
    ),
    # A byte-level tokenizer encodes "+ -" as "+" and "Ġ-": two kinds of token.
    "shepherd-pair-of-two-kinds": (
        "math-shepherd",
        lambda: pm.bpe_tokenizer(["<unk>", "<s>", "</s>"], bos="<s>", eos="</s>", added=("ки",)),
        "two kinds",
    ),
    "shepherd-plus-unknown": ("math-shepherd", lambda: _sp(_without("+"), ("ки",)), "unknown"),
    "rlhflow-plus-unknown": ("rlhflow", lambda: _sp(_without("+")), "unknown"),
    "rlhflow-minus-unknown": ("rlhflow", lambda: _sp(_without("-")), "unknown"),
    # A tokenizer without the special token <extra_0> spells it out in pieces.
    "qwen-separator-split": ("qwen-prm", pm.llama3_tokenizer, "not one"),
}


OWN_TOKENIZERS: dict[str, Callable[[], PreTrainedTokenizerFast]] = {
    "math-shepherd": pm.math_shepherd_tokenizer,
    "rlhflow": pm.llama3_tokenizer,
    "qwen-prm": pm.qwen_prm_tokenizer,
}


@pytest.mark.parametrize("case", list(TOKENIZERS))
def test_a_tag_or_label_that_is_not_one_known_token_is_refused(case: str) -> None:
    fmt, make, why = TOKENIZERS[case]
    # The same checks accept the format's own tokenizer (a check that refuses all is useless).
    own = OWN_TOKENIZERS[fmt]()
    ids = format_token_ids(fmt, own)
    assert own.unk_token_id not in ids.values()
    assert len(set(ids.values())) == len(ids)
    with pytest.raises(MathverifyError, match=why) as caught:
        format_token_ids(fmt, make())
    _one_line(str(caught.value))


def test_math_shepherd_without_its_tag_is_one_line_exit_2(tmp_path: Path) -> None:
    """The user's report: the tag encoded to <unk>, and the tool scored at every <unk>."""
    model = pm.save_math_shepherd(
        tmp_path / "math-shepherd-no-tag", tokenizer=pm.math_shepherd_tokenizer(tag=False)
    )
    code, lines = _cli_score(model, "math-shepherd", tmp_path)
    assert code == 2
    assert len(lines) == 1 and "ки" in lines[0] and "unknown token" in lines[0], lines


# --- the loading report -----------------------------------------------------------------


def _edit_weights(directory: Path, edit: Callable[[dict[str, torch.Tensor]], None]) -> None:
    file = directory / "model.safetensors"
    state = load_file(str(file))
    edit(state)
    save_file({k: v.contiguous() for k, v in state.items()}, str(file))


def _edit_config(directory: Path, **changes: object) -> None:
    file = directory / "config.json"
    config = json.loads(file.read_text())
    config.update(changes)
    file.write_text(json.dumps(config))


@pytest.mark.parametrize("fmt", ["math-shepherd", "rlhflow"])
def test_a_causal_lm_without_its_lm_head_is_refused(tmp_path: Path, fmt: str) -> None:
    """The user's report: a checkpoint without an LM head scored with a random one (two
    runs, two sets of scores), exit 0. A bare decoder (``LlamaModel``) has no LM head."""
    tokenizer = pm.math_shepherd_tokenizer() if fmt == "math-shepherd" else pm.llama3_tokenizer()
    model = LlamaForCausalLM(LlamaConfig(**pm._sizes(tokenizer, 64, 2)))
    directory = tmp_path / "bare-decoder"
    model.model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    with pytest.raises(MathverifyError, match="lm_head.weight") as caught:
        load_scorer(directory, scorer_format=fmt, device="cpu")
    message = str(caught.value)
    _one_line(message)
    assert "1 weight " in message and "initialised at random" in message


@pytest.mark.parametrize("fmt", PUBLIC_FORMATS)
def test_missing_weights_are_named_with_a_count(tmp_path: Path, fmt: str) -> None:
    """Every format: the first three missing weights and how many more (orm-seqcls ended
    in a traceback, slicing a set; the causal-LM formats dropped the report)."""
    directory = SAVERS[fmt](tmp_path / fmt)

    def drop_last_layer(state: dict[str, torch.Tensor]) -> None:
        for key in [k for k in state if k.startswith("model.layers.1.")]:
            del state[key]

    _edit_weights(directory, drop_last_layer)
    with pytest.raises(MathverifyError) as caught:
        load_scorer(directory, scorer_format=fmt, device="cpu")
    message = str(caught.value)
    _one_line(message)
    # A Llama/Mistral/Qwen2 layer has 9 weight tensors (Qwen2 also 3 biases).
    n = 12 if fmt == "qwen-prm" else 9
    assert f"{n} weights" in message and f"and {n - 3} more" in message, message
    assert message.count("model.layers.1.") == 3, message


@pytest.mark.parametrize("fmt", PUBLIC_FORMATS)
def test_weights_of_another_shape_are_refused(tmp_path: Path, fmt: str) -> None:
    """A config that does not fit the checkpoint: transformers raised a RuntimeError (a
    traceback), or with ignore_mismatched_sizes re-initialised the weights at random."""
    directory = SAVERS[fmt](tmp_path / fmt)
    _edit_config(directory, intermediate_size=96)
    with pytest.raises(MathverifyError, match="mlp") as caught:
        load_scorer(directory, scorer_format=fmt, device="cpu")
    message = str(caught.value)
    _one_line(message)
    assert "6 weights" in message and "in the checkpoint" in message, message


def test_tied_embeddings_are_not_missing_weights_but_a_dropped_head_is(tmp_path: Path) -> None:
    """A causal LM whose LM head is its input embeddings (``tie_word_embeddings``) saves no
    ``lm_head.weight`` and loads complete; the same checkpoint untied lacks one weight."""
    tokenizer = pm.llama3_tokenizer()
    config = LlamaConfig(**pm._sizes(tokenizer, 64, 2), tie_word_embeddings=True)
    tied = tmp_path / "rlhflow-tied"
    LlamaForCausalLM(config).save_pretrained(tied)
    tokenizer.save_pretrained(tied)
    assert not any(k.startswith("lm_head.") for k in load_file(str(tied / "model.safetensors")))
    scores = load_scorer(tied, scorer_format="rlhflow", device="cpu").score([PROBLEM], [STEPS])
    assert all(0.0 < s < 1.0 for s in scores[0])

    untied = tmp_path / "rlhflow-untied"
    shutil.copytree(tied, untied)
    _edit_config(untied, tie_word_embeddings=False)
    with pytest.raises(MathverifyError, match="lm_head.weight") as caught:
        load_scorer(untied, scorer_format="rlhflow", device="cpu")
    _one_line(str(caught.value))


def test_orm_seqcls_missing_its_head_is_one_line_exit_2(tmp_path: Path) -> None:
    directory = pm.save_orm_seqcls(tmp_path / "orm")
    _edit_weights(directory, lambda state: state.pop("score.weight"))
    code, lines = _cli_score(directory, "orm-seqcls", tmp_path)
    assert code == 2
    assert len(lines) == 1 and "score.weight" in lines[0], lines


def test_a_config_naming_another_head_is_refused(tmp_path: Path) -> None:
    """A sequence classifier whose LM head would be its tied input embeddings loads as a
    causal LM without one missing weight; its config says what it is."""
    tokenizer = pm.llama3_tokenizer()
    directory = pm.save_orm_seqcls(tmp_path / "orm-tied", tokenizer=tokenizer)
    _edit_config(directory, tie_word_embeddings=True)
    with pytest.raises(MathverifyError, match="LlamaForSequenceClassification") as caught:
        load_scorer(directory, scorer_format="rlhflow", device="cpu")
    _one_line(str(caught.value))


# --- load failures ----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", PUBLIC_FORMATS)
def test_a_directory_that_is_not_a_model_is_one_line_exit_2(tmp_path: Path, fmt: str) -> None:
    """The user's report: a five-line message with transformers' own error inside."""
    directory = tmp_path / "notes"
    directory.mkdir()
    (directory / "readme.txt").write_text("not a model\n")
    code, lines = _cli_score(directory, fmt, tmp_path)
    assert code == 2
    assert len(lines) == 1 and "not a model directory" in lines[0], lines


@pytest.mark.parametrize("fmt", PUBLIC_FORMATS)
def test_a_model_without_tokenizer_or_weights_is_one_line_exit_2(tmp_path: Path, fmt: str) -> None:
    source = SAVERS[fmt](tmp_path / "source")
    no_tokenizer = tmp_path / "no-tokenizer"
    no_tokenizer.mkdir()
    shutil.copy(source / "config.json", no_tokenizer / "config.json")
    shutil.copy(source / "model.safetensors", no_tokenizer / "model.safetensors")
    no_weights = tmp_path / "no-weights"
    shutil.copytree(source, no_weights)
    (no_weights / "model.safetensors").unlink()
    for directory, what in ((no_tokenizer, "tokenizer"), (no_weights, "the model")):
        code, lines = _cli_score(directory, fmt, tmp_path)
        assert code == 2
        assert len(lines) == 1 and "cannot load" in lines[0] and what in lines[0], lines


# --- encoding and arithmetic ------------------------------------------------------------


def test_orm_seqcls_keeps_the_one_bos_the_tokenizer_does_not_add() -> None:
    """Skywork's card drops the template's BOS because its tokenizer adds one; a tokenizer
    that adds none must keep the template's, or the model sees no BOS at all."""
    adds = pm.llama3_tokenizer()
    core = pm.llama3_tokenizer()._tokenizer
    core.post_processor = None
    no_bos = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",
        pad_token="<|end_of_text|>",
    )
    no_bos.chat_template = pm.LLAMA3_TEMPLATE
    assert no_bos("x")["input_ids"][0] != no_bos.bos_token_id
    for tokenizer in (adds, no_bos):
        ids = encode_solution("orm-seqcls", tokenizer, PROBLEM, STEPS, {})["input_ids"]
        bos = tokenizer.bos_token_id
        assert ids[0] == bos and ids[1] != bos


@pytest.mark.parametrize("fmt", PUBLIC_FORMATS)
def test_activations_that_overflow_are_refused(tmp_path: Path, fmt: str) -> None:
    """float16 holds at most 65504: a final norm scaled past it makes inf, and the scores
    NaN, which were written as scores."""
    directory = SAVERS[fmt](tmp_path / fmt)
    generator = torch.Generator().manual_seed(0)

    def blow_up(state: dict[str, torch.Tensor]) -> None:
        weight = state["model.norm.weight"]
        signs = torch.randint(0, 2, weight.shape, generator=generator) * 2 - 1
        state["model.norm.weight"] = signs.to(weight.dtype) * 1e6

    _edit_weights(directory, blow_up)
    scorer = load_scorer(directory, scorer_format=fmt, device="cpu", dtype=torch.float16)
    with pytest.raises(MathverifyError, match="not finite") as caught:
        scorer.score([PROBLEM], [STEPS])
    _one_line(str(caught.value))


@pytest.mark.parametrize("fmt", PUBLIC_FORMATS)
def test_a_tokenizer_with_more_tokens_than_the_model_is_refused(tmp_path: Path, fmt: str) -> None:
    """Token ids past the embedding rows were an IndexError traceback (a device assert on
    CUDA): the model is cut short of the largest id the solution encodes to."""
    directory = SAVERS[fmt](tmp_path / fmt)
    intact = load_scorer(directory, scorer_format=fmt, device="cpu")
    rows = max(intact.tokenize(PROBLEM, STEPS)["input_ids"])

    def cut(state: dict[str, torch.Tensor]) -> None:
        for key in ("model.embed_tokens.weight", "lm_head.weight"):
            if key in state:
                state[key] = state[key][:rows]

    _edit_weights(directory, cut)
    _edit_config(directory, vocab_size=rows)
    with pytest.raises(MathverifyError, match=f"past the model's {rows}-row") as caught:
        load_scorer(directory, scorer_format=fmt, device="cpu").score([PROBLEM], [STEPS])
    _one_line(str(caught.value))
