"""Every transformers internal mathverify touches, on the installed release (issue #37).

:mod:`mathverify.models.compat` lists them in its docstring and in ``INTERNALS``; each has a
test here. A release that renames one, drops it or changes the parameters we pass fails
here with a message naming the internal and the release (``make test-oldest`` runs these on
pyproject's floor), before it fails as a ``TypeError`` inside ``generate`` or a ``Trainer``
that silently stops calling our override.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import transformers
from transformers import (
    LlamaForCausalLM,
    LogitsProcessor,
    LogitsProcessorList,
    MistralConfig,
    TemperatureLogitsWarper,
    TopPLogitsWarper,
    Trainer,
    TrainingArguments,
)

from mathverify.models import compat
from mathverify.models.compat import (
    INTERNALS,
    Internal,
    TransformersChanged,
    attention_implementation,
    cache_keyword,
    check,
    check_internal,
    check_overrides,
    copied_layer,
    fill_layers,
    generation_processors,
    has_plain_layers,
    layer_tensors,
    new_cache,
    select_rows,
    use_attention,
)
from mathverify.models.kv_slab import SlabLayer
from mathverify.models.tiny import build_tokenizer, tiny_llama_config
from mathverify.training.verifier_common import VerifierTrainer

VERSION = transformers.__version__


@pytest.fixture(scope="module")
def model() -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = tiny_llama_config(build_tokenizer(), hidden_size=64, num_layers=2, num_heads=2)
    return LlamaForCausalLM(config).eval()


def _fails_clearly(name: str) -> None:
    try:
        check_internal(name)
    except TransformersChanged as exc:
        pytest.fail(str(exc))


# --------------------------------------------------------------------------------------
# The table: each internal exists and takes what we pass (or, overridden, what we define)


@pytest.mark.parametrize("name", sorted(INTERNALS))
def test_internal_signature(name: str) -> None:
    _fails_clearly(name)


def test_every_internal_is_in_the_docstring_list() -> None:
    listed = compat.__doc__ or ""
    missing = [name for name in INTERNALS if name.split(".")[-1] not in listed]
    assert not missing, f"add to mathverify/models/compat.py's docstring: {missing}"


def _takes_two(self: Any, a: int, b: int) -> None: ...


class _Owner:
    method = _takes_two


@pytest.mark.parametrize(
    ("internal", "what"),
    [
        (Internal("_Owner.gone", __name__, ("self",), "x.py"), "does not exist"),
        (Internal("_Owner.method", __name__, ("self", "c"), "x.py"), "relies on (self, c)"),
        (Internal("_Owner.method", __name__, ("self", "b", "a"), "x.py"), "takes (self, a, b)"),
        (Internal("_Owner.method", __name__, ("self", "a"), "x.py", override=True), "takes"),
    ],
)
def test_a_changed_internal_is_named_with_the_release(internal: Internal, what: str) -> None:
    """The check itself can fail: gone, a parameter we pass missing or moved, an
    overridden method that gained a parameter."""
    with pytest.raises(TransformersChanged) as info:
        check(internal)
    message = str(info.value)
    assert message.startswith(f"transformers {VERSION}: {internal.name} (used by ")
    assert what in message
    check(Internal("_Owner.method", __name__, ("self", "a"), "x.py"))  # a subset passes
    check(Internal("_Owner.method", __name__, ("self", "a", "b"), "x.py", override=True))


# --------------------------------------------------------------------------------------
# forward(cache=...) / forward(past_key_values=...)


def test_cache_keyword_is_the_one_the_forward_reads(model: LlamaForCausalLM) -> None:
    """A release that takes the cache by another name drops ours into ``**kwargs``."""
    for module in (model, model.base_model):
        keyword = cache_keyword(module)
        cache = new_cache(model.config)
        module(input_ids=torch.tensor([[4, 9, 11]]), use_cache=True, **{keyword: cache})
        assert cache.get_seq_length() == 3, (
            f"transformers {VERSION}: {type(module).__name__}.forward({keyword}=...) "
            "did not use the cache passed"
        )


# --------------------------------------------------------------------------------------
# GenerationMixin._prepare_special_tokens and _get_logits_processor


class _Mark(LogitsProcessor):
    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return scores


def test_generation_processors_are_the_configs(model: LlamaForCausalLM) -> None:
    prompts = torch.tensor([[1, 5, 6], [0, 1, 7]])
    mark = _Mark()
    options = {"do_sample": True, "temperature": 0.7, "top_p": 0.9, "top_k": 0}
    processors = generation_processors(
        model, options, prompts, LogitsProcessorList([mark]), torch.device("cpu")
    )
    kinds = [type(p) for p in processors]
    assert processors[0] is mark  # the caller's processor runs first, on raw logits
    assert TemperatureLogitsWarper in kinds and TopPLogitsWarper in kinds
    greedy = generation_processors(
        model,
        {"do_sample": False, "temperature": 1.0, "top_p": 1.0},
        prompts,
        LogitsProcessorList([]),
        torch.device("cpu"),
    )
    assert not any(isinstance(p, TemperatureLogitsWarper) for p in greedy)
    assert model.generation_config.temperature != 0.7  # the model's own config is untouched


# --------------------------------------------------------------------------------------
# DynamicCache, DynamicLayer


def test_new_cache_has_a_layer_per_decoder_layer(model: LlamaForCausalLM) -> None:
    cache = new_cache(model.config)
    assert len(cache.layers) == model.config.num_hidden_layers
    assert has_plain_layers(cache)
    windowed = MistralConfig(
        sliding_window=4,
        num_hidden_layers=3,
        hidden_size=32,
        num_attention_heads=2,
        num_key_value_heads=1,
        vocab_size=50,
        intermediate_size=64,
    )
    assert not has_plain_layers(new_cache(windowed))  # sliding-window layers are not plain
    full = new_cache(windowed, full_layers=True)
    assert len(full.layers) == 3 and has_plain_layers(full)


def _kv(layers: int, rows: int, positions: int) -> torch.Tensor:
    return torch.randn(2 * layers, rows, 2, positions, 8)


def test_dynamic_layer_attributes_we_write(model: LlamaForCausalLM) -> None:
    """Keys and values written into an empty layer are what it holds, extends and reports."""
    cache = new_cache(model.config)
    kv = _kv(2, 3, 5)
    fill_layers(cache, kv)
    for index, (keys, values) in enumerate(layer_tensors(cache)):
        assert torch.equal(keys, kv[2 * index]) and torch.equal(values, kv[2 * index + 1])
    layer = cache.layers[0]
    assert layer.is_initialized and layer.get_seq_length() == 5
    new_k, new_v = torch.randn(3, 2, 1, 8), torch.randn(3, 2, 1, 8)
    keys, values = layer.update(new_k, new_v)
    assert keys.shape[2] == 6 and torch.equal(keys[:, :, :5], kv[0])
    assert torch.equal(values[:, :, 5:], new_v)
    assert cache.get_seq_length() == 6
    rows = torch.tensor([2, 0])
    copy = copied_layer(cache.layers[1], rows)
    assert torch.equal(copy.keys, kv[2][rows]) and torch.equal(copy.values, kv[3][rows])
    assert copy.get_seq_length() == 5 and cache.layers[1].keys.shape[0] == 3  # source kept


def test_a_filled_cache_feeds_the_forward_as_an_encoded_prefix(model: LlamaForCausalLM) -> None:
    """The cache we fill by hand is read by the forward as if it had encoded the prefix."""
    ids = torch.tensor([[4, 9, 11, 12, 30, 31]])
    whole = model(input_ids=ids).logits[:, -1]
    prefix = new_cache(model.config)
    model(input_ids=ids[:, :4], use_cache=True, **{cache_keyword(model): prefix})
    stored = torch.stack([part for pair in layer_tensors(prefix) for part in pair])
    filled = new_cache(model.config)
    fill_layers(filled, stored)
    rest = model(
        input_ids=ids[:, 4:],
        position_ids=torch.tensor([[4, 5]]),
        use_cache=True,
        **{cache_keyword(model): filled},
    ).logits[:, -1]
    assert torch.allclose(whole, rest, atol=1e-5)


def test_select_rows(model: LlamaForCausalLM) -> None:
    cache = new_cache(model.config)
    kv = _kv(2, 3, 4)
    fill_layers(cache, kv)
    select_rows(cache, torch.tensor([1, 1, 2]))
    keys, values = layer_tensors(cache)[1]
    assert torch.equal(keys, kv[2][[1, 1, 2]]) and torch.equal(values, kv[3][[1, 1, 2]])


# --------------------------------------------------------------------------------------
# Our overrides: SlabLayer (DynamicLayer) and VerifierTrainer (Trainer)


def test_our_overrides_match_the_table() -> None:
    check_overrides(SlabLayer)
    check_overrides(VerifierTrainer)

    class Drifted(Trainer):
        def _save(self, output_dir: str | None = None) -> None: ...

    with pytest.raises(AssertionError, match=r"Drifted._save.*Trainer._save"):
        check_overrides(Drifted)


def test_trainer_save_model_reaches_the_save_override(tmp_path: Path) -> None:
    """``Trainer.save_model`` still calls ``_save``: VerifierTrainer writes its format there."""
    calls: list[str | None] = []

    class Recording(Trainer):
        def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
            calls.append(output_dir)

    check_overrides(Recording)
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    trainer = Recording(model=torch.nn.Linear(2, 1), args=args)
    trainer.save_model(str(tmp_path / "out"))
    assert calls == [str(tmp_path / "out")], (
        f"transformers {VERSION}: Trainer.save_model no longer calls Trainer._save"
    )


# --------------------------------------------------------------------------------------
# Attention: config._attn_implementation, the registries, sdpa


def test_attention_implementation_is_readable(model: LlamaForCausalLM) -> None:
    assert attention_implementation(model) == "sdpa"


def test_use_attention_switches_the_model() -> None:
    torch.manual_seed(0)
    config = tiny_llama_config(build_tokenizer(), hidden_size=64, num_layers=2, num_heads=2)
    model = LlamaForCausalLM(config).eval()
    ids = torch.tensor([[4, 9, 11, 12], [1, 2, 3, 4]])
    reference = model(input_ids=ids).logits
    calls = []

    def kernel(*args: Any, **kwargs: Any) -> tuple[torch.Tensor, None]:
        calls.append(1)
        return compat.sdpa_attention(*args, **kwargs)

    use_attention(model, "mathverify_test_kernel", kernel)
    assert attention_implementation(model) == "mathverify_test_kernel"
    assert torch.allclose(model(input_ids=ids).logits, reference, atol=1e-5)
    assert len(calls) == config.num_hidden_layers


def test_checkpointing_field_is_a_training_arguments_field() -> None:
    import dataclasses

    from transformers import TrainingArguments

    field = compat.checkpointing_field()
    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    assert field in names, f"transformers {transformers.__version__}: no TrainingArguments.{field}"
    # The trainers pass it switched off, and TrainingArguments takes it.
    TrainingArguments(output_dir="unused", **{field: False})
