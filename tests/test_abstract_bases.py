"""The base classes say what a subclass must provide (``abc.ABC``), and every subclass does.

A record type must say its key (resume skips by it); a token scorer must say how it
tokenises a solution and where its probabilities go. A subclass that forgets one is refused
when it is built, naming the method, not when the method is first called mid-run.
"""

from __future__ import annotations

import inspect

import pytest

from mathverify.records import Record
from mathverify.scoring import orm, prm, public, value  # noqa: F401  (their subclasses)
from mathverify.scoring.prm import TokenScorer


def _subclasses(base: type) -> list[type]:
    found = []
    for cls in base.__subclasses__():
        found += [cls, *_subclasses(cls)]
    return found


@pytest.mark.parametrize(
    ("base", "required"), [(Record, {"key"}), (TokenScorer, {"tokenize", "place"})]
)
def test_the_base_names_what_a_subclass_must_provide(base: type, required: set[str]) -> None:
    assert base.__abstractmethods__ == required
    forgetful = type("Forgetful", (base,), {})
    with pytest.raises(TypeError, match="abstract"):
        forgetful.__new__(forgetful)  # refused before any __init__ (no model is loaded)


@pytest.mark.parametrize("base", [Record, TokenScorer])
def test_every_subclass_in_the_package_provides_it(base: type) -> None:
    subclasses = [c for c in _subclasses(base) if c.__module__.startswith("mathverify.")]
    assert subclasses
    assert [c.__name__ for c in subclasses if inspect.isabstract(c)] == []
