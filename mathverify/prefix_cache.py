"""Per-sequence tensors (KV caches) of recent token prefixes, found again by longest prefix.

Step-level search asks a model, depth after depth, for sequences that extend the ones it
saw in the call before: the prompt of a beam at depth d + 1 is its prompt at depth d plus
the step just generated, and the scorer's shared prefix of a beam's candidates is the one
it read at depth d plus that step. Re-encoding those prefixes is most of the prompt work
of a search. :class:`PrefixCache` keeps what a model computed for each sequence of one
call (its keys and values, and whatever else the caller stores), keyed by the token ids,
so the next call encodes only the tokens past the longest cached prefix.

The key/values of the first ``k`` tokens of a sequence depend on those ``k`` tokens only
(positions count from the first real token, padding is masked), so any cached sequence
that starts with a prompt's first ``k`` tokens serves those ``k`` tokens, whether or not
the two sequences diverge later.

Memory stays bounded: a call's lookups see the sequences stored by the call before it
and earlier in the same call; at the end of a call only the sequences stored during it are
kept (a beam pruned at depth d is not extended at depth d + 1, so its entry goes), and a
call stores at most ``max_tokens`` tokens. ``max_tokens=0`` turns caching off.

Not a general LRU cache, and it knows nothing of models: the caller decides what a value
holds and slices it (see :mod:`mathverify.backends.hf` and :mod:`mathverify.scoring.prm`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

# Trie nodes are dicts from token id to child node; this key (never a token id) holds one
# value stored through that node: a sequence whose leading tokens are the path to the node.
_VALUE = -1


@dataclass
class CacheStats:
    """What a cache did: sequences looked up, those with a hit, tokens stored, and tokens
    whose keys and values the caller took from it instead of encoding them (it counts them)."""

    lookups: int = 0
    hits: int = 0
    reused_tokens: int = 0
    stored_tokens: int = 0


class _Trie:
    def __init__(self) -> None:
        self.root: dict[int, Any] = {}
        self.n_tokens = 0

    def insert(self, ids: Sequence[int], value: Any) -> None:
        node = self.root
        for token in ids:
            child = node.get(token)
            if child is None:
                child = node[token] = {}
            node = child
            # The first sequence stored through a node keeps serving it; any would do.
            node.setdefault(_VALUE, value)
        self.n_tokens += len(ids)

    def longest(self, ids: Sequence[int], limit: int) -> tuple[int, Any]:
        node = self.root
        depth = 0
        for token in ids[:limit]:
            child = node.get(token)
            if child is None:
                break
            node = child
            depth += 1
        return (depth, node[_VALUE]) if depth else (0, None)


class PrefixCache:
    """Values stored per token sequence, found by the longest stored prefix of a query.

    Use one ``with cache.call():`` block per model call: lookups inside it see what the
    previous call and this one stored; when it ends only this call's entries remain.
    """

    def __init__(self, max_tokens: int) -> None:
        if max_tokens < 0:
            raise ValueError(f"max_tokens must be >= 0, got {max_tokens}")
        self.max_tokens = max_tokens
        self.stats = CacheStats()
        self._previous = _Trie()
        self._current = _Trie()

    @property
    def enabled(self) -> bool:
        return self.max_tokens > 0

    @property
    def n_tokens(self) -> int:
        """Tokens held now (both generations while a call is open)."""
        return self._previous.n_tokens + self._current.n_tokens

    @contextmanager
    def call(self) -> Iterator[PrefixCache]:
        self._previous, self._current = self._current, _Trie()
        try:
            yield self
        finally:
            self._previous = _Trie()

    def clear(self) -> None:
        self._previous, self._current = _Trie(), _Trie()

    def longest(self, ids: Sequence[int], limit: int | None = None) -> tuple[int, Any]:
        """(n, value): the most leading tokens of ``ids`` (at most ``limit``) some stored
        sequence starts with, and that sequence's value; (0, None) when none does."""
        if not self.enabled:
            return 0, None
        limit = len(ids) if limit is None else min(limit, len(ids))
        best = self._current.longest(ids, limit)
        if best[0] < limit:
            older = self._previous.longest(ids, limit)
            if older[0] > best[0]:
                best = older
        self.stats.lookups += 1
        self.stats.hits += best[0] > 0
        return best

    def wants(self, ids: Sequence[int]) -> bool:
        """Whether storing ``ids`` is worth it: it fits in this call's budget, and no
        sequence stored in this call already starts with all of it."""
        return (
            self.enabled
            and bool(ids)
            and self._current.n_tokens + len(ids) <= self.max_tokens
            and self._current.longest(ids, len(ids))[0] < len(ids)
        )

    def insert(self, ids: Sequence[int], value: Any) -> bool:
        """Store ``value`` for ``ids`` when :meth:`wants` it; True when stored."""
        if not self.wants(ids):
            return False
        self._current.insert(ids, value)
        self.stats.stored_tokens += len(ids)
        return True
