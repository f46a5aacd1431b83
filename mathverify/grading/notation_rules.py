"""Lenient rules for how an answer is written: tokens, characters, number spellings, words, letters.

Each rule rewrites a spelling that evaluators outside MATH accept (a stray end-of-text
token, Unicode math, ``2.5e-04``, ``5 million``, ``5^{th}``, ``yes``/``true``, a choice
letter with its content, ``m_{\\mathrm{e}}``) and compares the rewritten answers with the
whole lenient comparison; or it decides directly where there is nothing to compare but
words. Every rule only adds equalities, applies only when its spelling is present, and
leaves everything else to the strict grader. The registry, the order and ``--no-rule``
are in :mod:`mathverify.grading.lenient`; the table of cases in ``docs/grading.md``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from mathverify.grading.rule_tools import (
    NUMBER,
    Compare,
    strip_math,
    unwrap_text_words,
)

__all__ = [
    "choice_letter",
    "choice_mismatch",
    "empty_set",
    "end_tokens",
    "infinity_word",
    "number_words",
    "prime_mark",
    "scale_words",
    "ordinal_suffix",
    "sci_notation",
    "subscript_font",
    "trailing_punctuation",
    "unicode_math",
    "yes_no",
]


def _compare_rewritten(
    pred: str, gold: str, rewrite: Callable[[str], str], compare: Compare
) -> bool | None:
    """``compare`` on both answers rewritten; None if neither changed or one became empty."""
    new_pred, new_gold = rewrite(pred), rewrite(gold)
    if (new_pred, new_gold) == (pred, gold) or not new_pred.strip() or not new_gold.strip():
        return None
    return compare(new_pred, new_gold)


# -- generator leftovers -----------------------------------------------------------------

# Chat-template and sentence markers of common tokenizers: <|im_end|>, <|endoftext|>,
# <|eot_id|> (ChatML, GPT, Llama 3), </s> and <s> (Llama 2, Mistral), <eos>,
# <end_of_turn> (Gemma), <｜end▁of▁sentence｜> (DeepSeek, full-width bars).
_SPECIAL_TOKEN = (
    r"(?:<\|[^|<>\s]{1,40}\|>|<｜[^｜<>]{1,40}｜>|</?s>|<(?:eos|bos|pad|unk)>"
    r"|</?(?:end_of_turn|start_of_turn)>|\[(?:EOS|PAD|SEP)\])"
)
_EDGE_TOKENS = re.compile(rf"^(?:\s*{_SPECIAL_TOKEN})+|(?:\s*{_SPECIAL_TOKEN})+\s*$")


def end_tokens(pred: str, gold: str, compare: Compare) -> bool | None:
    """Special tokens a generator left at either end are dropped: ``17</s>``, ``17<|im_end|>``, ``\\boxed{17}<|endoftext|>`` = ``17``.

    Convention of RL reward functions that grade raw generations (verl, OpenRLHF): the
    end-of-text token is not part of the answer. Only whole tokens of the known shapes
    (``<|...|>``, ``<｜...｜>``, ``</s>``, ``<s>``, ``<eos>``, ``<end_of_turn>``) at the start
    or end go; the rest must still be equal (``18</s>`` != ``17``).
    """
    return _compare_rewritten(pred, gold, lambda text: _EDGE_TOKENS.sub("", text), compare)


# -- Unicode math ------------------------------------------------------------------------

_SYMBOLS = {
    "−": "-",
    "–": "-",
    "×": "\\times ",
    "·": "\\cdot ",
    "⋅": "\\cdot ",
    "÷": "\\div ",
    "±": "\\pm ",
    "∓": "\\mp ",
    "≤": "\\le ",
    "≥": "\\ge ",
    "≠": "\\ne ",
    "≈": "\\approx ",
    "∞": "\\infty ",
    "∪": "\\cup ",
    "∩": "\\cap ",
    "∈": "\\in ",
    "∅": "\\emptyset ",
    "→": "\\to ",
    "°": "^\\circ ",
    "′": "'",
    "″": "''",
    "ℝ": "\\mathbb{R}",
    "ℤ": "\\mathbb{Z}",
    "ℕ": "\\mathbb{N}",
    "ℚ": "\\mathbb{Q}",
    "ℂ": "\\mathbb{C}",
}
_GREEK_LETTERS = dict(
    zip(
        "αβγδεζηθικλμνξρστυφχψωΓΔΘΛΞΠΣΦΨΩπ",
        "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi rho sigma "
        "tau upsilon phi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Phi Psi Omega pi".split(),
        strict=True,
    )
)
_VULGAR = {"½": (1, 2), "⅓": (1, 3), "⅔": (2, 3), "¼": (1, 4), "¾": (3, 4), "⅕": (1, 5)}
_VULGAR |= {"⅖": (2, 5), "⅗": (3, 5), "⅘": (4, 5), "⅙": (1, 6), "⅚": (5, 6), "⅛": (1, 8)}
_VULGAR |= {"⅜": (3, 8), "⅝": (5, 8), "⅞": (7, 8)}
_SUPERSCRIPTS = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁽⁾ⁿ", "0123456789+-()n", strict=True))
_SUBSCRIPTS = dict(zip("₀₁₂₃₄₅₆₇₈₉₊₋", "0123456789+-", strict=True))
_ODD_SPACES = re.compile("[\u00a0\u2002\u2003\u2007\u2009\u200a\u202f\u3000]")
_ROOTS = {"√": "", "∛": "[3]", "∜": "[4]"}


def _to_latex(text: str) -> str:
    """Unicode math signs spelled in LaTeX: ``2√3`` -> ``2\\sqrt{3}``, ``x²`` -> ``x^{2}``, ``½`` -> ``\\frac{1}{2}``."""
    text = _ODD_SPACES.sub(" ", text).replace("\u200b", "")
    text = re.sub("[⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁽⁾ⁿ]+", lambda m: "^{" + _map(m.group(), _SUPERSCRIPTS) + "}", text)
    text = re.sub("[₀₁₂₃₄₅₆₇₈₉₊₋]+", lambda m: "_{" + _map(m.group(), _SUBSCRIPTS) + "}", text)
    text = re.sub("[" + "".join(_VULGAR) + "]", lambda m: _vulgar(m.group()), text)
    # a root sign takes a bracketed group, a number or one letter as its argument
    text = re.sub(
        r"([√∛∜])\s*(?:\(([^()]*)\)|(\d+(?:\.\d+)?|[a-zA-Z]))",
        lambda m: f"\\sqrt{_ROOTS[m.group(1)]}{{{m.group(2) or m.group(3)}}}",
        text,
    )
    text = re.sub("[√∛∜]", lambda m: f"\\sqrt{_ROOTS[m.group()]}", text)
    text = "".join(_SYMBOLS.get(c) or _greek(c) or c for c in text)
    return unicodedata.normalize("NFKC", text)  # full-width digits and punctuation: ，（）＝


def _vulgar(char: str) -> str:
    numerator, denominator = _VULGAR[char]
    return f"\\frac{{{numerator}}}{{{denominator}}}"


def _map(run: str, table: dict[str, str]) -> str:
    return "".join(table[c] for c in run)


def _greek(char: str) -> str | None:
    name = _GREEK_LETTERS.get(char)
    return f"\\{name} " if name else None


def unicode_math(pred: str, gold: str, compare: Compare) -> bool | None:
    """Unicode math is read as its LaTeX: ``−5`` = ``-5``, ``2√3`` = ``2\\sqrt3``, ``x²`` = ``x^2``, ``½`` = ``\\frac12``, ``30°`` = ``30^\\circ``, ``1，2`` = ``1,2``.

    Convention of MathArena's parser (``replace_unicode``: √, ×, −, π, narrow spaces) and
    OlympiadBench's judger (full-width comma and colon), which read what chat models
    print. Minus and dash signs, ×, ·, ÷, ±, ≤, ≥, ≠, ∞, ∪, ∈, ∅, °, primes, Greek letters,
    super- and subscript digits, vulgar fractions, root signs, odd spaces and full-width
    forms (NFKC) are rewritten; the values must still agree (``−5`` != ``5``).
    """
    if pred.isascii() and gold.isascii():
        return None
    return _compare_rewritten(pred, gold, _to_latex, compare)


# -- punctuation -------------------------------------------------------------------------

# not after another period, an escape (\;) or an abbreviation (a.m.)
_TRAILING_MARK = re.compile(r"(?<![.\\])(?<!\.[a-zA-Z])\s*[.;:!,。]\s*$")


def _without_trailing_mark(text: str) -> str:
    """``5.`` -> ``5``; ``$5$.`` -> ``$5$``; ``\\boxed{5.}`` -> ``\\boxed{5}``; ``1, 2, ...`` stays."""
    inner = strip_math(text) if "\\boxed" in text else None
    if inner is not None and inner != text.strip():
        text = inner
    return _TRAILING_MARK.sub("", text)


def trailing_punctuation(pred: str, gold: str, compare: Compare) -> bool | None:
    """A sentence mark ending the answer is dropped: ``5.`` = ``5``, ``x=3;`` = ``3``, ``\\text{Monday}.`` = ``Monday``.

    Convention of the MATH release's and MathArena's normalisers (``strip_string`` and
    ``normalize_string`` drop a final period) and of OlympiadBench's judger (strips
    ``.,:;!`` at the ends). One mark goes; an ellipsis (``1, 2, ...``), a backslash
    escape (``\\;``) and an abbreviation's period (``p.m.``) stay.
    """
    return _compare_rewritten(pred, gold, _without_trailing_mark, compare)


# -- number spellings --------------------------------------------------------------------

# A digit before e/E and a signed integer exponent, not part of a word or of a command.
_E_NOTATION = re.compile(r"(?<![\w.\\])(\d+(?:\.\d*)?|\.\d+)\s*[eE]\s*([-+]?)\s*(\d+)(?![\w.])")


def _e_to_times_ten(text: str) -> str:
    def times_ten(match: re.Match) -> str:
        sign = "-" if match.group(2) == "-" else ""
        return f"{match.group(1)}\\times 10^{{{sign}{match.group(3)}}}"

    return _E_NOTATION.sub(times_ten, text)


def sci_notation(pred: str, gold: str, compare: Compare) -> bool | None:
    """E-notation is a power of ten: ``2.5e-04`` = ``2.5\\times 10^{-4}``, ``1e-2`` = ``.01``, ``6.02E23`` = ``6.02\\times10^{23}``; ``1e-3`` != ``1e3``.

    Convention of numeric evaluators that read answers with ``float()`` (Qwen2.5-Math's
    ``evaluation/grader.py`` ``is_digit``, OlympiadBench's ``numerical_equal``); Math-Verify
    reads ``2e-1`` as Euler's e times 2 minus 1, which the strict verdict already tried.
    A number directly followed by ``e``/``E`` and a signed integer is rewritten.
    """
    return _compare_rewritten(pred, gold, _e_to_times_ten, compare)


_SCALE_WORDS = {"thousand": 3, "million": 6, "billion": 9, "trillion": 12}
_SCALED = re.compile(
    r"(\\?\$?\s*)(" + NUMBER + r")\s*(thousand|million|billion|trillion)s?", re.IGNORECASE
)


def _scaled_number(text: str) -> str:
    s = strip_math(unwrap_text_words(text)).strip()
    match = _SCALED.fullmatch(s)
    if not match:
        return text
    power = _SCALE_WORDS[match.group(3).lower()]
    return f"{match.group(1)}{match.group(2)}\\times 10^{{{power}}}"


def number_words(pred: str, gold: str, compare: Compare) -> bool | None:
    """A number with a scale word is multiplied out: ``5 million`` = ``5000000``, ``2.5 billion`` = ``2.5\\times10^9``.

    Convention of PRM800K's grader (``prm800k/grading/grader.py`` ``_normalize``: million,
    billion, trillion become powers of ten), with thousand added. The whole answer must be
    the number and the word (a ``\\$`` in front is kept).
    """
    return _compare_rewritten(pred, gold, _scaled_number, compare)


def scale_words(pred: str, gold: str, compare: Compare) -> bool | None:
    """A scale word is not a unit: ``5 million`` != ``5``, ``10\\text{ thousand}`` != ``10``.

    Math-Verify and the sympy grader drop trailing words, so they take ``5 million`` for 5;
    PRM800K's grader multiplies it out (``number_words``). Takes the equality away when the
    multiplied-out answers differ.
    """
    new_pred, new_gold = _scaled_number(pred), _scaled_number(gold)
    if (new_pred, new_gold) == (pred, gold):
        return None
    return None if compare(new_pred, new_gold) else False


_ORDINAL = re.compile(
    r"(\d+)\s*(?:\^\s*\{?\s*(?:\\(?:text|mathrm|textrm|rm)\s*\{?\s*)?(?:st|nd|rd|th)\s*\}?\s*\}?"
    r"|\\(?:text|mathrm|textrm)\s*\{\s*(?:st|nd|rd|th)\s*\}|(?:st|nd|rd|th))"
)


def ordinal_suffix(pred: str, gold: str, compare: Compare) -> bool | None:
    """An ordinal is its number: ``5^{\\mathrm{th}}`` = ``5^{th}`` = ``5th`` = ``5``; ``21^{st}`` != ``22``.

    Convention of the Minerva normaliser (lm-evaluation-harness ``minerva_math/utils.py``
    ``normalize_final_answer`` removes ``\\mathrm{th}``), generalised to st, nd, rd, th in
    any of these spellings; the whole answer must be the ordinal.
    """

    def number(text: str) -> str:
        match = _ORDINAL.fullmatch(strip_math(text))
        return match.group(1) if match else text

    return _compare_rewritten(pred, gold, number, compare)


# -- words and letters -------------------------------------------------------------------

_TRUTH_WORDS = {"yes": True, "true": True, "no": False, "false": False}


def _truth_value(text: str) -> bool | None:
    word = strip_math(unwrap_text_words(text)).strip().rstrip(".!").strip().lower()
    return _TRUTH_WORDS.get(word)


def yes_no(pred: str, gold: str, compare: Compare) -> bool | None:
    """A yes/no answer and a true/false answer agree by truth value: ``no`` = ``false``, ``\\text{Yes}`` = ``True``; ``yes`` != ``no``.

    Convention of evaluators with boolean answers (TheoremQA's ``True``/``False`` gold
    answers graded against ``yes``/``no``, OlympiadBench's yes/no answers); case and
    ``\\text{}`` do not matter. Applies only when both answers are one of these words.
    """
    pred_value, gold_value = _truth_value(pred), _truth_value(gold)
    if pred_value is None or gold_value is None:
        return None
    return pred_value == gold_value


_BARE_CHOICE = re.compile(r"\(?([A-J])\)?")
# a letter marked as a choice, (C) or C. or C) or C:, then its content
_CHOICE_WITH_CONTENT = re.compile(r"(?:\(([A-J])\)|([A-J])[.):])(?:\s|\\[ ,;!])+\S.*", re.DOTALL)


def _choice(text: str) -> tuple[str, bool] | None:
    """``(letter, has_content)`` of a multiple-choice answer; None if it is not one."""
    s = strip_math(unwrap_text_words(text)).replace("\\ ", " ").strip()
    bare = _BARE_CHOICE.fullmatch(s)
    if bare:
        return bare.group(1), False
    marked = _CHOICE_WITH_CONTENT.fullmatch(s)
    if marked:
        return marked.group(1) or marked.group(2), True
    return None


def choice_letter(pred: str, gold: str, compare: Compare) -> bool | None:
    """A choice letter with its content equals the letter: ``C. x = 42`` = ``C``, ``(A) 5`` = ``A``, ``\\textbf{(C)}\\ 12`` = ``C``; ``D`` != ``C. x = 42``.

    Convention of NeMo-Skills' ``math_grader`` (tests/test_math_equal.py: ``C`` =
    ``C. x = 42``) and of Qwen2.5-Math's ``choice_answer_clean``. A choice is a capital A to
    J, bare or in parentheses, or marked ``(C)``, ``C.``, ``C)``, ``C:`` and followed by its
    content; one side must carry content (two bare letters are the strict grader's).
    """
    pred_choice, gold_choice = _choice(pred), _choice(gold)
    if pred_choice is None or gold_choice is None:
        return None
    if not (pred_choice[1] or gold_choice[1]):
        return None
    return pred_choice[0] == gold_choice[0]


def choice_mismatch(pred: str, gold: str, compare: Compare) -> bool | None:
    """Two choices with different letters are different answers: ``A. 5`` != ``B. 5``, ``(A) 12`` != ``C``; ``(B) 5`` = ``B. 5``.

    The other side of ``choice_letter``: Math-Verify grades the content after the letter
    (``A. 5`` = ``B. 5`` for it), where a multiple-choice evaluator grades the letter
    (Qwen2.5-Math's ``choice_answer_clean``, NeMo-Skills' ``math_grader``). Applies when both
    answers are choices and at least one is marked with its content.
    """
    pred_choice, gold_choice = _choice(pred), _choice(gold)
    if pred_choice is None or gold_choice is None or not (pred_choice[1] or gold_choice[1]):
        return None
    return None if pred_choice[0] == gold_choice[0] else False


_FONT_COMMAND = re.compile(r"\\(?:mathrm|text|textrm|textnormal|mathit|textit|rm|it)(?![a-zA-Z])")
_BRACED_SUBSCRIPT = re.compile(r"_\s*\{((?:[^{}]|\{[^{}]*\})*)\}")
_COMMAND_SUBSCRIPT = re.compile(r"_\s*\\(?:mathrm|text|textrm|rm)\s*\{([^{}]*)\}")
_TOKEN_SUBSCRIPT = re.compile(r"_\s*([a-zA-Z0-9])")
_FONT_SUBSCRIPT = re.compile(
    r"_\s*(?:\{[^{}]*)?(?:\\(?:mathrm|text|textrm|textnormal|mathit|textit|rm|it)(?![a-zA-Z])|~)"
)


def plain_subscripts(text: str) -> str:
    """Subscripts without font commands, spaces or braces: ``m_{\\mathrm{e}}``, ``m_{~e}``, ``m_e`` -> ``m_{e}``."""

    def plain(content: str) -> str:
        content = _FONT_COMMAND.sub("", content)
        return "_{" + re.sub(r"[{}~\s]|\\[ ,;!]", "", content) + "}"

    text = _COMMAND_SUBSCRIPT.sub(lambda m: plain(m.group(1)), text)
    text = _BRACED_SUBSCRIPT.sub(lambda m: plain(m.group(1)), text)
    return _TOKEN_SUBSCRIPT.sub(lambda m: "_{" + m.group(1) + "}", text)


def subscript_font(pred: str, gold: str, compare: Compare) -> bool | None:
    """A subscript's font does not matter: ``m_{\\mathrm{e}}`` = ``m_e``, ``v_{\\text{max}}`` = ``v_{max}``; ``m_p`` != ``m_{\\mathrm{e}}``.

    Convention of OlympiadBench's judger (``\\mathrm{~x}`` becomes ``x``) for physics
    labels; Math-Verify reads ``\\mathrm{e}`` as Euler's number. Inside subscripts, font
    commands, braces, ``~`` and spaces go.
    """
    if not (_FONT_SUBSCRIPT.search(pred) or _FONT_SUBSCRIPT.search(gold)):
        return None  # m_e and m_{e} read alike already
    return _compare_rewritten(pred, gold, plain_subscripts, compare)


_PRIME = re.compile(r"\^\s*(?:\\prime|\{\s*((?:\\prime\s*)+)\})")


def _primes(text: str) -> str:
    return _PRIME.sub(lambda m: "'" * max(1, (m.group(1) or "").count("\\prime")), text)


def prime_mark(pred: str, gold: str, compare: Compare) -> bool | None:
    """A prime written as a superscript is an apostrophe: ``x^\\prime`` = ``x^{\\prime}`` = ``x'``, ``f^{\\prime\\prime}`` = ``f''``; ``x'`` != ``x''``.

    Convention of OlympiadBench's judger (``^\\prime`` and ``^{\\prime}`` become ``'``).
    Math-Verify drops primes altogether (``x'`` = ``x``), so the rewritten answers are
    compared as text (spaces aside), not handed back to it.
    """
    if "\\prime" not in pred and "\\prime" not in gold:
        return None
    pred_s, gold_s = (re.sub(r"\s+", "", _primes(strip_math(t))) for t in (pred, gold))
    return True if pred_s == gold_s else None


_INFINITY_WORD = re.compile(r"\b(?:infinity|inf)\b", re.IGNORECASE)


def _infinity_spelled(text: str) -> str:
    """``\\text{infinity}``, ``-inf``, ``(0, infinity)`` -> the same with ``\\infty``."""
    return _INFINITY_WORD.sub(r"\\infty ", unwrap_text_words(text))


def infinity_word(pred: str, gold: str, compare: Compare) -> bool | None:
    """Infinity written as a word is ``\\infty``: ``infinity`` = ``\\infty``, ``(0, \\text{inf})`` = ``(0, \\infty)``; ``-infinity`` != ``\\infty``.

    Convention of Qwen2.5-Math's ``evaluation/parser.py`` ``strip_string`` (``infinity``
    and a bare ``inf`` become ``\\infty``), also in DeepSeek-Math's and ToRA's normalisers.
    Only the whole words go (``infinite``, ``info`` stay); the values must still agree.
    """
    if not (_INFINITY_WORD.search(pred) or _INFINITY_WORD.search(gold)):
        return None
    return _compare_rewritten(pred, gold, _infinity_spelled, compare)


_EMPTY_SET = re.compile(r"\\emptyset|\\varnothing|\\O|\\\{\s*\\\}|\{\s*\}|∅")


def empty_set(pred: str, gold: str, compare: Compare) -> bool | None:
    """Every spelling of the empty set is the same set: ``\\varnothing`` = ``\\emptyset`` = ``\\{\\}`` = ``∅``; ``\\emptyset`` != ``\\{0\\}``.

    Convention of Qwen2.5-Math's ``strip_string`` (``\\emptyset`` becomes ``{}``). Applies
    only when both answers are a spelling of the empty set.
    """
    spelled = [_EMPTY_SET.fullmatch(strip_math(text)) for text in (pred, gold)]
    return True if all(spelled) else None
