"""A model's keys and values kept across calls, and a batch's cache built from them.

What the hf policy (:mod:`mathverify.backends.hf_decoding`, prompts) and the scorers
(:mod:`mathverify.scoring.prm`, the shared prefix of a beam's candidates) share, written
once: sequences are left-padded to one ``width``;

- :func:`gather_prefixes` fills an empty batch cache with the longest stored prefix of each
  sequence and says how many last positions the model must still encode (``fed``);
- :func:`keep_prefixes` stores each sequence's keys and values (all layers in one tensor,
  and the hidden states when the caller needs them) for the next call, within the store's
  token budget (:data:`DEFAULT_PREFIX_CACHE_TOKENS` by default);
- :func:`spread_rows` and :func:`prefix_rows` give each sequence's cache to its rows (the
  ``n`` samples of a prompt, the candidates of a prefix) in slabs with room for what comes
  next (:class:`~mathverify.models.kv_slab.SlabLayer`).

The store itself (a trie of token ids, what one call keeps for the next) is
:class:`~mathverify.prefix_cache.PrefixCache`; the cache-layer internals these functions
touch are reached through :mod:`mathverify.models.compat`. Only plain full-attention layers
are kept or filled: a model with sliding-window (or other) layers encodes every prefix whole.

An entry is ``(kv, hidden)``: ``kv`` is ``[2 * layers, heads, positions, head_dim]``
(each layer's keys, then its values), ``hidden`` ``[positions, hidden_size]`` or None.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from mathverify.models.compat import (
    cache_layers,
    copied_layer,
    fill_layers,
    has_plain_layers,
    is_plain_layer,
    layer_tensors,
    select_rows,
    set_layers,
)
from mathverify.models.kv_slab import SlabLayer
from mathverify.prefix_cache import PrefixCache

if TYPE_CHECKING:
    from transformers import DynamicCache

__all__ = [
    "DEFAULT_PREFIX_CACHE_TOKENS",
    "gather_prefixes",
    "keep_prefixes",
    "prefix_rows",
    "spread_rows",
]

# Tokens whose keys and values (and hidden states, for a scorer) one call keeps for the
# next (0: off). Search keeps B1 prompts per problem in the policy and one prefix per live
# beam in the scorer: 16 problems x 3 beams of ~1,000 tokens fit.
DEFAULT_PREFIX_CACHE_TOKENS = 1 << 16


def gather_prefixes(
    store: PrefixCache,
    cache: DynamicCache,
    prefixes: Sequence[Sequence[int]],
    width: int,
    *,
    encode_last: bool = False,
) -> tuple[int, torch.Tensor | None]:
    """Fill the empty ``cache`` of left-padded ``prefixes`` (``width`` wide) with what
    ``store`` holds of them; return ``fed``, how many last positions the model must still
    encode, and the stored hidden states of the other ``width - fed`` positions (None when
    nothing came from the store or its entries have none).

    Every row is encoded over the same last ``fed`` positions, the most any row has beyond
    its stored part; a row whose unstored part is shorter encodes a few stored tokens again
    (keys and values equal to the stored ones up to rounding), so the layout stays plain
    left padding. ``encode_last``: each row keeps at least its last token to encode (the
    caller needs its logits); otherwise ``fed`` is 0 when the store holds every row whole.
    """
    if not width or not store.enabled or not has_plain_layers(cache):
        return width, None
    hits = [store.longest(ids, len(ids) - 1 if encode_last else len(ids)) for ids in prefixes]
    fed = max(len(ids) - n for ids, (n, _) in zip(prefixes, hits, strict=True))
    if fed >= width:
        return width, None
    past = width - fed
    kv_sample, hidden_sample = next(value for _, value in hits if value is not None)
    layers2, heads, _, dim = kv_sample.shape
    kv = kv_sample.new_zeros((layers2, len(prefixes), heads, past, dim))
    hidden = (
        None
        if hidden_sample is None
        else hidden_sample.new_zeros((len(prefixes), past, hidden_sample.shape[-1]))
    )
    for row, (ids, (_, value)) in enumerate(zip(prefixes, hits, strict=True)):
        used = len(ids) - fed  # this row's tokens left of the encoded window
        if used > 0:
            kv[:, row, :, past - used :] = value[0][:, :, :used]
            if hidden is not None:
                hidden[row, past - used :] = value[1][:used]
            store.stats.reused_tokens += used
    fill_layers(cache, kv)
    return fed, hidden


def keep_prefixes(
    store: PrefixCache,
    cache: DynamicCache,
    prefixes: Sequence[Sequence[int]],
    width: int,
    hidden: torch.Tensor | None = None,
) -> None:
    """Store each row's keys and values from ``cache`` (its left-padded ``prefixes``,
    ``width`` wide), with its hidden states from ``hidden`` ``[rows, width, size]`` when
    given, for the next call; rows beyond the store's budget are not kept."""
    if not store.enabled or not has_plain_layers(cache):
        return
    tensors = layer_tensors(cache)
    for row, ids in enumerate(prefixes):
        if store.wants(ids):
            start = width - len(ids)
            kv = torch.stack([part[row, :, start:] for pair in tensors for part in pair])
            store.insert(ids, (kv, None if hidden is None else hidden[row, start:].clone()))


def spread_rows(cache: DynamicCache, rows: torch.Tensor | None, capacity: int) -> None:
    """Give each row of ``cache`` to the rows ``rows`` (row ``i`` becomes row ``rows[i]``
    of the old cache; None keeps the rows as they are), in place.

    Plain layers become slabs with room for ``capacity`` positions in all; other layers
    (sliding-window ones) keep their own kind and repeat their rows.
    """
    if has_plain_layers(cache):
        set_layers(cache, [SlabLayer(k, v, rows, capacity) for k, v in layer_tensors(cache)])
    elif rows is not None:
        select_rows(cache, rows)


def prefix_rows(
    into: DynamicCache, source: DynamicCache, rows: torch.Tensor, capacity: int
) -> None:
    """Make the empty ``into`` hold rows ``rows`` of ``source`` (``source`` is unchanged):
    a slab with room for ``capacity`` positions per plain layer, a copy of the rows for
    any other."""
    set_layers(
        into,
        [
            SlabLayer(keys, values, rows, capacity)
            if is_plain_layer(layer)
            else copied_layer(layer, rows)
            for layer, (keys, values) in zip(
                cache_layers(source), layer_tensors(source), strict=True
            )
        ],
    )
