"""Which prompt format a model directory or hub name gets: its card's, or one for a public model.

Our own models carry ``mathverify.json`` and its prompt format is used as it is (unless the
user asks for another kind with ``--prompt-format``). A model without a card (any Hugging
Face causal LM) gets, with ``auto``, the chat format when its tokenizer has a chat template
and the plain template otherwise (see :mod:`mathverify.prompting`). Tokenizers are read
from a directory or the local hub cache only: a name the cache does not hold (an openai
server's model name) is never looked up on the network, and counts as having no tokenizer.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from mathverify.errors import MathverifyError
from mathverify.models.card import CARD_NAME, load_card
from mathverify.prompting import DEFAULT_SYSTEM, PromptFormat
from mathverify.steps import DEFAULT_SEPARATOR

PROMPT_FORMAT_CHOICES = ("auto", "chat", "plain")

__all__ = ["PROMPT_FORMAT_CHOICES", "load_local_tokenizer", "model_prompt_format"]


def load_local_tokenizer(path_or_name: str) -> Any | None:
    """The tokenizer of a model directory or a hub name already in the local cache, else None."""
    from transformers import AutoTokenizer

    from mathverify.models.verifier import TOKENIZER_FILES

    folder = Path(path_or_name).expanduser()
    # transformers 5.4 builds an empty-vocabulary tokenizer from a folder's config alone.
    if folder.is_dir() and not any((folder / name).is_file() for name in TOKENIZER_FILES):
        return None
    try:
        return AutoTokenizer.from_pretrained(str(path_or_name), local_files_only=True)
    except (OSError, ValueError, KeyError):
        return None


def card_prompt_format(
    path_or_name: str | Path, expect: str | tuple[str, ...] | None = None
) -> PromptFormat | None:
    """The (unbound) prompt format in the card of ``path_or_name``; None when it has no card.

    With ``expect``, a card of another kind is a one-line error (a PRM given as ``--policy``).
    """
    path = Path(path_or_name).expanduser()
    if not (path / CARD_NAME).exists():
        return None
    return load_card(path, expect=expect).prompt


def model_prompt_format(
    path_or_name: str,
    *,
    requested: str = "auto",
    system: str | None = None,
    tokenizer: Any | None = None,
    expect: str | tuple[str, ...] | None = None,
) -> PromptFormat:
    """The prompt format for the model ``path_or_name``, bound to its tokenizer when chat.

    ``requested``: ``auto`` (the card's format; without a card, chat when the tokenizer has
    a chat template, else plain), ``chat`` or ``plain`` (a card's format of that kind is
    kept, so its template and separator stay). ``system``: the chat system turn (None: the
    card's, else :data:`~mathverify.prompting.DEFAULT_SYSTEM`; "": no system turn).
    ``tokenizer``: the model's tokenizer if already loaded (else read locally when needed).
    """
    if requested not in PROMPT_FORMAT_CHOICES:
        raise MathverifyError(
            f"--prompt-format {requested!r}: choose one of {', '.join(PROMPT_FORMAT_CHOICES)}"
        )
    card = card_prompt_format(path_or_name, expect)
    separator = card.separator if card is not None else DEFAULT_SEPARATOR
    if card is not None and requested in ("auto", card.kind):
        chosen = card
    elif requested == "plain":
        chosen = PromptFormat(separator=separator)
    else:
        tokenizer = tokenizer if tokenizer is not None else load_local_tokenizer(path_or_name)
        if tokenizer is not None and getattr(tokenizer, "chat_template", None):
            chosen = PromptFormat(kind="chat", system=DEFAULT_SYSTEM, separator=separator)
        elif requested == "auto":
            chosen = PromptFormat(separator=separator)
        else:
            found = "its tokenizer has none" if tokenizer is not None else "no local tokenizer"
            raise MathverifyError(
                f"{path_or_name}: --prompt-format chat needs a chat template ({found}); "
                "use --prompt-format plain"
            )
    if chosen.kind != "chat":
        return chosen
    if system is not None:
        chosen = replace(chosen, system=system or None)
    tokenizer = tokenizer if tokenizer is not None else load_local_tokenizer(path_or_name)
    if tokenizer is None:
        raise MathverifyError(
            f"{path_or_name}: a chat prompt format needs the model's tokenizer, found neither a "
            "directory nor a cached hub copy; give --policy as a local model directory"
        )
    return chosen.bind(tokenizer)
