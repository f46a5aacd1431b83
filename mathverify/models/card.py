"""``mathverify.json``: what a saved model directory is (policy, orm, prm, value) and how to use it.

Every trained model is a plain Hugging Face directory; this small file beside its config
says its kind, its prompt format and step separator, and its label scheme, so commands can
refuse a directory that is not what they need with a clear message.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mathverify.errors import MathverifyError
from mathverify.prompting import PromptFormat

CARD_NAME = "mathverify.json"
KINDS = ("policy", "orm", "prm", "value")


@dataclass
class ModelCard:
    kind: str
    prompt: PromptFormat = field(default_factory=PromptFormat)
    label_scheme: str | None = None
    base_model: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        # Not asdict(self): that would deep-copy a chat prompt's tokenizer to throw it away.
        return {
            "kind": self.kind,
            "prompt": self.prompt.to_dict(),
            "label_scheme": self.label_scheme,
            "base_model": self.base_model,
            "extra": copy.deepcopy(self.extra),
        }

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / CARD_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path


def load_card(directory: str | Path, *, expect: str | tuple[str, ...] | None = None) -> ModelCard:
    """Read ``mathverify.json`` from ``directory``; with ``expect``, refuse other kinds."""
    path = Path(directory) / CARD_NAME
    if not path.exists():
        raise MathverifyError(
            f"{directory}: no {CARD_NAME}; not a mathverify model directory "
            "(train one with mathverify train-policy/train-orm/train-prm/train-value)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise MathverifyError(f"{path}: invalid JSON ({exc.msg})") from exc
    if not isinstance(data, dict) or data.get("kind") not in KINDS:
        raise MathverifyError(f"{path}: field 'kind' must be one of {', '.join(KINDS)}")
    card = ModelCard(
        kind=data["kind"],
        prompt=PromptFormat.from_dict(data.get("prompt") or {}),
        label_scheme=data.get("label_scheme"),
        base_model=data.get("base_model"),
        extra=data.get("extra") or {},
    )
    if expect is not None:
        allowed = (expect,) if isinstance(expect, str) else expect
        if card.kind not in allowed:
            raise MathverifyError(
                f"{directory}: is a {card.kind} model, expected {' or '.join(allowed)}"
            )
    return card
