"""What differs between the transformers releases pyproject supports, decided in one place.

The supported range starts at the oldest release the suite passes on (``make test-oldest``);
where a keyword was renamed inside that range, the function here picks the one the
installed release (or a remote-code model) takes, so the rest of the code never tests a
version. Not for feature flags of our own.
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["cache_keyword"]


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
