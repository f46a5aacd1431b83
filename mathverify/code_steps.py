"""Code steps in the MARIO / AlphaMath format: a thought, a ```python block, its ```output.

A policy writes a step; when the step holds a fenced python block, the block runs in the
sandbox and the step gets the output appended as a fenced ``output`` block, which the policy
reads as its observation before writing the next step::

    Let me factor the polynomial.
    ```python
    import sympy as sp
    x = sp.symbols("x")
    print(sp.factor(x**2 - 4))
    ```
    ```output
    (x - 2)*(x + 2)
    ```

Like AlphaMath, later steps see the variables of earlier ones: the code of earlier steps is
replayed silently (its output and errors were already shown) before the new block runs, each
step in a fresh process. Earlier blocks whose observation was a timeout are not replayed.

Pure text functions plus :func:`execute_step`; when to call it is generation's and search's
business, not this module's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import pairwise

from mathverify.sandbox import Sandbox, SandboxResult

__all__ = [
    "OUTPUT_FENCE",
    "TIMEOUT_PREFIX",
    "execute_step",
    "find_code",
    "history_code",
    "last_code_start",
    "observation_text",
    "open_code_start",
    "pending_code",
    "program_with_history",
]

# The opening fence may follow text on its line ("Action Input: ```python").
_CODE_BLOCK = re.compile(r"```(?:python3?|py)[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
_CODE_OPENING = re.compile(r"```(?:python3?|py)[ \t]*\n", re.IGNORECASE)
_OUTPUT_BLOCK = re.compile(r"```output[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
TIMEOUT_PREFIX = "TimeoutError: "
# The opening of an observation: a policy trained on the format writes it right after its
# code, so a backend stops there to run the code (and training masks what follows it).
OUTPUT_FENCE = "```output"

_HISTORY_TEMPLATE = """\
import contextlib as _mv_contextlib, io as _mv_io
for _mv_block in {blocks!r}:
    # Earlier steps ran before: their output and errors were shown to the policy then.
    with _mv_contextlib.redirect_stdout(_mv_io.StringIO()), \\
            _mv_contextlib.redirect_stderr(_mv_io.StringIO()):
        try:
            exec(_mv_block)
        except (Exception, SystemExit):
            pass
del _mv_contextlib, _mv_io, _mv_block
"""


def _clean(code: str) -> str | None:
    code = code.lstrip("\n").rstrip()
    return code if code.strip() else None


def _blocks(text: str) -> list[tuple[str, int, str]]:
    """Fenced code and output blocks of ``text`` in order: (kind, start, body)."""
    found = [("code", m.start(), m.group(1)) for m in _CODE_BLOCK.finditer(text)]
    found += [("output", m.start(), m.group(1)) for m in _OUTPUT_BLOCK.finditer(text)]
    return sorted(found, key=lambda block: block[1])


def find_code(step: str) -> str | None:
    """The last fenced python block of ``step``, without its fences; None when there is none.

    A block must be closed; an empty block counts as none.
    """
    matches = list(_CODE_BLOCK.finditer(step))
    return _clean(matches[-1].group(1)) if matches else None


def open_code_start(text: str) -> int | None:
    """Where the body of ``text``'s last python block starts if that block is not closed yet."""
    openings = list(_CODE_OPENING.finditer(text))
    if not openings or "```" in text[openings[-1].end() :]:
        return None
    return openings[-1].end()


def last_code_start(text: str) -> int | None:
    """Where the body of ``text``'s last python block starts (closed or not); None if none."""
    openings = list(_CODE_OPENING.finditer(text))
    return openings[-1].end() if openings else None


def pending_code(step: str) -> str | None:
    """The last python block of ``step`` if no output block follows it yet, else None."""
    blocks = _blocks(step)
    if not blocks or blocks[-1][0] != "code":
        return None
    return _clean(blocks[-1][2])


def history_code(previous_steps: Sequence[str]) -> list[str]:
    """Code blocks of earlier steps that ran (an output block follows) and did not time out."""
    history = []
    for step in previous_steps:
        blocks = _blocks(step)
        for (kind, _, body), following in pairwise(blocks):
            if kind != "code" or following[0] != "output":
                continue
            code = _clean(body)
            if code is not None and not following[2].startswith(TIMEOUT_PREFIX):
                history.append(code)
    return history


def program_with_history(code: str, history: Sequence[str] = ()) -> str:
    """``code`` preceded by a silent replay of ``history``, so earlier variables exist."""
    if not history:
        return code
    return _HISTORY_TEMPLATE.format(blocks=list(history)) + code


def _shorten(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    half = max_chars // 2
    return text[:half] + "\n...\n" + text[-half:]


def observation_text(result: SandboxResult, *, max_chars: int = 1000) -> str:
    """The output block a policy reads after its code ran.

    Printed output, then for a failure one line saying why (the exception line of the
    traceback, or the sandbox's reason: ``TimeoutError: ...`` for a timeout). Text longer
    than ``max_chars`` keeps its head and tail.
    """
    body = result.stdout.rstrip("\n")
    if result.stdout_truncated:
        body += "\n... (output truncated)"
    if result.status == "timeout":
        reason = TIMEOUT_PREFIX + result.message
    elif result.status == "ok":
        reason = ""
    else:
        reason = result.message
    if reason:
        body = f"{body}\n{reason}" if body else reason
    return f"```output\n{_shorten(body, max_chars)}\n```"


def execute_step(
    step: str,
    sandbox: Sandbox,
    *,
    previous_steps: Sequence[str] = (),
    max_chars: int = 1000,
) -> tuple[str, SandboxResult | None]:
    """Run the step's pending python block and append its observation.

    Returns the step unchanged and None when it has no python block or its last block
    already has an output. ``previous_steps`` are the solution's earlier steps, whose code
    is replayed first (see the module docstring).
    """
    code = pending_code(step)
    if code is None:
        return step, None
    result = sandbox.run(program_with_history(code, history_code(previous_steps)))
    return f"{step.rstrip()}\n{observation_text(result, max_chars=max_chars)}", result
