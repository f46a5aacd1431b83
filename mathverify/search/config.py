"""``SearchConfig``: every search option in one frozen dataclass whose fields carry their help.

The CLI (:mod:`mathverify.cli.search`) takes its option help from these fields, so the
library and the command line describe an option in one place. :meth:`SearchConfig.check`
refuses settings no method can honour, with a one-line message naming the option.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from mathverify.errors import MathverifyError
from mathverify.prompting import PromptFormat
from mathverify.step_scores import AGGREGATIONS

GROUP_BY = ("grader", "string")
RULES = ("value", "q", "visits", "prior")
# Methods that rank with a scorer, and the aggregation each uses unless told otherwise.
DEFAULT_AGGREGATE = {
    "best-of-n": "min",
    "weighted-vote": "min",
    "sbs": "last",
}


def _opt(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class SearchConfig:
    """Options of every search method; each method reads the fields it needs."""

    n: int = _opt(8, "Solutions sampled per problem (majority, best-of-n, weighted-vote).")
    b1: int = _opt(3, "SBS beam width B1: partial solutions kept per problem at each depth.")
    b2: int = _opt(5, "SBS expansion B2: candidate next steps sampled from each live beam.")
    temperature: float = _opt(0.7, "Sampling temperature (greedy always uses 0).")
    top_p: float = _opt(1.0, "Nucleus sampling top-p.")
    seed: int = _opt(0, "Random seed; same seed, same JSONL.")
    max_depth: int = _opt(16, "Most steps a solution may have.")
    max_step_tokens: int = _opt(
        256,
        "Most tokens per step; whole-solution sampling allows max-depth x max-step-tokens.",
    )
    aggregate: str | None = _opt(
        None,
        "How step scores make one solution score: min, product, last, mean "
        "(default: min for best-of-n and weighted-vote, last for sbs).",
    )
    vote: bool = _opt(
        False, "SBS/offline: majority vote over a run's finished solutions instead of the best one."
    )
    runs: int = _opt(
        1, "SBS/offline: independent runs per problem; the answer is the vote over their answers."
    )
    distinct: bool = _opt(
        False,
        "SBS/offline: keep one copy of identical partial solutions when choosing the beam, so "
        "B1 > 1 holds B1 different paths (off, as AlphaMath, copies may fill the beam).",
    )
    group_by: str = _opt(
        "grader",
        "How votes group answers: grader (equivalent by the grading pool) or string "
        "(same normalised text).",
    )
    batch_problems: int = _opt(
        16, "Problems searched together: all their beams go to the backend in one call."
    )
    rule: str = _opt(
        "value", "Offline: node field that ranks candidates: value, q, visits or prior."
    )
    trees: str | None = _opt(None, "Offline: the tree JSONL saved by --save-tree.")
    simulations: int = _opt(
        40, "MCTS: simulations before each committed step (AlphaMath's N); B2 steps per expansion."
    )
    c_puct: float = _opt(1.25, "MCTS: exploration weight of the PUCT rule.")
    gold_reward: bool = _opt(
        False,
        "MCTS: terminal reward +1/-1 by grading against the gold answer (training problems "
        "only); otherwise the scorer's value of the finished solution.",
    )
    rollout: bool = _opt(
        True,
        "MCTS without a scorer: value a new leaf by one sampled rollout to the end, graded "
        "against the gold answer (+1/-1); off: 0.",
    )
    rollout_mix: float = _opt(
        0.0,
        "MCTS with a scorer and --gold-reward (training problems): value a new leaf by "
        "(1 - w) x the scorer's value + w x the graded reward of one sampled rollout "
        "(AlphaGo's mixed leaf evaluation); 0: the value alone, as AlphaMath's later rounds.",
    )
    prompt: PromptFormat = field(
        default_factory=PromptFormat,
        metadata={
            "help": "Prompt template and step separator (from the policy's mathverify.json)."
        },
    )

    # ------------------------------------------------------------------------------

    def aggregation(self, method: str) -> str:
        """The aggregation ``method`` uses: the configured one, else the method's default."""
        return self.aggregate or DEFAULT_AGGREGATE.get(method, "last")

    @property
    def max_solution_tokens(self) -> int:
        return self.max_depth * self.max_step_tokens

    def check(self, method: str, *, has_scorer: bool) -> None:
        """Raise :class:`MathverifyError` for settings ``method`` cannot run with."""
        positive = {
            "n": self.n,
            "max-depth": self.max_depth,
            "max-step-tokens": self.max_step_tokens,
            "runs": self.runs,
            "batch-problems": self.batch_problems,
        }
        for name, value in positive.items():
            if value < 1:
                raise MathverifyError(f"--{name} must be at least 1, got {value}")
        if self.temperature < 0:
            raise MathverifyError(f"--temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise MathverifyError(f"--top-p must be in (0, 1], got {self.top_p}")
        if self.aggregate is not None and self.aggregate not in AGGREGATIONS:
            raise MathverifyError(
                f"--aggregate {self.aggregate!r}: choose from {', '.join(AGGREGATIONS)}"
            )
        if self.group_by not in GROUP_BY:
            raise MathverifyError(
                f"--group-by {self.group_by!r}: choose from {', '.join(GROUP_BY)}"
            )
        if method in ("sbs", "offline"):
            if self.b1 < 1:
                raise MathverifyError(f"--b1 must be at least 1, got {self.b1}")
            if self.b2 < 1:
                raise MathverifyError(f"--b2 must be at least 1, got {self.b2}")
            if self.b1 > self.b2:
                raise MathverifyError(
                    f"--b1 {self.b1} > --b2 {self.b2}: the beam keeps B1 of the B2 candidates "
                    "each beam proposes, so B1 must not exceed B2"
                )
        else:
            if self.runs != 1:
                raise MathverifyError(f"--runs applies to sbs and offline, not {method}")
            if self.vote:
                raise MathverifyError(f"--vote applies to sbs and offline, not {method}")
        if method == "sbs" and not has_scorer and self.b1 > 1:
            raise MathverifyError(
                f"sbs with --b1 {self.b1} needs a scorer to rank the beams; give --scorer "
                "(a PRM, ORM or value model), or use --b1 1"
            )
        if method == "mcts":
            if self.simulations < 1:
                raise MathverifyError(f"--simulations must be at least 1, got {self.simulations}")
            if self.c_puct < 0:
                raise MathverifyError(f"--c-puct must be >= 0, got {self.c_puct}")
            if self.b2 < 1:
                raise MathverifyError(f"--b2 must be at least 1, got {self.b2}")
            if not 0 <= self.rollout_mix <= 1:
                raise MathverifyError(f"--rollout-mix must be in [0, 1], got {self.rollout_mix}")
            if self.rollout_mix > 0 and not has_scorer:
                raise MathverifyError(
                    "--rollout-mix mixes a scorer's value with rollouts: give --scorer "
                    "(without one, --rollout values leaves by rollouts alone)"
                )
            if self.rollout_mix > 0 and not self.gold_reward:
                raise MathverifyError(
                    "--rollout-mix grades rollouts against the gold answer: it needs "
                    "--gold-reward (training problems only)"
                )
            if not has_scorer and not self.gold_reward:
                raise MathverifyError(
                    "mcts without a scorer has nothing to value solutions with: give --scorer "
                    "(a value model, PRM or ORM) or --gold-reward (training problems)"
                )
        elif self.rollout_mix:
            raise MathverifyError(f"--rollout-mix applies to mcts, not {method}")
        if method in ("best-of-n", "weighted-vote") and not has_scorer:
            raise MathverifyError(
                f"{method} needs a scorer; give --scorer (a PRM, ORM or value model)"
            )
        if method == "offline":
            if self.rule not in RULES:
                raise MathverifyError(f"--rule {self.rule!r}: choose from {', '.join(RULES)}")
            if not self.trees:
                raise MathverifyError("offline needs --trees, a tree JSONL saved by --save-tree")

    def to_dict(self, method: str) -> dict[str, Any]:
        """The settings that shaped a result, as recorded in its ``config`` field."""
        out = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "prompt"
        }
        out["prompt"] = self.prompt.to_dict()
        out["aggregate"] = self.aggregation(method)
        out["method"] = method
        return out


def field_help(name: str) -> str:
    """The help text of one :class:`SearchConfig` field (for CLI options)."""
    for f in dataclasses.fields(SearchConfig):
        if f.name == name:
            return f.metadata["help"]
    raise KeyError(name)
