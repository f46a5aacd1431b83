"""The adapter: every transformers internal mathverify touches, behind one small API.

Private methods, cache-layer attributes and registries change between transformers
releases without a deprecation cycle. Nothing outside this module calls or overrides one;
the rest of the code calls the functions here, and each internal below has a test in
``tests/test_transformers_adapter.py`` that fails with a message naming the internal and
the installed release when a release changes it (the same check runs here on first use,
so a user on an untested release gets that message, not a ``TypeError`` from deep inside
``generate``). The supported range starts at pyproject's floor, which ``make test-oldest``
runs the suite on; where something was renamed inside that range, the function here picks
what the installed release (or a remote-code model) takes, so no other module tests a
version. Not for feature flags of our own.

Internals used (``grep -n "^- \\`\\`" mathverify/models/compat.py``), each with its test:

- ``forward(cache=...)`` / ``forward(past_key_values=...)``: the KV-cache keyword of a
  decoder's forward (renamed in 5.25) -- :func:`cache_keyword`;
  ``test_cache_keyword_is_the_one_the_forward_reads``.
- ``GenerationMixin._prepare_special_tokens``: fills a generation config's special-token
  tensors -- :func:`generation_processors`; ``test_internal_signature[...]``.
- ``GenerationMixin._get_logits_processor``: the logits processors ``generate`` builds for a
  generation config -- :func:`generation_processors`; ``test_internal_signature[...]``,
  ``test_generation_processors_are_the_configs``.
- ``DynamicCache(config=...)`` and ``DynamicCache.layers``: a cache with one layer per decoder
  layer, whose layers we replace -- :func:`new_cache`, :func:`set_layers`;
  ``test_internal_signature[DynamicCache.__init__]``, ``test_new_cache_has_a_layer_per_decoder_layer``.
- ``DynamicLayer.lazy_initialization``, ``DynamicLayer.keys`` / ``.values`` /
  ``.is_initialized``: written directly to fill a layer from stored tensors (and by
  ``SlabLayer`` for its own buffers) -- :func:`fill_layers`, :func:`copied_layer`,
  :func:`layer_tensors`; ``test_internal_signature[DynamicLayer.lazy_initialization]``,
  ``test_dynamic_layer_attributes_we_write``,
  ``test_a_filled_cache_feeds_the_forward_as_an_encoded_prefix``.
- ``DynamicLayer.batch_select_indices``: keeps (or repeats) rows of a layer --
  :func:`select_rows`; ``test_internal_signature[...]``, ``test_select_rows``.
- ``DynamicLayer.update`` / ``.get_mask_sizes`` / ``.get_seq_length`` /
  ``.batch_select_indices`` overridden by :class:`~mathverify.models.kv_slab.SlabLayer`
  (:class:`CacheLayer` is its base) -- :func:`check_overrides`;
  ``test_internal_signature[...]``, ``test_our_overrides_match_the_table``.
- ``PreTrainedConfig._attn_implementation``: which attention kernel a model runs --
  :func:`attention_implementation`; ``test_attention_implementation_is_readable``.
- ``AttentionInterface.register``, ``AttentionMaskInterface.register``,
  ``masking_utils.sdpa_mask``: a global registration of our CPU decoding kernel under its
  own name, with sdpa's masks -- :func:`use_attention`; ``test_internal_signature[...]``,
  ``test_use_attention_switches_the_model``.
- ``integrations.sdpa_attention.sdpa_attention_forward``: what our kernel falls back to --
  :func:`sdpa_attention`; ``test_internal_signature[...]``.
- ``Trainer._save``, ``Trainer._load_from_checkpoint``, ``Trainer._load_best_model``:
  overridden by :class:`~mathverify.training.verifier_common.VerifierTrainer` to save and
  load the verifier's directory format -- :func:`check_overrides` (run when the trainer is
  built); ``test_internal_signature[...]``, ``test_our_overrides_match_the_table``,
  ``test_trainer_save_model_reaches_the_save_override`` (``_load_from_checkpoint`` and
  ``_load_best_model`` are reached by resume and best-model tests in
  ``tests/test_train_verifiers.py``).
- ``TrainingArguments.activation_checkpointing`` / ``.gradient_checkpointing``: the field
  that switches activation checkpointing off (renamed in transformers 5, the old name a
  deprecated alias) -- :func:`checkpointing_field`;
  ``test_checkpointing_field_is_a_training_arguments_field``.
"""

from __future__ import annotations

import copy
import functools
import importlib
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import transformers
from transformers import DynamicCache, DynamicLayer, LogitsProcessorList

from mathverify.errors import MathverifyError

__all__ = [
    "INTERNALS",
    "CacheLayer",
    "Internal",
    "TransformersChanged",
    "attention_implementation",
    "checkpointing_field",
    "cache_keyword",
    "cache_layers",
    "check",
    "check_internal",
    "check_overrides",
    "copied_layer",
    "fill_layers",
    "generation_processors",
    "has_plain_layers",
    "is_plain_layer",
    "layer_tensors",
    "new_cache",
    "sdpa_attention",
    "select_rows",
    "set_layers",
    "use_attention",
]

# The base of our own cache layer (:class:`~mathverify.models.kv_slab.SlabLayer`).
CacheLayer = DynamicLayer


class TransformersChanged(MathverifyError):
    """The installed transformers no longer has an internal mathverify relies on, as used."""


@dataclass(frozen=True)
class Internal:
    """A transformers internal: where it is, and the parameters we rely on.

    ``parameters`` are the names we pass (they must all exist, in this order among the
    internal's parameters); for an ``override`` they are the whole signature, which the
    installed release's must equal (a new parameter would reach our override unhandled).
    """

    name: str  # e.g. "GenerationMixin._prepare_special_tokens"
    module: str  # where its owner is imported from
    parameters: tuple[str, ...]
    used_by: str
    override: bool = False

    def resolve(self) -> Any:
        """The internal itself; ``ImportError`` or ``AttributeError`` when it is gone."""
        owner_name, _, attribute = self.name.partition(".")
        module = importlib.import_module(self.module)
        try:
            owner = getattr(module, owner_name)
        except AttributeError:  # a submodule (``masking_utils``) the package does not import
            owner = importlib.import_module(f"{self.module}.{owner_name}")
        return getattr(owner, attribute)


_GENERATION = "transformers.generation.utils"
_CACHE = "transformers.cache_utils"

INTERNALS: dict[str, Internal] = {
    i.name: i
    for i in (
        Internal(
            "GenerationMixin._prepare_special_tokens",
            _GENERATION,
            ("self", "generation_config", "kwargs_has_attention_mask", "device"),
            "backends/hf_decoding.py",
        ),
        Internal(
            "GenerationMixin._get_logits_processor",
            _GENERATION,
            (
                "self",
                "generation_config",
                "input_ids_seq_length",
                "encoder_input_ids",
                "prefix_allowed_tokens_fn",
                "logits_processor",
                "device",
                "model_kwargs",
            ),
            "backends/hf_decoding.py",
        ),
        Internal("DynamicCache.__init__", _CACHE, ("self", "config"), "models/kv_prefix.py"),
        Internal(
            "DynamicLayer.lazy_initialization",
            _CACHE,
            ("self", "key_states", "value_states"),
            "models/kv_prefix.py",
        ),
        Internal(
            "DynamicLayer.batch_select_indices",
            _CACHE,
            ("self", "indices"),
            "models/kv_slab.py (override), backends/hf_decoding.py",
            override=True,
        ),
        Internal(
            "DynamicLayer.update",
            _CACHE,
            ("self", "key_states", "value_states", "args", "kwargs"),
            "models/kv_slab.py (override)",
            override=True,
        ),
        Internal(
            "DynamicLayer.get_mask_sizes",
            _CACHE,
            ("self", "query_length"),
            "models/kv_slab.py (override)",
            override=True,
        ),
        Internal(
            "DynamicLayer.get_seq_length",
            _CACHE,
            ("self",),
            "models/kv_slab.py (override)",
            override=True,
        ),
        Internal(
            "AttentionInterface.register",
            "transformers",
            ("key", "value"),
            "backends/hf_decoding.py",
        ),
        Internal(
            "AttentionMaskInterface.register",
            "transformers.masking_utils",
            ("key", "value"),
            "backends/hf_decoding.py",
        ),
        Internal(
            "masking_utils.sdpa_mask",
            "transformers",
            # Called by transformers itself under our kernel's name: these are its inputs.
            ("batch_size", "q_length", "kv_length"),
            "backends/hf_decoding.py",
        ),
        Internal(
            "sdpa_attention.sdpa_attention_forward",
            "transformers.integrations",
            ("module", "query", "key", "value", "attention_mask", "dropout", "scaling"),
            "backends/hf_decoding.py",
        ),
        Internal(
            "Trainer._save",
            "transformers",
            ("self", "output_dir", "state_dict"),
            "training/verifier_common.py (override)",
            override=True,
        ),
        Internal(
            "Trainer._load_from_checkpoint",
            "transformers",
            ("self", "resume_from_checkpoint", "model"),
            "training/verifier_common.py (override)",
            override=True,
        ),
        Internal(
            "Trainer._load_best_model",
            "transformers",
            ("self",),
            "training/verifier_common.py (override)",
            override=True,
        ),
    )
}


def _parameters(function: Any) -> tuple[str, ...]:
    return tuple(inspect.signature(function).parameters)


def _changed(name: str, used_by: str, what: str) -> TransformersChanged:
    return TransformersChanged(
        f"transformers {transformers.__version__}: {name} (used by mathverify/{used_by}) "
        f"{what}; this release changed an internal mathverify relies on: install a "
        "transformers release in pyproject's range, or adapt mathverify/models/compat.py"
    )


@functools.cache
def check_internal(name: str) -> None:
    """Raise :class:`TransformersChanged` when the installed release's ``name`` (a key of
    :data:`INTERNALS`) is gone or no longer takes the parameters we rely on (checked once)."""
    check(INTERNALS[name])


def check(internal: Internal) -> None:
    """:func:`check_internal` for any :class:`Internal`, every time."""
    name = internal.name
    try:
        found = internal.resolve()
    except (ImportError, AttributeError):
        raise _changed(name, internal.used_by, "does not exist") from None
    try:
        have = _parameters(found)
    except (TypeError, ValueError):
        raise _changed(name, internal.used_by, "has no signature") from None
    want = internal.parameters
    if internal.override:
        ok = have == want
    else:
        positions = [have.index(p) for p in want if p in have]
        ok = len(positions) == len(want) and positions == sorted(positions)
    if not ok:
        raise _changed(
            name,
            internal.used_by,
            f"takes ({', '.join(have)}); mathverify relies on ({', '.join(want)})",
        )


def check_overrides(cls: type) -> None:
    """Check every method of ``cls`` that overrides a transformers internal: the internal
    still exists with the signature in :data:`INTERNALS`, and ``cls``'s own matches it."""
    _check_overrides(cls)


@functools.cache
def _check_overrides(cls: type) -> None:
    for klass in cls.__mro__:
        if klass.__module__.split(".")[0] in ("transformers", "builtins"):
            continue
        for internal in INTERNALS.values():
            owner, _, method = internal.name.partition(".")
            if not internal.override or method not in klass.__dict__:
                continue
            if not any(base.__name__ == owner for base in klass.__mro__[1:]):
                continue
            check_internal(internal.name)
            ours = _parameters(klass.__dict__[method])
            if ours != internal.parameters:
                raise AssertionError(
                    f"{klass.__qualname__}.{method}{ours} does not match the "
                    f"{internal.name} signature in mathverify/models/compat.py "
                    f"INTERNALS {internal.parameters}"
                )


# --------------------------------------------------------------------------------------
# The forward's cache keyword


def cache_keyword(model: Any) -> str:
    """The keyword ``model``'s forward takes a KV cache by: ``cache`` or ``past_key_values``.

    transformers 5.25 renamed ``past_key_values`` to ``cache`` (``@deprecate_kwarg(
    "past_key_values", "5.40.0", new_name="cache")`` on every decoder's forward, in
    ``models/llama/modeling_llama.py``): the old name warns (a FutureWarning at every
    forward) and goes in 5.40; releases before 5.25 take only the old name, and silently
    drop ``cache`` into their ``**kwargs``. The signature says which one this model reads
    (the decorator keeps the wrapped function's signature, which names ``cache``), which
    also covers remote-code models written for either release.
    """
    parameters = inspect.signature(model.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


# --------------------------------------------------------------------------------------
# Generation


def generation_processors(
    model: Any,
    options: dict[str, Any],
    prompts: torch.Tensor,
    extra: LogitsProcessorList,
    device: torch.device,
) -> LogitsProcessorList:
    """The logits processors ``generate`` builds for ``model``'s generation config updated
    with ``options``, for left-padded ``prompts``, after ``extra`` (run first, as
    ``generate`` runs a caller's processors)."""
    check_internal("GenerationMixin._prepare_special_tokens")
    check_internal("GenerationMixin._get_logits_processor")
    config = copy.deepcopy(model.generation_config)
    config.update(**options)
    model._prepare_special_tokens(config, True, device=device)
    return model._get_logits_processor(
        generation_config=config,
        input_ids_seq_length=prompts.shape[1],
        encoder_input_ids=prompts,
        prefix_allowed_tokens_fn=None,
        logits_processor=extra,
        device=str(device),
        model_kwargs={},
    )


# --------------------------------------------------------------------------------------
# KV cache layers


def new_cache(config: Any, *, full_layers: bool = False) -> DynamicCache:
    """An empty KV cache with one layer per decoder layer of ``config``, of the kinds the
    config asks for (sliding-window ones included), or all plain ``full_layers``."""
    check_internal("DynamicCache.__init__")
    cache = DynamicCache(config=config)
    if full_layers:
        set_layers(cache, [DynamicLayer() for _ in cache.layers])
    return cache


def cache_layers(cache: DynamicCache) -> list[Any]:
    """``cache``'s layers, one per decoder layer."""
    return list(cache.layers)


def set_layers(cache: DynamicCache, layers: Sequence[Any]) -> None:
    """Replace ``cache``'s layers (one per decoder layer)."""
    cache.layers = list(layers)


def is_plain_layer(layer: Any) -> bool:
    """A full-attention layer of plain tensors (not sliding-window, quantised or ours)."""
    return type(layer) is DynamicLayer


def has_plain_layers(cache: DynamicCache) -> bool:
    """Every layer of ``cache`` is plain (see :func:`is_plain_layer`)."""
    return all(is_plain_layer(layer) for layer in cache.layers)


def layer_tensors(cache: DynamicCache) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Each layer's (keys, values), ``[batch, heads, positions, head_dim]`` each."""
    return [(layer.keys, layer.values) for layer in cache.layers]


def _fill(layer: Any, keys: torch.Tensor, values: torch.Tensor) -> None:
    layer.lazy_initialization(keys, values)
    layer.keys, layer.values = keys, values


def fill_layers(cache: DynamicCache, kv: torch.Tensor) -> None:
    """Make ``cache``'s (empty, plain) layers hold ``kv``: ``[2 * layers, batch, heads,
    positions, head_dim]``, each layer's keys then its values."""
    check_internal("DynamicLayer.lazy_initialization")
    for index, layer in enumerate(cache.layers):
        _fill(layer, kv[2 * index], kv[2 * index + 1])


def copied_layer(layer: Any, rows: torch.Tensor) -> DynamicLayer:
    """A new plain layer holding rows ``rows`` of ``layer`` (``layer`` itself is unchanged)."""
    check_internal("DynamicLayer.lazy_initialization")
    copy_ = DynamicLayer()
    copy_.lazy_initialization(layer.keys, layer.values)
    copy_.keys = layer.keys[rows]
    copy_.values = layer.values[rows]
    return copy_


def select_rows(cache: DynamicCache, rows: torch.Tensor) -> None:
    """Keep (or repeat) the cache rows ``rows``, in that order, in every layer."""
    check_internal("DynamicLayer.batch_select_indices")
    for layer in cache.layers:
        layer.batch_select_indices(rows)


# --------------------------------------------------------------------------------------
# Attention kernels


def attention_implementation(model: Any) -> str | None:
    """The attention kernel ``model`` runs (``"sdpa"``, ``"eager"``, ...), None if unknown."""
    return getattr(model.config, "_attn_implementation", None)


def sdpa_attention(*args: Any, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """transformers' own sdpa attention (same arguments as an attention kernel)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    return sdpa_attention_forward(*args, **kwargs)


def use_attention(model: Any, name: str, kernel: Callable[..., Any]) -> None:
    """Run ``model`` with ``kernel`` as its attention, under sdpa's masks.

    transformers' registries are global: the kernel is registered under ``name`` (ours,
    so no model that did not ask for it gets it), then ``model`` is switched to it.
    """
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    for internal in (
        "AttentionInterface.register",
        "AttentionMaskInterface.register",
        "masking_utils.sdpa_mask",
        "sdpa_attention.sdpa_attention_forward",
    ):
        check_internal(internal)
    AttentionInterface.register(name, kernel)
    AttentionMaskInterface.register(name, sdpa_mask)
    model.set_attn_implementation(name)


def checkpointing_field() -> str:
    """The ``TrainingArguments`` field that switches activation checkpointing:
    ``activation_checkpointing`` where the installed release has it, else the older
    ``gradient_checkpointing``."""
    import dataclasses

    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    return (
        "activation_checkpointing"
        if "activation_checkpointing" in names
        else "gradient_checkpointing"
    )
