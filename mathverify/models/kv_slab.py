"""A KV cache layer in preallocated buffers (slabs), built from a batch of prefix caches.

Built by :mod:`mathverify.models.kv_prefix` for the hf backend's decoding loop (each prompt's
keys and values go to its sampled rows, with room for the continuation) and for the PRM
scorer (each shared prefix goes to the rows of its candidates, with room for their own
tokens). Either way each row's buffer is written once, and a new token's keys and values are
written in place instead of concatenated (``DynamicLayer`` copies the whole cache at every
update). The ``DynamicLayer`` methods it overrides are checked by
:func:`mathverify.models.compat.check_overrides`.
"""

from __future__ import annotations

from typing import Any

import torch

from mathverify.models.compat import CacheLayer, check_overrides

__all__ = ["FULL_SLAB_SLACK", "SlabLayer"]


# A slab with at most this many unwritten positions is attended to whole (see SlabLayer).
FULL_SLAB_SLACK = 64


class SlabLayer(CacheLayer):
    """A layer's KV cache in buffers sized for the whole continuation, written in place.

    ``DynamicLayer`` concatenates (copies the whole cache) at every token; here a token
    costs a write of its own keys and values. Built from a prompt cache, with row ``i``
    taken from prompt row ``rows[i]`` (``rows=None``: row ``i`` from row ``i``). When little room is left (search's short steps),
    attention gets the whole buffers (zeros past the written length, which the mask hides,
    as for a ``StaticLayer``): a contiguous tensor, where a view of the written part makes
    attention copy it at each step (about twice the attention time on CPU). With much room
    left (long completions) it gets the view, not hundreds of masked positions.
    """

    def __init__(
        self,
        keys: torch.Tensor,
        values: torch.Tensor,
        rows: torch.Tensor | None,
        capacity: int,
    ) -> None:
        check_overrides(type(self))
        super().__init__()
        length = keys.shape[2]
        # Padded once per prompt, then gathered into the rows: each slab element is written
        # once (zero-filling the row buffers first and copying the prompt in wrote it twice).
        room = (0, 0, 0, capacity - length)
        self.key_slab = torch.nn.functional.pad(keys, room)
        self.value_slab = torch.nn.functional.pad(values, room)
        if rows is not None:
            self.key_slab = self.key_slab.index_select(0, rows)
            self.value_slab = self.value_slab.index_select(0, rows)
        self.dtype, self.device = keys.dtype, keys.device
        self.is_initialized = True
        self._set_length(length)

    def _set_length(self, length: int) -> None:
        self.length = length
        self.keys = self.key_slab[:, :, :length]
        self.values = self.value_slab[:, :, :length]

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        end = self.length + key_states.shape[-2]
        if end > self.key_slab.shape[2]:
            raise RuntimeError(f"KV cache buffer of {self.key_slab.shape[2]} positions overflowed")
        self.key_slab[:, :, self.length : end] = key_states
        self.value_slab[:, :, self.length : end] = value_states
        self._set_length(end)
        if self._visible(end) == end:
            return self.keys, self.values
        return self.key_slab, self.value_slab

    def _visible(self, end: int) -> int:
        """Positions attention sees once the cache holds ``end``: all or just the written."""
        capacity = self.key_slab.shape[2]
        return capacity if capacity - end <= FULL_SLAB_SLACK else end

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return self._visible(self.length + query_length), 0

    def get_seq_length(self) -> int:
        return self.length

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self.key_slab = self.key_slab[indices]
        self.value_slab = self.value_slab[indices]
        self._set_length(self.length)
