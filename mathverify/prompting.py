"""The prompt format, written down in one place.

A solution is ``prompt + step_1 + sep + step_2 + sep + ... + step_k`` followed by the
tokenizer's end-of-sequence token. Generation, labeling, scoring, search and training all
build text through :class:`PromptFormat`, and every trained model records its format in
``mathverify.json`` so the same text is rebuilt at inference.

Two kinds of prompt:

- ``plain``: ``template.format(problem=...)``, the project's own models' format;
- ``chat``: the problem as the user turn of the tokenizer's chat template (after a system
  turn holding ``system``, when given), rendered with ``add_generation_prompt=True``, so an
  instruct model such as Qwen2.5-Math-Instruct sees what it was tuned on. The steps follow
  in the assistant turn, joined by ``separator`` as in a plain prompt. A chat format renders
  only once bound to a tokenizer (:meth:`PromptFormat.bind`); each problem's prompt is
  rendered once and kept. When the tokenizer adds its beginning-of-sequence token itself
  (Llama 3), the template's leading copy is dropped from the text, so every backend, which
  tokenises prompts with the tokenizer's special tokens, sees it once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from mathverify.errors import MathverifyError
from mathverify.steps import DEFAULT_SEPARATOR

DEFAULT_TEMPLATE = "Problem: {problem}\nSolution:\n"
# The system turn of a chat prompt unless the user gives another: the instruction
# Qwen2.5-Math-Instruct's model card uses, also common in search-and-learn's recipes.
DEFAULT_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
PROMPT_KINDS = ("plain", "chat")


class ChatRenderer:
    """Renders a problem through a tokenizer's chat template, once per problem."""

    def __init__(self, tokenizer: Any, system: str | None) -> None:
        if not getattr(tokenizer, "chat_template", None):
            raise MathverifyError(
                f"{getattr(tokenizer, 'name_or_path', 'tokenizer')}: no chat template; "
                "use --prompt-format plain"
            )
        self.tokenizer = tokenizer
        self.system = system
        self._cache: dict[str, str] = {}
        bos = tokenizer.bos_token
        adds_bos = (
            bos is not None
            and tokenizer.bos_token_id is not None
            and tokenizer("a", add_special_tokens=True)["input_ids"][:1] == [tokenizer.bos_token_id]
        )
        self._strip = bos if adds_bos else None

    def __call__(self, problem: str) -> str:
        text = self._cache.get(problem)
        if text is None:
            text = self._render(problem)
            self._cache[problem] = text
        return text

    def _render(self, problem: str) -> str:
        messages = [{"role": "user", "content": problem}]
        if self.system:
            messages.insert(0, {"role": "system", "content": self.system})
        from jinja2 import TemplateError

        try:
            text = self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
        except (TemplateError, ValueError) as exc:  # e.g. a template refusing a system turn
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            hint = "pass --system '' (no system turn) or " if self.system else ""
            raise MathverifyError(
                f"chat template failed ({first}); {hint}use --prompt-format plain"
            ) from exc
        if self._strip and text.startswith(self._strip):
            text = text[len(self._strip) :]
        return text


@dataclass(frozen=True)
class PromptFormat:
    """How a problem becomes a prompt and how steps are joined after it."""

    template: str = DEFAULT_TEMPLATE
    separator: str = DEFAULT_SEPARATOR
    kind: str = "plain"
    system: str | None = None
    # The chat kind's renderer (see bind); not part of the format's identity or its dict.
    renderer: ChatRenderer | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in PROMPT_KINDS:
            raise MathverifyError(
                f"prompt format kind {self.kind!r}: choose one of {', '.join(PROMPT_KINDS)}"
            )

    @classmethod
    def chat(
        cls, tokenizer: Any, system: str | None = DEFAULT_SYSTEM, separator: str = DEFAULT_SEPARATOR
    ) -> PromptFormat:
        """A chat format bound to ``tokenizer``'s template."""
        return cls(kind="chat", system=system, separator=separator).bind(tokenizer)

    def bind(self, tokenizer: Any) -> PromptFormat:
        """This format, able to render: a chat one through ``tokenizer``; a plain one as is."""
        if self.kind != "chat":
            return self
        return replace(self, renderer=ChatRenderer(tokenizer, self.system))

    def prompt(self, problem: str) -> str:
        if self.kind == "chat":
            if self.renderer is None:
                raise MathverifyError(
                    "a chat prompt format needs the model's tokenizer (PromptFormat.bind)"
                )
            return self.renderer(problem)
        return self.template.format(problem=problem)

    def prefix(self, problem: str, steps: list[str]) -> str:
        """The text a model continues to write the next step after ``steps``."""
        if not steps:
            return self.prompt(problem)
        return self.prompt(problem) + self.separator.join(steps) + self.separator

    def solution_text(self, steps: list[str]) -> str:
        return self.separator.join(steps)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"template": self.template, "separator": self.separator}
        if self.kind != "plain":
            out.update(kind=self.kind, system=self.system)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PromptFormat:
        return cls(
            template=data.get("template", DEFAULT_TEMPLATE),
            separator=data.get("separator", DEFAULT_SEPARATOR),
            kind=data.get("kind", "plain"),
            system=data.get("system"),
        )
