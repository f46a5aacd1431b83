"""Splitting solution text into steps and extracting the final answer.

Not for grading: whether two answers are equal is :mod:`mathverify.grading`'s job. This
module only finds the answer string a solution commits to.
"""

from __future__ import annotations

import re

DEFAULT_SEPARATOR = "\n\n"

__all__ = [
    "DEFAULT_SEPARATOR",
    "extract_answer",
    "extract_boxed",
    "extract_gsm8k",
    "join_steps",
    "split_steps",
]


def split_steps(text: str, separator: str = DEFAULT_SEPARATOR) -> list[str]:
    """Split ``text`` at ``separator``; steps are stripped and empty ones dropped."""
    if not separator:
        raise ValueError("the step separator must not be empty")
    return [part.strip() for part in text.split(separator) if part.strip()]


def join_steps(steps: list[str], separator: str = DEFAULT_SEPARATOR) -> str:
    return separator.join(steps)


_BOX_COMMANDS = ("\\boxed", "\\fbox")


def _braced(text: str, open_index: int) -> str | None:
    """The content of the brace group opening at ``open_index``; None if unbalanced."""
    depth = 0
    i = open_index
    while i < len(text):
        char = text[i]
        if char == "\\":
            # A backslash escapes the next character: \{ and \} are literal braces, and \\
            # (a TeX line break) must not make the brace after it look escaped.
            i += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[open_index + 1 : i]
        i += 1
    return None


def extract_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` or ``\\fbox{...}`` (nested braces kept).

    ``\\boxed 5`` (a space and a bare token, valid TeX) gives ``5``. An unbalanced last box
    gives None rather than a truncated answer.
    """
    best_start = -1
    best_command = ""
    for command in _BOX_COMMANDS:
        start = text.rfind(command)
        while start != -1:
            after = start + len(command)
            # \boxedfoo is another command; only a brace, space or end of command counts
            if after >= len(text) or text[after] == "{" or text[after].isspace():
                break
            start = text.rfind(command, 0, start)
        if start > best_start:
            best_start, best_command = start, command
    if best_start == -1:
        return None
    rest_index = best_start + len(best_command)
    rest = text[rest_index:]
    stripped = rest.lstrip()
    if stripped.startswith("{"):
        content = _braced(text, rest_index + (len(rest) - len(stripped)))
        return None if content is None else content.strip()
    if rest[:1].isspace():
        match = re.match(r"\s*([^\s${}]+)", rest)
        if match:
            return match.group(1).rstrip(".")
    return None


_ANSWER_IS = re.compile(
    r"\b(?:the\s+)?(?:final\s+)?answer\s+is\b\s*:?\s*(.+?)\s*(?:\.\s*$|\.\s+|\n|$)",
    re.IGNORECASE,
)


def extract_answer_is(text: str) -> str | None:
    """The last "The answer is X" statement; ``$...$`` around X is removed."""
    matches = list(_ANSWER_IS.finditer(text))
    if not matches:
        return None
    answer = matches[-1].group(1).strip()
    boxed = extract_boxed(answer)
    if boxed is not None:
        return boxed
    # "$5$ dollars": the math span is the answer, the words after it are not.
    math = re.match(r"\$([^$]+)\$", answer)
    if math:
        answer = math.group(1).strip()
    return answer or None


def extract_gsm8k(text: str) -> str | None:
    """The GSM8K final answer after ``####``, with thousands separators removed."""
    index = text.rfind("####")
    if index == -1:
        return None
    # Only the rest of the marker's own line: "#### " alone is no answer, not the next line.
    answer = text[index + 4 :].split("\n", 1)[0].strip()
    return answer.replace(",", "") or None


def extract_answer(text: str | None) -> str | None:
    """The final answer of a solution: last box, else ``####``, else "the answer is"."""
    if not text:
        return None
    for extractor in (extract_boxed, extract_gsm8k, extract_answer_is):
        answer = extractor(text)
        if answer is not None and answer != "":
            return answer
    return None
