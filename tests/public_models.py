"""Tiny random models and tokenizers in the formats of public PRMs and reward models.

Built on the spot (no download) for the tests of :mod:`mathverify.scoring.public` and for
anyone who needs a stand-in for a public checkpoint: a byte-level BPE tokenizer trained on a
few sentences, with the special tokens and chat template of the format, saved with a tiny
random model of the format's architecture class.

- ``math-shepherd``: MistralForCausalLM; a SentencePiece-style tokenizer as Mistral's
  (``▁`` marks a word start, ``<unk>`` for characters it lacks, ``<s>`` added in front), so
  ``encode("+ -")[1:]`` is ``▁+ ▁-`` as on the card; the step tag ``ки``.
- ``qwen-prm``: Qwen2ForTokenClassification (2 labels), or the layout of the real
  checkpoint (``Qwen2ForProcessRewardModel``: a Qwen2 decoder and an MLP head ``score.0``,
  ``score.2``); ChatML template; ``<extra_0>``.
- ``rlhflow``: LlamaForCausalLM with a Llama-3-style chat template.
- ``orm-seqcls``: LlamaForSequenceClassification (1 or 2 labels), Llama-3-style template.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    LlamaForSequenceClassification,
    MistralConfig,
    MistralForCausalLM,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForTokenClassification,
)

CORPUS = [
    "Compute (12+7)*3-5. Step 1: = 19*3-5 Step 2: = 57-5 Step 3: = 52 The answer is \\boxed{52}",
    "What is the sum of 2 and 3? We add the numbers: 2 + 3 = 5.\n\nSo the answer is $\\boxed{5}$.",
    "Please reason step by step, and put your final answer within \\boxed{}.",
    "Let x be a real number such that x^2 - 4 = 0. Then x = 2 or x = -2.\n\nHence + and -.",
    "system user assistant Janet's ducks lay 16 eggs per day. She eats three for breakfast.",
]

QWEN_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."

# ChatML, as Qwen2.5's template renders system, user and assistant turns.
CHATML_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Llama 3's layout: BOS, then per turn a role header, a blank line, the trimmed content, eot.
LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>"
    "\n\n{{ m['content'] | trim }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)


def bpe_tokenizer(
    special: list[str],
    *,
    bos: str | None = None,
    eos: str,
    pad: str | None = None,
    added: tuple[str, ...] = (),
    chat_template: str | None = None,
    vocab_size: int = 420,
) -> PreTrainedTokenizerFast:
    """A byte-level BPE trained on :data:`CORPUS` (merges, so words span several bytes)."""
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(CORPUS, trainer=trainer)
    if added:
        core.add_tokens([AddedToken(t, normalized=False) for t in added])
    if bos is not None:
        core.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A",
            pair=f"{bos} $A {bos} $B",
            special_tokens=[(bos, core.token_to_id(bos))],
        )
    else:
        core.post_processor = processors.ByteLevel(trim_offsets=False)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token=bos, eos_token=eos, pad_token=pad or eos
    )
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    return tokenizer


# Sentences with " + " and " - " between words, so the SentencePiece-style tokenizer learns
# the word-start tokens "▁+" and "▁-" that Mistral's vocabulary has.
SIGN_CORPUS = ["Steps are marked + or - after each step: + means right, - means wrong."]


def sentencepiece_tokenizer(
    special: list[str],
    *,
    bos: str,
    eos: str,
    unk: str,
    added: tuple[str, ...] = (),
    corpus: list[str] | None = None,
    vocab_size: int = 420,
) -> PreTrainedTokenizerFast:
    """A BPE over ``▁``-marked words, as Llama 2's and Mistral's SentencePiece tokenizers: no
    byte fallback, so a character the corpus lacks encodes to ``unk``."""
    core = Tokenizer(models.BPE(unk_token=unk))
    core.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    core.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=special, show_progress=False
    )
    core.train_from_iterator(corpus if corpus is not None else CORPUS + SIGN_CORPUS, trainer)
    if added:
        core.add_tokens([AddedToken(t, normalized=False) for t in added])
    core.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A",
        pair=f"{bos} $A {bos} $B",
        special_tokens=[(bos, core.token_to_id(bos))],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token=bos, eos_token=eos, unk_token=unk, pad_token=eos
    )


def _shake(model: torch.nn.Module, seed: int, std: float = 0.3) -> None:
    """Redraw every weight matrix from N(0, std) so scores differ visibly between positions."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() > 1:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * std)


def _sizes(tokenizer: PreTrainedTokenizerFast, hidden: int, layers: int) -> dict:
    return dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )


def math_shepherd_tokenizer(*, tag: bool = True) -> PreTrainedTokenizerFast:
    """Mistral-style; ``tag=False`` leaves out ``ки``, whose characters are then unknown."""
    return sentencepiece_tokenizer(
        ["<unk>", "<s>", "</s>"], bos="<s>", eos="</s>", unk="<unk>", added=("ки",) if tag else ()
    )


def qwen_prm_tokenizer() -> PreTrainedTokenizerFast:
    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<extra_0>"]
    tokenizer = bpe_tokenizer(
        special, eos="<|im_end|>", pad="<|endoftext|>", chat_template=CHATML_TEMPLATE
    )
    tokenizer.add_special_tokens({"additional_special_tokens": ["<extra_0>"]})
    return tokenizer


def llama3_tokenizer() -> PreTrainedTokenizerFast:
    special = [
        "<|begin_of_text|>",
        "<|end_of_text|>",
        "<|start_header_id|>",
        "<|end_header_id|>",
        "<|eot_id|>",
    ]
    return bpe_tokenizer(
        special,
        bos="<|begin_of_text|>",
        eos="<|eot_id|>",
        pad="<|end_of_text|>",
        chat_template=LLAMA3_TEMPLATE,
    )


def save_math_shepherd(
    directory: Path,
    *,
    seed: int = 0,
    hidden: int = 64,
    layers: int = 2,
    sliding_window: int = 16,
    tokenizer: PreTrainedTokenizerFast | None = None,
) -> Path:
    """Mistral's sliding window, shorter here than the test texts, so it matters."""
    tokenizer = tokenizer or math_shepherd_tokenizer()
    torch.manual_seed(seed)
    config = MistralConfig(
        **_sizes(tokenizer, hidden, layers),
        sliding_window=sliding_window,
        tie_word_embeddings=False,
    )
    model = MistralForCausalLM(config)
    _shake(model, seed)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return Path(directory)


def save_rlhflow(
    directory: Path,
    *,
    seed: int = 0,
    hidden: int = 64,
    layers: int = 2,
    tokenizer: PreTrainedTokenizerFast | None = None,
) -> Path:
    tokenizer = tokenizer or llama3_tokenizer()
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(**_sizes(tokenizer, hidden, layers)))
    _shake(model, seed)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return Path(directory)


def save_orm_seqcls(
    directory: Path,
    *,
    num_labels: int = 1,
    seed: int = 0,
    hidden: int = 64,
    layers: int = 2,
    tokenizer: PreTrainedTokenizerFast | None = None,
) -> Path:
    tokenizer = tokenizer or llama3_tokenizer()
    torch.manual_seed(seed)
    model = LlamaForSequenceClassification(
        LlamaConfig(**_sizes(tokenizer, hidden, layers), num_labels=num_labels)
    )
    _shake(model, seed)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return Path(directory)


def save_qwen_prm(
    directory: Path,
    *,
    seed: int = 0,
    hidden: int = 64,
    layers: int = 2,
    mlp_head: bool = False,
    tokenizer: PreTrainedTokenizerFast | None = None,
) -> Path:
    """A Qwen2 token-classification PRM; ``mlp_head`` saves the real checkpoint's layout
    (architecture ``Qwen2ForProcessRewardModel``, head ``score.0`` -> ReLU -> ``score.2``)."""
    tokenizer = tokenizer or qwen_prm_tokenizer()
    torch.manual_seed(seed)
    config = Qwen2Config(**_sizes(tokenizer, hidden, layers), num_labels=2)
    model = Qwen2ForTokenClassification(config)
    _shake(model, seed)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    if mlp_head:
        generator = torch.Generator().manual_seed(seed + 1)
        state = {k: v for k, v in model.state_dict().items() if not k.startswith("score.")}
        state["score.0.weight"] = torch.randn(hidden, hidden, generator=generator) * 0.3
        state["score.0.bias"] = torch.randn(hidden, generator=generator) * 0.3
        state["score.2.weight"] = torch.randn(2, hidden, generator=generator) * 0.3
        state["score.2.bias"] = torch.randn(2, generator=generator) * 0.3
        save_file(
            {k: v.contiguous() for k, v in state.items()},
            str(Path(directory) / "model.safetensors"),
        )
        config_path = Path(directory) / "config.json"
        saved = json.loads(config_path.read_text())
        saved["architectures"] = ["Qwen2ForProcessRewardModel"]
        saved["auto_map"] = {
            "AutoModel": "modeling_qwen2_rm.Qwen2ForProcessRewardModel",
            "AutoConfig": "configuration_qwen2_rm.Qwen2RMConfig",
        }
        config_path.write_text(json.dumps(saved, indent=2))
    return Path(directory)
