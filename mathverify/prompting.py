"""The prompt format, written down in one place.

A solution is ``prompt + step_1 + sep + step_2 + sep + ... + step_k`` followed by the
tokenizer's end-of-sequence token. Generation, labeling, scoring and search all build text
through :class:`PromptFormat`, and every trained model records its format in
``mathverify.json`` so the same text is rebuilt at inference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mathverify.steps import DEFAULT_SEPARATOR

DEFAULT_TEMPLATE = "Problem: {problem}\nSolution:\n"


@dataclass(frozen=True)
class PromptFormat:
    """How a problem becomes a prompt and how steps are joined after it."""

    template: str = DEFAULT_TEMPLATE
    separator: str = DEFAULT_SEPARATOR

    def prompt(self, problem: str) -> str:
        return self.template.format(problem=problem)

    def prefix(self, problem: str, steps: list[str]) -> str:
        """The text a model continues to write the next step after ``steps``."""
        if not steps:
            return self.prompt(problem)
        return self.prompt(problem) + self.separator.join(steps) + self.separator

    def solution_text(self, steps: list[str]) -> str:
        return self.separator.join(steps)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PromptFormat:
        return cls(
            template=data.get("template", DEFAULT_TEMPLATE),
            separator=data.get("separator", DEFAULT_SEPARATOR),
        )
