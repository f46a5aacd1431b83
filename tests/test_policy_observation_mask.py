"""SFT of code-step solutions: the sandbox's observations get no loss, plain solutions as before."""

from __future__ import annotations

import pytest

from mathverify.code_steps import observation_text
from mathverify.models.tiny import build_tokenizer
from mathverify.prompting import PromptFormat
from mathverify.sandbox import SandboxResult
from mathverify.training.policy import (
    mask_spans,
    observation_spans,
    sft_example,
    tokenize_example,
    tokenize_examples,
)

CODE = "```python\nprint(3*4)\n```\n"
OBS = "```output\n12\n```"


def _masked_text(completion: str) -> str:
    """The completion with every character in an observation span replaced by '_'."""
    chars = list(completion)
    for start, end in observation_spans(completion):
        chars[start:end] = "_" * (end - start)
    return "".join(chars)


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        # A step with no code: nothing is the sandbox's.
        ("= 12+(4+4)", "= 12+(4+4)"),
        ("", ""),
        # Code and its output: the fence is the model's (its stop string), the rest is not.
        (CODE + OBS + "\n= 12+4", CODE + "```output_______\n= 12+4"),
        # Several steps, each with code and output, joined by the separator.
        (
            CODE + OBS + "\n= 12+4\n\n" + CODE.replace("3*4", "12+4") + "```output\n16\n```\n= 16",
            CODE
            + "```output_______\n= 12+4\n\n"
            + CODE.replace("3*4", "12+4")
            + "```output_______\n= 16",
        ),
        # Two blocks in one step, a multi-line observation with a traceback's last line.
        (
            "```python\nx = 1\nprint(x)\nprint(y)\n```\n```output\n1\nNameError: name 'y'\n```\n"
            "```python\nprint(2)\n```\n```output\n2\n```\nso 2",
            "```python\nx = 1\nprint(x)\nprint(y)\n```\n```output"
            + "_" * len("\n1\nNameError: name 'y'\n```")
            + "\n"
            "```python\nprint(2)\n```\n```output" + "_" * len("\n2\n```") + "\nso 2",
        ),
        # An output block with no python block before it is the model's own text.
        ("```output\n12\n```\n= 12", "```output\n12\n```\n= 12"),
        # A second output block after one already answered the code: not the sandbox's.
        (CODE + OBS + "\n" + OBS, CODE + "```output_______\n" + OBS),
        # Code the model wrote but that has not run: no observation yet.
        (CODE + "= 12", CODE + "= 12"),
        # An output block that is never closed is not an observation.
        (CODE + "```output\n12", CODE + "```output\n12"),
    ],
)
def test_observation_spans(completion, expected):
    assert _masked_text(completion) == expected


def test_observation_spans_match_what_the_sandbox_appends():
    # What ReactPolicy appends after a step's code: a newline, then observation_text.
    result = SandboxResult(
        status="error",
        stdout="5\n",
        stderr="Traceback ...\nZeroDivisionError: x\n",
        returncode=1,
        seconds=0.1,
        message="ZeroDivisionError: x",
    )
    observation = observation_text(result)
    step = "```python\nprint(5)\nprint(1/0)\n```"
    completion = f"{step}\n{observation}\n= 5"
    (span,) = observation_spans(completion)
    assert completion[: span[0]] == f"{step}\n```output"
    assert completion[span[0] : span[1]] == observation[len("```output") :]
    assert completion[span[1] :] == "\n= 5"


@pytest.mark.parametrize(
    ("labels", "offsets", "spans", "expected"),
    [
        ([1, 2, 3], [(0, 1), (1, 2), (2, 3)], [], [1, 2, 3]),
        ([1, 2, 3], [(0, 1), (1, 2), (2, 3)], [(1, 2)], [1, -100, 3]),
        # A token that starts before the span keeps its label; one that starts in it does not.
        ([1, 2, 3], [(0, 2), (2, 4), (4, 5)], [(1, 3)], [1, -100, 3]),
        # Special tokens (empty offsets) are never masked; labels may be shorter (a cut).
        ([7, 1, 2], [(0, 0), (0, 1), (1, 2), (2, 3)], [(0, 3)], [7, -100, -100]),
        ([1, 2, 3, 4], [(0, 1), (1, 2), (2, 3), (3, 4)], [(0, 1), (2, 4)], [-100, 2, -100, -100]),
    ],
)
def test_mask_spans(labels, offsets, spans, expected):
    assert mask_spans(labels, offsets, spans) == expected


def test_tokenize_masks_exactly_the_observation_tokens():
    tokenizer = build_tokenizer()
    fmt = PromptFormat(template="{problem}\n")
    steps = [CODE + OBS + "\n= 12+4", CODE.replace("3*4", "12+4") + "```output\n16\n```\n= 16"]
    example = sft_example("Compute 3*4+4.", [*steps, "\\boxed{16}"], fmt)
    row = tokenize_example(tokenizer, example["prompt"], example["completion"], max_length=256)
    # The character tokenizer: one token per character, "\n\n" one token, then eos.
    pieces = [tokenizer.decode([i]) for i in row["input_ids"]]
    shown = "".join(
        "_" * len(p) if label == -100 else p for p, label in zip(pieces, row["labels"], strict=True)
    )
    prompt_mask = "_" * len(example["prompt"])
    assert shown == prompt_mask + _masked_text(example["completion"]) + "<eos>"
    assert shown.count("```output_______") == 2
    supervised = [
        i for i, label in zip(row["input_ids"], row["labels"], strict=True) if label != -100
    ]
    assert supervised == [label for label in row["labels"] if label != -100]


def test_plain_solutions_tokenize_as_before():
    """The plain format's rows are what the code before the masking gave (pinned ids)."""
    tokenizer = build_tokenizer()
    fmt = PromptFormat(template="{problem}\n")
    examples = [
        sft_example("Compute 1+2.", ["= 3", "\\boxed{3}"], fmt),
        sft_example("Compute 2*3-1.", ["= 6-1", "= 5", "\\boxed{5}"], fmt),
    ]
    rows = tokenize_examples(tokenizer, examples, max_length=256)
    for example, row in zip(examples, rows, strict=True):
        n_prompt = len(example["prompt"])
        ids = tokenizer(example["prompt"] + example["completion"])["input_ids"]
        assert row["input_ids"] == [*ids, tokenizer.eos_token_id]
        assert row["labels"] == [-100] * n_prompt + row["input_ids"][n_prompt:]
    assert rows[0]["input_ids"] == [
        *(tokenizer.convert_tokens_to_ids(c) for c in "Compute 1+2.\n= 3"),
        tokenizer.convert_tokens_to_ids("\n\n"),
        *(tokenizer.convert_tokens_to_ids(c) for c in "\\boxed{3}"),
        tokenizer.eos_token_id,
    ]


def test_observations_need_a_fast_tokenizer():
    from mathverify.errors import MathverifyError

    class Slow:
        eos_token_id = 0
        is_fast = False

        def __call__(self, texts, add_special_tokens=True, **_):
            return {"input_ids": [[ord(c) for c in t] for t in texts]}

    plain = tokenize_examples(Slow(), [{"prompt": "a\n", "completion": "= 1"}], 16)
    assert plain[0]["labels"] == [-100, -100, ord("="), ord(" "), ord("1"), 0]
    with pytest.raises(MathverifyError, match="fast tokenizer"):
        tokenize_examples(Slow(), [{"prompt": "a\n", "completion": CODE + OBS}], 64)
