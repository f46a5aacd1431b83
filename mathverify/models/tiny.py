"""A character tokenizer and tiny Llama configs, for models the project trains itself on CPU.

The tokenizer covers printable ASCII plus newline and tab, so any text (problems, code
steps, observations) round-trips; the default step separator ``"\\n\\n"`` is one token so a
PRM can read a score at exactly one position per step. Not for real-math models: those
come with their own tokenizer.
"""

from __future__ import annotations

import string
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import LlamaConfig, PreTrainedTokenizerFast

from mathverify.prompting import PromptFormat
from mathverify.steps import DEFAULT_SEPARATOR

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)


def build_tokenizer(separator: str = DEFAULT_SEPARATOR) -> PreTrainedTokenizerFast:
    """A character-level fast tokenizer with ``separator`` as a single token."""
    characters = [c for c in string.printable if c not in "\r\x0b\x0c"]
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for char in characters:
        vocab.setdefault(char, len(vocab))
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    # Split every character, newlines included (a "." pattern would miss "\n").
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    core.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    if len(separator) > 1:
        core.add_tokens([AddedToken(separator, special=False, normalized=False)])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token=PAD,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        # Decoder-only generation pads on the left; saved so reloaded copies agree.
        padding_side="left",
    )
    return tokenizer


def tiny_llama_config(
    tokenizer: PreTrainedTokenizerFast,
    *,
    hidden_size: int = 128,
    num_layers: int = 4,
    num_heads: int = 4,
    intermediate_size: int | None = None,
    max_positions: int = 512,
) -> LlamaConfig:
    """A small Llama config; head size stays >= 32 so vLLM's CPU attention accepts it.

    Llama rather than Qwen2: transformers 5 reloads any ``qwen2`` directory's tokenizer as a
    ``Qwen2Tokenizer`` whatever its tokenizer files say, which drops the character
    tokenizer's spaces and newlines; a ``llama`` directory keeps the saved tokenizer. With
    ``attention_bias`` the model has Qwen2's q/k/v biases (plus one on the output projection).
    """
    if hidden_size % num_heads or hidden_size // num_heads < 32:
        raise ValueError("hidden_size / num_heads must be an integer >= 32 (vLLM CPU attention)")
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or 4 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_positions,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        rms_norm_eps=1e-6,
        attention_bias=True,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def save_random_policy(
    directory: str | Path,
    *,
    seed: int = 0,
    prompt: PromptFormat | None = None,
    weight_std: float | None = None,
    **sizes: int,
) -> Path:
    """Save a random-init tiny policy (model, tokenizer, card) for tests and benchmarks.

    ``sizes`` go to :func:`tiny_llama_config` (hidden_size, num_layers, num_heads, ...).
    ``weight_std`` redraws every matrix from N(0, std): at the default init a tiny model's
    greedy text is one token repeated, while larger weights (0.1) make it depend on the
    whole context, so tests comparing texts can tell a wrong key or value anywhere.
    """
    import torch
    from transformers import LlamaForCausalLM

    from mathverify.models.card import ModelCard

    directory = Path(directory)
    tokenizer = build_tokenizer()
    torch.manual_seed(seed)
    model = LlamaForCausalLM(tiny_llama_config(tokenizer, **sizes))
    if weight_std is not None:
        torch.manual_seed(seed)
        with torch.no_grad():
            for weight in model.parameters():
                if weight.dim() == 2:
                    weight.normal_(0.0, weight_std)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    ModelCard(kind="policy", prompt=prompt or PromptFormat()).save(directory)
    return directory
