"""Text helpers that the graders and the lenient rules share: how an answer is handed to a
parser, and how it splits into parts outside brackets.

Pure string functions, no parser and no verdict; they live here so that neither the graders
nor the rules reach into each other's private helpers (issue #37).
"""

from __future__ import annotations

import re

__all__ = ["as_latex_answer", "split_outside_brackets"]

_UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")


def as_latex_answer(answer: str) -> str:
    """Text that math-verify's LaTeX extraction reads as exactly this answer.

    A bare answer such as ``\\frac{14}{3}``, ``x=5`` or ``\\text{(C)}`` is wrapped in
    ``\\boxed{}`` (boxes are extracted first and whole, spaces and ``\\text`` included); text
    that already has a box or ``$...$`` delimiters is left for math-verify to extract from.
    """
    if "\\boxed" in answer or "\\fbox" in answer or _UNESCAPED_DOLLAR.search(answer):
        return answer
    return "\\boxed{" + answer + "}"


def split_outside_brackets(text: str, separator: str = ",") -> list[str]:
    """``text`` split at ``separator`` outside any (), [], {} nesting; parts as written.

    An escaped brace (``\\{``, ``\\}``) does not nest: ``\\{1, 2\\}`` splits at its comma.
    """
    parts, depth, start = [], 0, 0
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and text[i + 1 : i + 2] in ("{", "}"):
            i += 2
            continue
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0 and text.startswith(separator, i):
            parts.append(text[start:i])
            start = i + len(separator)
            i = start
            continue
        i += 1
    parts.append(text[start:])
    return parts
