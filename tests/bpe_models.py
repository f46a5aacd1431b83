"""Public-style models made on the spot: byte-level BPE tokenizers with chat templates, and
tiny Qwen2/Llama causal LMs, so the code paths of real checkpoints run in tests without weights.

Two flavours, as the public models come:

- ``qwen``: Qwen2's pre-tokenizer (its split regex, then byte-level; the regex is
  ``PRETOKENIZE_REGEX`` of transformers' ``models/qwen2/tokenization_qwen2.py``), so
  punctuation merges with the newlines after it (``".\\n\\n"`` is one token, as in
  Qwen2.5's vocabulary), a ChatML template (``<|im_start|>role\\n...<|im_end|>\\n``, the shape
  of Qwen2.5-Math-Instruct's ``tokenizer_config.json`` without its default system text),
  end of turn ``<|im_end|>``, no BOS; a ``Qwen2ForCausalLM``.
- ``llama``: byte-level BPE without any pre-split, so merges cross whitespace and the step
  separator merges with the next step's first word (``"\\n\\nThe"``), a Llama-3-style
  template (``{{ bos_token }}<|start_header_id|>role<|end_header_id|>\\n\\n...<|eot_id|>``,
  as in Llama-3.2-Instruct's ``tokenizer_config.json``, simplified) whose BOS the tokenizer
  also adds itself; a ``LlamaForCausalLM``.

The BPE merges are learned from a small corpus of chat-formatted solutions, and the model is
trained on the same corpus for a few dozen steps, so it writes steps separated by a blank
line that end in ``\\boxed{}`` (sometimes with the wrong number): enough for generation,
rollouts and search to have something to split, grade and choose between.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors
from tokenizers import trainers as bpe_trainers
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
)

from mathverify.prompting import DEFAULT_SYSTEM
from mathverify.records import Problem

QWEN2_SPLIT = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
CHATML_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
LLAMA3_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}"
    "{{- message['content'] | trim }}{{- '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)
FLAVOURS = ("qwen", "llama")
SPECIALS = {
    "qwen": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
    "llama": ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
              "<|eot_id|>"],
}  # fmt: skip
SEP = "\n\n"


def problems(count: int = 12, seed: int = 0) -> list[Problem]:
    """Addition problems ``What is a + b?`` with their answers."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        a, b = rng.randint(1, 9), rng.randint(1, 9)
        out.append(Problem(id=f"q{i:02d}", problem=f"What is {a} + {b}?", answer=str(a + b)))
    return out


def solution_steps(problem: Problem, answer: str | None = None) -> list[str]:
    """A three-step solution of ``problem`` (with ``answer`` in place of the right one)."""
    a, b = problem.problem.removeprefix("What is ").removesuffix("?").split(" + ")
    total = answer or problem.answer
    return [f"We add {a} and {b}.", f"The sum is {total}.", f"The answer is \\boxed{{{total}}}."]


def build_tokenizer(
    flavour: str, corpus: list[str], vocab_size: int = 700
) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer of ``flavour`` with merges learned from ``corpus``."""
    if flavour not in FLAVOURS:
        raise ValueError(f"flavour {flavour!r}: choose one of {FLAVOURS}")
    specials = SPECIALS[flavour]
    core = Tokenizer(models.BPE())
    if flavour == "qwen":
        core.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
    else:
        core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    trainer = bpe_trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(corpus, trainer)
    core.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    if flavour == "qwen":
        return PreTrainedTokenizerFast(
            tokenizer_object=core,
            eos_token="<|im_end|>",
            pad_token="<|endoftext|>",
            chat_template=CHATML_TEMPLATE,
        )
    bos = "<|begin_of_text|>"
    core.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, core.token_to_id(bos))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=bos,
        eos_token="<|eot_id|>",
        pad_token="<|end_of_text|>",
        chat_template=LLAMA3_TEMPLATE,
    )


def chat_prompt(flavour: str, problem: str, system: str | None = DEFAULT_SYSTEM) -> str:
    """The chat prompt written out by hand (not through a template engine), for checks."""
    if flavour == "qwen":
        head = f"<|im_start|>system\n{system}<|im_end|>\n" if system else ""
        return f"{head}<|im_start|>user\n{problem}<|im_end|>\n<|im_start|>assistant\n"
    head = f"<|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|>" if system else ""
    return (
        f"{head}<|start_header_id|>user<|end_header_id|>\n\n{problem}<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def corpus(flavour: str, count: int = 48, seed: int = 1) -> list[str]:
    """Chat-formatted solutions (about one in four with a wrong sum), ending in end of turn."""
    rng = random.Random(seed)
    end = "<|im_end|>" if flavour == "qwen" else "<|eot_id|>"
    texts = []
    for problem in problems(count, seed):
        wrong = str(int(problem.answer) + rng.choice([-1, 1])) if rng.random() < 0.25 else None
        steps = solution_steps(problem, wrong)
        texts.append(chat_prompt(flavour, problem.problem) + SEP.join(steps) + end)
    return texts


def build_model(
    flavour: str,
    directory: str | Path,
    *,
    train_steps: int = 40,
    seed: int = 0,
    hidden_size: int = 32,
    num_heads: int = 2,
) -> Path:
    """Save a tiny ``flavour`` causal LM (trained ``train_steps`` on :func:`corpus`) and its
    tokenizer to ``directory``, as a plain Hugging Face directory without mathverify.json.
    (vLLM's attention wants a head size of at least 32: ``hidden_size=64, num_heads=2``.)"""
    torch.manual_seed(seed)
    texts = corpus(flavour)
    tokenizer = build_tokenizer(flavour, texts)
    sizes = dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=2,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    if flavour == "qwen":
        model = Qwen2ForCausalLM(Qwen2Config(**sizes))
    else:
        model = LlamaForCausalLM(LlamaConfig(**sizes))
    _train(model, tokenizer, texts, train_steps)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    directory = Path(directory)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def _train(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast, texts: list[str], steps: int
) -> None:
    """A few full-batch AdamW steps of next-token loss (prompt tokens included: a tiny model
    learns the solutions' shape faster that way, which is all the tests need)."""
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        loss = model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
