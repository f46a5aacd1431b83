"""Per-prompt sampling seeds shared by the vLLM and OpenAI-compatible backends.

Both backends send each prompt as its own request with its own seed, derived from the
call's seed and the prompt's position in the call. vLLM seeds a generator per request, so
a prompt's samples depend only on (prompt, call seed, position), not on what else runs in
the engine; and because the derivation is the same, the offline engine and a vLLM server
on the same model give the same samples.
"""

from __future__ import annotations

import random

# 31 bits: every server we know of accepts it (some parse the seed as a signed 32-bit int).
SEED_BITS = 31


def request_seed(seed: int, index: int) -> int:
    """The seed of the ``index``-th prompt of a ``complete`` call made with ``seed``."""
    return random.Random(f"{seed}/{index}").getrandbits(SEED_BITS)
