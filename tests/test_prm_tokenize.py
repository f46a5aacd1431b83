"""Tokenising one PRM/ORM example: one score position per step, whatever the tokenizer.

The tables read as a specification: the score position of a step is the last token that
overlaps the separator after it; when the tokenizer merges the separator with its
neighbours (BPE), that merged token; when it drops the separator (whitespace
pre-tokenizers), the token covering the step's end.
"""

from __future__ import annotations

import random
import string

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from mathverify.errors import MathverifyError
from mathverify.models.tiny import build_tokenizer
from mathverify.models.verifier_examples import (
    score_positions,
    tokenize_orm_example,
    tokenize_prm_example,
    tokenize_prm_examples,
)
from mathverify.prompting import PromptFormat
from mathverify.training.prm import prm_targets

ALPHABET = [c for c in string.printable if c not in "\r\x0b\x0c"]
FORMAT = PromptFormat()
PROBLEM = "add 1 and 2"
STEPS = ["We add 1 and 2.", "The sum is 3.", "The answer is 3."]


def _wrap(core: Tokenizer) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<eos>", unk_token="<unk>")


def _bpe(corpus: list[str], merges: int) -> PreTrainedTokenizerFast:
    """A byte-pair tokenizer trained with no pre-tokenizer, so merges may cross "\\n\\n"."""
    core = Tokenizer(models.BPE(unk_token="<unk>"))
    trainer = trainers.BpeTrainer(
        vocab_size=len(ALPHABET) + 2 + merges,
        special_tokens=["<unk>", "<eos>"],
        initial_alphabet=ALPHABET,
        show_progress=False,
    )
    core.train_from_iterator(corpus, trainer=trainer)
    return _wrap(core)


def _words(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(3))


def _left_bpe() -> PreTrainedTokenizerFast:
    rng = random.Random(0)
    corpus = [f"{_words(rng)} {_words(rng)}.\n\n{_words(rng)}.\n\n" for _ in range(300)]
    return _bpe(corpus, 2)  # merges "\n\n", then ".\n\n"


def _right_bpe() -> PreTrainedTokenizerFast:
    rng = random.Random(0)
    corpus = [
        f"{rng.randint(0, 99)}\n\nThe {rng.randint(0, 99)}\n\nThe {_words(rng)}" for _ in range(300)
    ]
    return _bpe(corpus, 4)  # merges up to "\n\nThe"


def _both_bpe() -> PreTrainedTokenizerFast:
    rng = random.Random(0)
    corpus = [f"{_words(rng)}.\n\nThe {_words(rng)}.\n\nThe {_words(rng)}." for _ in range(300)]
    return _bpe(corpus, 6)  # merges up to ".\n\nThe "


def _whitespace_words() -> PreTrainedTokenizerFast:
    """Word-level with a whitespace pre-tokenizer: the separator has no token at all."""
    core = Tokenizer(models.WordLevel(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(special_tokens=["<unk>", "<eos>"])
    core.train_from_iterator([FORMAT.prompt(PROBLEM) + "\n\n".join(STEPS)], trainer=trainer)
    return _wrap(core)


def _char_with_bos() -> PreTrainedTokenizerFast:
    """The tiny character tokenizer, plus a BOS token added in front (empty offsets)."""
    tokenizer = build_tokenizer()
    tokenizer._tokenizer.post_processor = processors.TemplateProcessing(
        single="<bos> $A", special_tokens=[("<bos>", tokenizer.bos_token_id)]
    )
    return tokenizer


TOKENIZERS = {
    "char": build_tokenizer,
    "char+bos": _char_with_bos,
    "bpe-left": _left_bpe,
    "bpe-right": _right_bpe,
    "bpe-both": _both_bpe,
    "words": _whitespace_words,
}


@pytest.fixture(scope="module", params=list(TOKENIZERS))
def named_tokenizer(request: pytest.FixtureRequest) -> tuple[str, PreTrainedTokenizerFast]:
    return request.param, TOKENIZERS[request.param]()


def _token_text(tokenizer: PreTrainedTokenizerFast, text: str, ids: list[int], index: int) -> str:
    offsets = tokenizer(text, return_offsets_mapping=True)["offset_mapping"]
    start, end = offsets[index]
    return text[start:end]


def test_bpe_tokenizers_really_merge_the_separator() -> None:
    # Preconditions of the table below: the trained tokenizers merge as intended.
    assert _left_bpe().tokenize("x.\n\n") == ["x", ".\n\n"]
    assert "\n\nThe" in _right_bpe().tokenize("3\n\nThe")
    assert ".\n\nThe " in _both_bpe().tokenize("x.\n\nThe y")
    assert "\n" not in "".join(_whitespace_words().tokenize("a.\n\nThe"))


# The text each score position's token covers, step by step.
EXPECTED = {
    "char": ["\n\n", "\n\n", "\n\n"],
    "char+bos": ["\n\n", "\n\n", "\n\n"],
    "bpe-left": [".\n\n", ".\n\n", ".\n\n"],
    "bpe-right": ["\n\nThe", "\n\nThe", "\n\n"],
    "bpe-both": [".\n\nThe ", ".\n\nThe ", ".\n\n"],
    "words": [".", ".", "."],
}


def test_score_position_tokens(named_tokenizer: tuple[str, PreTrainedTokenizerFast]) -> None:
    name, tokenizer = named_tokenizer
    example = tokenize_prm_example(tokenizer, FORMAT, PROBLEM, STEPS, [1, 0, None])
    text = FORMAT.prompt(PROBLEM) + "\n\n".join(STEPS) + "\n\n"
    assert example["input_ids"] == tokenizer(text)["input_ids"]
    covered = [
        _token_text(tokenizer, text, example["input_ids"], p) for p in example["score_positions"]
    ]
    assert covered == EXPECTED[name]
    assert example["labels"] == [1, 0, None]


def test_one_position_per_step_at_the_separator(
    named_tokenizer: tuple[str, PreTrainedTokenizerFast],
) -> None:
    """The rule itself, for every tokenizer: exactly one increasing position per step, the
    last token starting before the separator ends, and it overlaps the separator if any does."""
    _, tokenizer = named_tokenizer
    steps = ["= 19*3-5", "= 57-5", "= 52", "\\boxed{52}"]
    example = tokenize_prm_example(tokenizer, FORMAT, "Compute (12+7)*3-5.", steps)
    text = FORMAT.prompt("Compute (12+7)*3-5.") + "\n\n".join(steps) + "\n\n"
    offsets = tokenizer(text, return_offsets_mapping=True)["offset_mapping"]
    positions = example["score_positions"]
    assert len(positions) == len(steps) == len(example["labels"])
    assert positions == sorted(set(positions))
    cursor = len(FORMAT.prompt("Compute (12+7)*3-5."))
    for step, position in zip(steps, positions, strict=True):
        sep_start = cursor + len(step)
        sep_end = sep_start + 2
        cursor = sep_end
        real = [i for i, (a, b) in enumerate(offsets) if a < b]
        overlapping = [i for i in real if offsets[i][0] < sep_end and offsets[i][1] > sep_start]
        if overlapping:
            assert position == overlapping[-1]
        else:
            assert offsets[position][0] < sep_start <= offsets[position][1]


# score_positions(offsets, separator_ends) as a table: special tokens have empty offsets.
POSITION_CASES = [
    ([(0, 1), (1, 3), (3, 4), (4, 6)], [3, 6], [1, 3]),
    ([(0, 0), (0, 1), (1, 3), (3, 4), (4, 6)], [3, 6], [2, 4]),  # BOS first
    ([(0, 2), (2, 5), (5, 7)], [3, 7], [1, 2]),  # separator merged with next step's start
    ([(0, 1), (3, 4)], [3, 6], [0, 1]),  # separators dropped: the step's last token
]


@pytest.mark.parametrize(("offsets", "ends", "expected"), POSITION_CASES)
def test_score_positions_table(
    offsets: list[tuple[int, int]], ends: list[int], expected: list[int]
) -> None:
    assert score_positions(offsets, ends) == expected


def test_two_steps_in_one_token_is_an_error() -> None:
    with pytest.raises(MathverifyError, match="step 1 has no token of its own"):
        score_positions([(0, 2), (2, 9)], [4, 6])


def test_max_length_keeps_a_prefix_of_steps() -> None:
    tokenizer = build_tokenizer()
    full = tokenize_prm_example(tokenizer, FORMAT, PROBLEM, STEPS, [1, 1, 0])
    cut = full["score_positions"][1] + 1
    short = tokenize_prm_example(tokenizer, FORMAT, PROBLEM, STEPS, [1, 1, 0], max_length=cut)
    assert short["input_ids"] == full["input_ids"][:cut]
    assert short["score_positions"] == full["score_positions"][:2]
    assert short["labels"] == [1, 1]


def test_labels_must_match_steps() -> None:
    with pytest.raises(MathverifyError, match="2 labels for 3 steps"):
        tokenize_prm_example(build_tokenizer(), FORMAT, PROBLEM, STEPS, [1, 0])


def test_default_labels_are_none() -> None:
    example = tokenize_prm_example(build_tokenizer(), FORMAT, PROBLEM, STEPS)
    assert example["labels"] == [None, None, None]


def test_custom_separator_and_template() -> None:
    fmt = PromptFormat(template="Q: {problem}\nA: ", separator=" ки\n")
    tokenizer = build_tokenizer(separator=" ки\n")
    # Cyrillic is outside the character tokenizer: each such character is one <unk>.
    example = tokenize_prm_example(tokenizer, fmt, PROBLEM, ["a", "b"])
    assert len(example["score_positions"]) == 2


TARGET_CASES = [
    # (labels, scheme, options, expected targets)
    ([1, 1, 0, 0], "hard", {}, [1.0, 1.0, 0.0, None]),
    ([1, 1, 0, 0], "hard", {"cut_after_first_wrong": False}, [1.0, 1.0, 0.0, 0.0]),
    ([1, None, 1], "hard", {}, [1.0, None, 1.0]),
    ([0.75, 0.25, 0.5], "soft", {}, [0.75, 0.25, None]),
    ([0.75, 0.25, 0.5], "soft", {"cut_after_first_wrong": False}, [0.75, 0.25, 0.5]),
    ([1, 0, -1, 1], "prm800k", {}, [1.0, 1.0, 0.0, None]),
    ([1, 0, -1, 1], "prm800k", {"neutral": "negative"}, [1.0, 0.0, None, None]),
    ([1, 0, -1, 1], "prm800k", {"neutral": "ignore"}, [1.0, None, 0.0, None]),
    ([1, 0, -1, 1], "prm800k", {"three_class": True}, [2.0, 1.0, 0.0, None]),
    (
        [1, 0, -1, 1],
        "prm800k",
        {"three_class": True, "cut_after_first_wrong": False},
        [2.0, 1.0, 0.0, 2.0],
    ),
]


@pytest.mark.parametrize(("labels", "scheme", "options", "expected"), TARGET_CASES)
def test_prm_targets(labels: list, scheme: str, options: dict, expected: list) -> None:
    assert prm_targets(labels, scheme, **options) == expected


def test_three_class_needs_prm800k() -> None:
    with pytest.raises(MathverifyError, match="prm800k"):
        prm_targets([1, 0], "hard", three_class=True)


def test_hard_scheme_rejects_fractions() -> None:
    with pytest.raises(MathverifyError, match="step 1"):
        prm_targets([1, 0.5], "hard")


def test_orm_scores_the_appended_eos() -> None:
    tokenizer = build_tokenizer()
    example = tokenize_orm_example(tokenizer, FORMAT, PROBLEM, STEPS, 1.0)
    text = FORMAT.prompt(PROBLEM) + "\n\n".join(STEPS)
    assert example["input_ids"] == tokenizer(text)["input_ids"] + [tokenizer.eos_token_id]
    assert example["score_positions"] == [len(example["input_ids"]) - 1]
    assert example["labels"] == [1.0]


def test_orm_example_too_long_has_no_position() -> None:
    example = tokenize_orm_example(build_tokenizer(), FORMAT, PROBLEM, STEPS, 0.0, max_length=10)
    assert example["score_positions"] == [] and example["labels"] == []


def test_batched_tokenisation_equals_one_at_a_time() -> None:
    tokenizer = build_tokenizer()
    solutions = [
        (PROBLEM, STEPS),
        ("Compute (12+7)*3-5.", ["12+7 = 19", "19*3 = 57", "57-5 = 52"]),
        (PROBLEM, STEPS[:1]),
    ]
    one_by_one = [
        tokenize_prm_example(tokenizer, FORMAT, p, s, max_length=20) for p, s in solutions
    ]
    assert tokenize_prm_examples(tokenizer, FORMAT, solutions, max_length=20) == one_by_one
    assert tokenize_prm_examples(tokenizer, FORMAT, []) == []
