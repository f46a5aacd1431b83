"""``SearchConfig``: every search option in one frozen dataclass whose fields carry their help,
and the table of which options each method reads.

The CLI (:mod:`mathverify.cli.search`) takes its option help from these fields, so the
library and the command line describe an option in one place. :data:`METHOD_FIELDS` says
which fields each method reads: a result's ``config`` records those and no others
(:meth:`SearchConfig.to_dict`), and an option given to a method that does not read it is
refused, naming it (:func:`check_options`, :meth:`SearchConfig.check`), because a setting
that is silently ignored is one the user believes shaped the numbers and did not.
:meth:`SearchConfig.check` also refuses values no method can honour.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
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
MCTS_BUDGETS = ("tree", "per-step")
# Defaults a method has of its own, where AlphaMath's released configs differ from the rest
# (github MARIO-Math-Reasoning/Super_MARIO): configs/sbs_sft.yaml temperature 0.6 (line 4),
# max_depth 10 (5), remove_duplicate True (15); configs/mcts_sft.yaml temperature 0.6
# (line 4), max_depth 8 (12), which is 9 here: the released MCTS cuts only nodes deeper
# than it (mcts_math/agents/mcts.py:179-182), so a 9th step may still give the answer,
# and max_depth here counts steps. MCTS keeps duplicates (remove_duplicate defaults to
# False, mcts_math/config.py:165-167); B2 5, iterations 40, c_puct 1.25 (mcts_sft.yaml
# lines 13, 15, 16) are every method's defaults already. SearchConfig.for_method applies them.
METHOD_DEFAULTS: dict[str, dict[str, Any]] = {
    "sbs": {"temperature": 0.6, "max_depth": 10, "distinct": True},
    "mcts": {"temperature": 0.6, "max_depth": 9},
}


def _opt(default: Any, help: str, short: str | None = None) -> Any:
    """A field with its help (docs) and, when the help runs past a line, the ``short`` one
    line that ``--help`` shows."""
    return field(default=default, metadata={"help": help, **({"short": short} if short else {})})


@dataclass(frozen=True)
class SearchConfig:
    """Options of every search method; each method reads the fields it needs."""

    n: int = _opt(
        8,
        "Solutions sampled per problem (majority, best-of-n, weighted-vote).",
        short="Samples per problem.",
    )
    b1: int = _opt(
        3,
        "SBS beam width B1: partial solutions kept per problem at each depth.",
        short="sbs: beam width B1.",
    )
    b2: int = _opt(
        5,
        "SBS expansion B2: candidate next steps sampled from each live beam (MCTS: from each "
        "expanded node; AlphaMath's n_generate_sample 5).",
        short="sbs, mcts: steps per expansion.",
    )
    temperature: float = _opt(
        0.7,
        "Sampling temperature (not greedy, which decodes at 0). Default: 0.6 for sbs and "
        "mcts, as AlphaMath released them (Super_MARIO configs/sbs_sft.yaml, "
        "configs/mcts_sft.yaml), 0.7 otherwise.",
        short="Sampling temperature; 0 decodes greedily.",
    )
    top_p: float = _opt(
        1.0,
        "Nucleus sampling top-p.",
        short="Nucleus sampling mass in (0, 1]; 1 keeps every token.",
    )
    seed: int = _opt(
        0,
        "Random seed of the sampling methods; same seed, same JSONL.",
        short="Random seed: same seed, same output.",
    )
    max_depth: int = _opt(
        16,
        "Most steps a solution may have. Default: 10 for sbs and 9 for mcts (AlphaMath's "
        "released 10 and 8; its MCTS cuts only steps past 8), 16 otherwise.",
        short="Most steps per solution.",
    )
    max_step_tokens: int = _opt(
        256,
        "Most tokens per step; whole-solution sampling allows max-depth x max-step-tokens.",
        short="Most tokens per step.",
    )
    aggregate: str | None = _opt(
        None,
        "How step scores make one solution score: min, product, last, mean "
        "(default: min for best-of-n and weighted-vote, last for sbs).",
        short="How step scores make a solution's score: min, product, last, mean.",
    )
    vote: bool = _opt(
        False,
        "SBS/offline: majority vote over a run's finished solutions instead of the best one.",
        short="sbs, offline: vote over finished solutions.",
    )
    runs: int = _opt(
        1,
        "SBS: independent runs per problem; the answer is the vote over their answers "
        "(offline votes over the runs its trees hold).",
        short="sbs: runs per problem (voted).",
    )
    distinct: bool = _opt(
        False,
        "SBS/MCTS: merge the identical steps one node sampled (same text after stripping, "
        "same ending) into one child, so no copy is scored or fills the beam twice; their "
        "tokens still count (--no-distinct: every sample its own node). Default: on for "
        "sbs, off for mcts, as AlphaMath released them (remove_duplicate). Offline: count "
        "identical partial solutions once when choosing the beam.",
        short="sbs, mcts: merge identical sibling steps.",
    )
    group_by: str = _opt(
        "grader",
        "How votes group answers: grader (equivalent by the grading pool) or string "
        "(same normalised text).",
        short="How votes group answers: grader or string.",
    )
    batch_problems: int = _opt(
        16,
        "Problems searched together: all their beams go to the backend in one call "
        "(offline reads all its trees at once).",
        short="Problems per batch; it shapes the samples.",
    )
    rule: str = _opt(
        "value",
        "Offline: node field that ranks candidates: value, q, visits or prior.",
        short="offline: rank by value, q, visits or prior.",
    )
    trees: str | None = _opt(
        None,
        "Offline: the tree JSONL saved by --save-tree.",
        short="offline: the trees JSONL saved by --save-tree.",
    )
    prune: bool = _opt(
        False,
        "Offline: AlphaMath's released re-selection (Super_MARIO offline_inference.py "
        "get_solution; offline_inference.yaml prune: True, with --rule q --b1 1): leaves that "
        "are not answers and nodes whose children are all such are pruned first, then the "
        "walk keeps the --b1 best children by --rule. Without it: our SBS walk, which "
        "repeats an online SBS search's answer.",
        short="offline: prune as AlphaMath's released code.",
    )
    simulations: int = _opt(
        40,
        "MCTS: select-expand-backup iterations per tree (AlphaMath's N; --mcts-budget tree), "
        "or simulations before each committed step (per-step); B2 steps per expansion.",
        short="mcts: simulations per tree (or step).",
    )
    mcts_budget: str = _opt(
        "tree",
        "MCTS: tree (the default, as AlphaMath released it: one tree per problem grows for "
        "--simulations "
        "iterations, finished solutions are never re-selected, and the answer is the pruned "
        "tree's best by Q) or per-step (--simulations before each committed step, the most "
        "visited child; finished solutions stay selectable).",
        short="mcts: tree or per-step.",
    )
    c_puct: float = _opt(
        1.25,
        "MCTS: exploration weight of the PUCT rule.",
        short="mcts: PUCT exploration weight.",
    )
    leaves_per_call: int = _opt(
        1,
        "MCTS (--mcts-budget tree): leaves each tree selects for one backend call, a virtual "
        "loss on each selected path steering the next selection elsewhere (AlphaGo's parallel "
        "search); the budget stays --simulations leaves per tree. 1: AlphaMath's sequential "
        "search exactly; more: larger backend calls and a different, still valid, search.",
        short="mcts: leaves per tree per call (virtual loss).",
    )
    gold_reward: bool = _opt(
        False,
        "MCTS: terminal reward +1/-1 by grading against the gold answer (training problems "
        "only); otherwise the scorer's value of the finished solution.",
        short="mcts: final reward from the gold answer.",
    )
    rollout: bool = _opt(
        True,
        "MCTS without a scorer: value a new leaf by one sampled rollout to the end, graded "
        "against the gold answer (+1/-1); off: 0.",
        short="mcts, no scorer: value leaves by a rollout.",
    )
    rollout_mix: float = _opt(
        0.0,
        "MCTS with a scorer and --gold-reward (training problems): value a new leaf by "
        "(1 - w) x the scorer's value + w x the graded reward of one sampled rollout "
        "(AlphaGo's mixed leaf evaluation); 0: the value alone, as AlphaMath's later rounds.",
        short="mcts: a rollout's share of leaf values.",
    )
    prompt: PromptFormat = field(
        default_factory=PromptFormat,
        metadata={
            "help": "Prompt template and step separator (from the policy's mathverify.json)."
        },
    )

    # ------------------------------------------------------------------------------

    @classmethod
    def for_method(cls, method: str, **given: Any) -> SearchConfig:
        """A config for ``method``: the fields given, else the method's own defaults
        (:data:`METHOD_DEFAULTS`, AlphaMath's released values for sbs and mcts), else the
        field defaults. A None given for a field whose default is not None counts as not
        given (an option left out on the command line)."""
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        chosen = {
            name: value
            for name, value in given.items()
            if value is not None or defaults.get(name) is None
        }
        return cls(**{**METHOD_DEFAULTS.get(method, {}), **chosen})

    def aggregation(self, method: str) -> str:
        """The aggregation ``method`` uses: the configured one, else the method's default."""
        return self.aggregate or DEFAULT_AGGREGATE.get(method, "last")

    @property
    def max_solution_tokens(self) -> int:
        return self.max_depth * self.max_step_tokens

    def check(self, method: str, *, has_scorer: bool) -> None:
        """Raise :class:`MathverifyError` for settings ``method`` cannot run with.

        A field ``method`` does not read must hold its default (else it was set for
        nothing); only the fields it reads have their values checked.
        """
        if method not in METHOD_FIELDS:
            raise MathverifyError(f"--method {method!r}: choose one of {', '.join(METHODS)}")
        read = fields_read(method, has_scorer=has_scorer)
        for name, default in _defaults().items():
            if name not in read and getattr(self, name) != default:
                raise MathverifyError(not_read_message(name, method, has_scorer=has_scorer))
        self._check_values(read)
        self._check_combinations(method, has_scorer)

    def _check_values(self, read: tuple[str, ...]) -> None:
        """Each read field's value on its own: counts at least 1, names from their lists."""
        for name in POSITIVE:
            value = getattr(self, name)
            if name in read and value < 1:
                raise MathverifyError(f"{flag(name)} must be at least 1, got {value}")
        if "temperature" in read and self.temperature < 0:
            raise MathverifyError(f"--temperature must be >= 0, got {self.temperature}")
        if "top_p" in read and not 0 < self.top_p <= 1:
            raise MathverifyError(f"--top-p must be in (0, 1], got {self.top_p}")
        choices = {
            "aggregate": AGGREGATIONS,
            "group_by": GROUP_BY,
            "rule": RULES,
            "mcts_budget": MCTS_BUDGETS,
        }
        for name, allowed in choices.items():
            value = getattr(self, name)
            if name in read and value is not None and value not in allowed:
                raise MathverifyError(f"{flag(name)} {value!r}: choose from {', '.join(allowed)}")
        if "c_puct" in read and self.c_puct < 0:
            raise MathverifyError(f"--c-puct must be >= 0, got {self.c_puct}")
        if "rollout_mix" in read and not 0 <= self.rollout_mix <= 1:
            raise MathverifyError(f"--rollout-mix must be in [0, 1], got {self.rollout_mix}")

    def _check_combinations(self, method: str, has_scorer: bool) -> None:
        """Settings that are fine alone but not together, or not without a scorer."""
        if method == "offline" and self.prune:
            for name in PRUNE_UNREAD:
                if getattr(self, name) != _defaults()[name]:
                    flag = "--" + name.replace("_", "-")
                    raise MathverifyError(f"{flag} does not apply to offline --prune")
        if method in ("sbs", "offline") and self.b1 > self.b2:
            raise MathverifyError(
                f"--b1 {self.b1} > --b2 {self.b2}: the beam keeps B1 of the B2 candidates "
                "each beam proposes, so B1 must not exceed B2"
            )
        if method == "sbs" and not has_scorer and self.b1 > 1:
            raise MathverifyError(
                f"sbs with --b1 {self.b1} needs a scorer to rank the beams; give --scorer "
                "(a PRM, ORM or value model), or use --b1 1"
            )
        if method in ("best-of-n", "weighted-vote") and not has_scorer:
            raise MathverifyError(
                f"{method} needs a scorer; give --scorer (a PRM, ORM or value model)"
            )
        if method == "mcts":
            if self.mcts_budget == "per-step" and self.leaves_per_call > 1:
                raise MathverifyError(PER_STEP_LEAVES)
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
        if method == "offline" and not self.trees:
            raise MathverifyError("offline needs --trees, a tree JSONL saved by --save-tree")

    def to_dict(self, method: str, *, has_scorer: bool | None = None) -> dict[str, Any]:
        """The settings that shaped a result, as recorded in its ``config`` field.

        Only the fields ``method`` reads (with ``has_scorer`` unknown: all it may read), plus
        what it runs with whatever the config says (greedy's temperature 0).
        """
        read = fields_read(method, has_scorer=has_scorer)
        if method == "offline" and self.prune:
            read = tuple(name for name in read if name not in PRUNE_UNREAD)
        out: dict[str, Any] = {"method": method}
        for f in dataclasses.fields(self):
            if f.name in read:
                out[f.name] = getattr(self, f.name)
        if "prompt" in out:
            out["prompt"] = self.prompt.to_dict()
        if "aggregate" in out:
            out["aggregate"] = self.aggregation(method)
        out.update(FIXED.get(method, {}))
        return out


# --------------------------------------------------------------------------------------
# Which method reads what. Read a method's module before changing its row: a field listed
# here that the method does not read is a setting its results claim and it ignored.

METHODS = ("greedy", "majority", "best-of-n", "weighted-vote", "sbs", "mcts", "offline")
SCORER_METHODS = ("best-of-n", "weighted-vote", "sbs", "mcts")
TREE_METHODS = ("sbs", "mcts")  # the methods that build trees (--save-tree)
# Every method that samples reads these (greedy decodes at temperature 0: no seed, no top-p).
SAMPLING = ("prompt", "temperature", "top_p", "seed", "max_depth", "max_step_tokens")
METHOD_FIELDS: dict[str, tuple[str, ...]] = {
    "greedy": ("prompt", "max_depth", "max_step_tokens", "batch_problems"),
    "majority": (*SAMPLING, "batch_problems", "n", "group_by"),
    "best-of-n": (*SAMPLING, "batch_problems", "n", "aggregate"),
    "weighted-vote": (*SAMPLING, "batch_problems", "n", "aggregate", "group_by"),
    "sbs": (
        *SAMPLING,
        "batch_problems",
        *("b1", "b2", "aggregate", "vote", "runs", "distinct", "group_by"),
    ),
    "mcts": (
        *SAMPLING,
        "batch_problems",
        *("b2", "simulations", "c_puct", "gold_reward", "rollout", "rollout_mix"),
        *("distinct", "mcts_budget", "leaves_per_call"),
    ),
    # No model (the trees hold the prompt), one batch, and a vote over the trees' own runs.
    "offline": (
        *("trees", "rule", "prune", "b1", "b2", "max_depth", "distinct", "vote", "group_by"),
    ),
}
# Fields a method reads only with a scorer (sbs without one ranks by the policy's prior), or
# only without one (mcts with one values new leaves by the scorer, not by rollouts).
SCORER_ONLY: dict[str, tuple[str, ...]] = {"sbs": ("aggregate",), "mcts": ("rollout_mix",)}
NO_SCORER_ONLY: dict[str, tuple[str, ...]] = {"mcts": ("rollout",)}
# What offline --prune (the released get_solution) does not read: it walks the pruned tree
# to its answers, whatever their depth, and ranks each node on its own.
PRUNE_UNREAD = ("max_depth", "distinct")
# What a method runs with whatever its config says: recorded, never read.
FIXED: dict[str, dict[str, Any]] = {"greedy": {"temperature": 0.0}}
POSITIVE = (
    "n",
    "b1",
    "b2",
    "max_depth",
    "max_step_tokens",
    "runs",
    "batch_problems",
    "simulations",
    "leaves_per_call",
)
PER_STEP_LEAVES = (
    "--leaves-per-call applies to --mcts-budget tree only: per-step selects one leaf per "
    "simulation; leave it out or use --mcts-budget tree"
)

# The command line's options beyond SearchConfig's fields: those that load or shape the
# policy (every method but offline reads them), the scorer's, and --save-tree.
POLICY_OPTIONS = (
    "policy",
    "backend",
    "base_url",
    "model_name",
    "max_concurrency",
    "tensor_parallel_size",
    "gpu_memory_utilization",
    "device",
    "dtype",
    "prompt_format",
    "system",
    "step_format",
    "sandbox_timeout",
    "sandbox_memory_mb",
    "max_code_runs",
)
SCORER_OPTIONS = ("scorer_format", "scorer_batch_size")


def flag(name: str) -> str:
    """The command-line spelling of option ``name`` (``max_depth`` -> ``--max-depth``)."""
    return "--" + name.replace("_", "-")


def fields_read(method: str, *, has_scorer: bool | None = None) -> tuple[str, ...]:
    """The :class:`SearchConfig` fields ``method`` reads (``has_scorer`` None: with or without)."""
    names = METHOD_FIELDS[method]
    if has_scorer is False:
        names = tuple(n for n in names if n not in SCORER_ONLY.get(method, ()))
    if has_scorer is True:
        names = tuple(n for n in names if n not in NO_SCORER_ONLY.get(method, ()))
    return names


def options_read(method: str, *, has_scorer: bool | None = None) -> frozenset[str]:
    """The options ``method`` reads: its config fields and the model options it uses."""
    names = set(fields_read(method, has_scorer=has_scorer))
    if method != "offline":
        names.update(POLICY_OPTIONS)
    if method in SCORER_METHODS:
        names.add("scorer")
        if has_scorer is not False:
            names.update(SCORER_OPTIONS)
    if method in TREE_METHODS:
        names.add("save_tree")
    return frozenset(names)


def not_read_message(name: str, method: str, *, has_scorer: bool) -> str:
    """Why option ``name`` does not apply to ``method``, naming the methods it applies to."""
    if name in options_read(method, has_scorer=not has_scorer):
        if has_scorer:
            return f"{flag(name)} applies to {method} only without a scorer (--scorer none)"
        return (
            f"{flag(name)} applies to {method} only with a scorer: give --scorer (a PRM, ORM "
            f"or value model), or leave out {flag(name)}"
        )
    readers = [m for m in METHODS if name in options_read(m)]
    return f"{flag(name)} applies to {', '.join(readers)}, not {method}"


def check_options(method: str, given: Iterable[str], *, has_scorer: bool) -> None:
    """Refuse an option the user gave (``given``: option names) that ``method`` does not read.

    Given means set on the command line, even to its default value: ``--simulations 40``
    with greedy is refused as much as ``--simulations 8``. Options every method reads
    (problems, output, grading, ...) are not in the tables and pass.
    """
    read = options_read(method, has_scorer=has_scorer)
    for name in given:
        if name in KNOWN_OPTIONS and name not in read:
            raise MathverifyError(not_read_message(name, method, has_scorer=has_scorer))


def config_from_options(options: Mapping[str, Any], method: str | None = None) -> SearchConfig:
    """A :class:`SearchConfig` from command-line options by name (other names ignored); an
    option left out (None) takes ``method``'s own default (:meth:`SearchConfig.for_method`)."""
    names = {f.name for f in dataclasses.fields(SearchConfig)}
    given = {k: v for k, v in options.items() if k in names}
    return SearchConfig.for_method(method or "", **given)


def _defaults() -> dict[str, Any]:
    """Each option field's default (``prompt`` is the policy's, not an option)."""
    return {
        f.name: f.default
        for f in dataclasses.fields(SearchConfig)
        if f.default is not dataclasses.MISSING
    }


KNOWN_OPTIONS = frozenset().union(*(options_read(m) for m in METHODS))


def field_help(name: str) -> str:
    """The one-line help of a :class:`SearchConfig` field, for CLI options (its ``short``
    text when the whole help runs past a line)."""
    for f in dataclasses.fields(SearchConfig):
        if f.name == name:
            return f.metadata.get("short") or f.metadata["help"]
    raise KeyError(name)
