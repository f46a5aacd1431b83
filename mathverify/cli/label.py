"""``mathverify label``: attach step or outcome labels to solutions.

Each method reads its own options (:data:`METHOD_OPTIONS`); an option given that the chosen
method does not read is an error naming it, since the user believes it shaped the labels.
Every setup that can fail (option values, models, the grading pool) runs before the output
opens, so a refused command leaves an existing output as it was. Each record written carries
the method's settings in ``meta.provenance.label``, and ``--resume`` refuses a partial file
written with other ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mathverify.cli.app import (
    DEFAULT_DEVICE,
    LABELING,
    PERFORMANCE,
    QUIET_RENAMED,
    SAMPLING,
    DeviceOpt,
    InputOpt,
    OutputOpt,
    ProblemsOpt,
    QuietOpt,
    ResumeOpt,
    SeedOpt,
    ShardOpt,
    check_resumable,
    command,
    console,
    progress_bar,
    refuse_unread,
)
from mathverify.cli.grading_options import (
    AuditOpt,
    GradersOpt,
    GradeTimeoutOpt,
    GradeWorkersOpt,
    GradingModeOpt,
    NoRuleOpt,
    open_pool,
)
from mathverify.cli.policy_options import (
    DEFAULT_DTYPE,
    DEFAULT_GPU_MEMORY_UTILIZATION,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_TENSOR_PARALLEL_SIZE,
    BackendOpt,
    BaseUrlOpt,
    DtypeOpt,
    GpuMemoryOpt,
    MaxCodeRunsOpt,
    MaxConcurrencyOpt,
    MaxTokensOpt,
    ModelNameOpt,
    PolicyOpt,
    PromptFormatOpt,
    SandboxMemoryOpt,
    SandboxTimeoutOpt,
    StepFormatOpt,
    SystemOpt,
    TemperatureOpt,
    TensorParallelOpt,
    open_policy,
    policy_provenance,
    step_format_config,
    step_format_summary,
    with_step_format,
)
from mathverify.cli.score import ScorerFormatOpt, ScorerOpt
from mathverify.errors import MathverifyError
from mathverify.provenance import Provenance
from mathverify.records import (
    Problem,
    RecordWriter,
    Solution,
    in_shard,
    parse_shard,
    read_problems_by_id,
    read_records,
)

if TYPE_CHECKING:
    from mathverify.backends.base import Policy
    from mathverify.labeling.rollout import RolloutConfig
    from mathverify.prompting import PromptFormat

METHODS = ("outcome", "exact", "rollout", "supervisor", "mcts")

# Options every method reads.
COMMON_OPTIONS = ("method", "problems", "input", "output", "resume", "shard", "quiet")
GRADING_OPTIONS = ("graders", "audit", "grade_timeout", "grade_workers", "grading", "no_rule")
POLICY_OPTIONS = (
    "policy", "backend", "base_url", "model_name", "max_concurrency", "dtype", "device",
    "tensor_parallel_size", "gpu_memory_utilization", "prompt_format", "system",
    "step_format", "sandbox_timeout", "sandbox_memory_mb", "max_code_runs",
)  # fmt: skip
# The options each method reads besides COMMON_OPTIONS. One line per method.
METHOD_OPTIONS: dict[str, tuple[str, ...]] = {
    "outcome": GRADING_OPTIONS,
    "exact": (),
    "rollout": (
        *POLICY_OPTIONS,
        "rollouts",
        "temperature",
        "max_tokens",
        "soft",
        "cut_after_first_wrong",
        "chunk",
        "seed",
        *GRADING_OPTIONS,
    ),  # fmt: skip
    "supervisor": ("scorer", "scorer_format", "device", "threshold", "soft", "chunk"),
    "mcts": ("pairs",),
}
# Read by --method mcts only with --pairs.
PAIR_OPTIONS = ("min_q_gap", "max_pairs_per_node", "min_visits", "opposite_q_signs")


def _readers(name: str) -> str | None:
    """Which methods read option ``name``, for the message that refuses it."""
    if name in PAIR_OPTIONS:
        return "--method mcts --pairs"
    methods = [m for m, names in METHOD_OPTIONS.items() if name in names]
    return f"--method {', '.join(methods)}" if methods else None


def refuse_unread_options(ctx: typer.Context, method: str, pairs: bool) -> None:
    """Refuse every option given that ``method`` (with or without ``--pairs``) does not read."""
    if pairs and method != "mcts":
        raise MathverifyError("--pairs needs --method mcts (pairs come from MCTS trees)")
    read = (*COMMON_OPTIONS, *METHOD_OPTIONS[method], *(PAIR_OPTIONS if pairs else ()))
    chosen = f"--method {method}" + (" without --pairs" if method == "mcts" and not pairs else "")
    refuse_unread(ctx, read, chosen, _readers)


def grading_settings(
    graders: str, grading: str, no_rule: str | None, grade_timeout: float
) -> dict[str, Any]:
    """The grading settings that decide verdicts (not the worker count or the audit file)."""
    return {
        "graders": graders,
        "grading": grading,
        "no_rule": no_rule,
        "grade_timeout": grade_timeout,
    }


@command(
    "label",
    renamed={"--k": "--rollouts", **QUIET_RENAMED},
    help=(
        "Label solutions. [bold]outcome[/bold]: grade each final answer (sets `outcome`). "
        "[bold]exact[/bold]: the synthetic task's checker (gold step labels). "
        "[bold]rollout[/bold]: Math-Shepherd Monte-Carlo labels from --rollouts completions of each "
        "step prefix (--policy). [bold]supervisor[/bold]: a trained PRM labels the steps (--scorer). "
        "[bold]mcts[/bold]: the input is MCTS trees (search --method mcts --save-tree); writes "
        "every trajectory and visited partial path with (Q+1)/2 step labels (AlphaMath); with "
        "--pairs, step-level preference pairs of sibling steps by Q instead (SVPO). "
        "An option the chosen method does not read is an error."
    ),
)
def label(
    ctx: typer.Context,
    problems: ProblemsOpt,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            "-m",
            help=f"One of: {', '.join(METHODS)} (see docs/labeling.md).",
            rich_help_panel=LABELING,
        ),
    ],
    input: InputOpt = "-",
    output: OutputOpt = "-",
    resume: ResumeOpt = False,
    shard: ShardOpt = None,
    quiet: QuietOpt = False,
    soft: Annotated[
        bool,
        typer.Option(
            "--soft/--hard",
            help="rollout, supervisor: soft labels (share or score), not hard 0/1.",
            rich_help_panel=LABELING,
        ),
    ] = False,
    cut_after_first_wrong: Annotated[
        bool,
        typer.Option(
            "--cut-after-first-wrong",
            help="rollout: stop at a solution's first step estimated wrong.",
            rich_help_panel=LABELING,
        ),
    ] = False,
    threshold: Annotated[
        float,
        typer.Option(
            "--threshold",
            help="supervisor: a step scored below this (in [0, 1]) is wrong.",
            rich_help_panel=LABELING,
        ),
    ] = 0.5,
    pairs: Annotated[
        bool,
        typer.Option(
            "--pairs",
            help="mcts: write step-level preference pairs by Q instead (SVPO).",
            rich_help_panel=LABELING,
        ),
    ] = False,
    min_q_gap: Annotated[
        float,
        typer.Option(
            "--min-q-gap",
            help="mcts --pairs: least Q difference of a pair (ties never pair).",
            rich_help_panel=LABELING,
        ),
    ] = 0.0,
    max_pairs_per_node: Annotated[
        int | None,
        typer.Option(
            "--max-pairs-per-node",
            help="mcts --pairs: most pairs per node, the largest Q gaps first.",
            rich_help_panel=LABELING,
        ),
    ] = None,
    min_visits: Annotated[
        int,
        typer.Option(
            "--min-visits",
            help="mcts --pairs: least visits of each step of a pair (0: unvisited ones too).",
            rich_help_panel=LABELING,
        ),
    ] = 0,
    opposite_q_signs: Annotated[
        bool,
        typer.Option(
            "--opposite-q-signs",
            help="mcts --pairs: keep only pairs with chosen Q > 0 > rejected Q.",
            rich_help_panel=LABELING,
        ),
    ] = False,
    policy: PolicyOpt = None,
    backend: BackendOpt = "hf",
    base_url: BaseUrlOpt = None,
    model_name: ModelNameOpt = None,
    dtype: DtypeOpt = DEFAULT_DTYPE,
    prompt_format: PromptFormatOpt = "auto",
    system: SystemOpt = None,
    step_format: StepFormatOpt = "plain",
    sandbox_timeout: SandboxTimeoutOpt = 5.0,
    sandbox_memory_mb: SandboxMemoryOpt = 512,
    max_code_runs: MaxCodeRunsOpt = 8,
    rollouts: Annotated[
        int,
        typer.Option(
            "--rollouts",
            help="rollout: completions sampled per step prefix.",
            rich_help_panel=SAMPLING,
        ),
    ] = 8,
    temperature: TemperatureOpt = 0.7,
    max_tokens: MaxTokensOpt = 256,
    seed: SeedOpt = 0,
    scorer: ScorerOpt = None,
    scorer_format: ScorerFormatOpt = "auto",
    graders: GradersOpt = "math-verify",
    audit: AuditOpt = None,
    grade_timeout: GradeTimeoutOpt = 5.0,
    grading: GradingModeOpt = "strict",
    no_rule: NoRuleOpt = None,
    chunk: Annotated[
        int,
        typer.Option(
            "--chunk",
            help="rollout, supervisor: solutions per batch, written after each.",
            rich_help_panel=PERFORMANCE,
        ),
    ] = 256,
    device: DeviceOpt = DEFAULT_DEVICE,
    max_concurrency: MaxConcurrencyOpt = DEFAULT_MAX_CONCURRENCY,
    tensor_parallel_size: TensorParallelOpt = DEFAULT_TENSOR_PARALLEL_SIZE,
    gpu_memory_utilization: GpuMemoryOpt = DEFAULT_GPU_MEMORY_UTILIZATION,
    grade_workers: GradeWorkersOpt = 2,
) -> None:
    if method not in METHODS:
        raise MathverifyError(f"--method {method!r}: choose one of {', '.join(METHODS)}")
    refuse_unread_options(ctx, method, pairs)
    if chunk < 1:
        raise MathverifyError(f"--chunk must be at least 1, got {chunk}")
    shard_spec = parse_shard(shard)
    where = _Where(input, output, resume, shard_spec, quiet)
    grade = dict(
        graders=graders,
        audit=audit,
        timeout=grade_timeout,
        workers=grade_workers,
        grading=grading,
        no_rule=no_rule,
    )
    if method == "mcts":
        if pairs:
            _write_pairs(
                where, problems, min_q_gap, max_pairs_per_node, min_visits, opposite_q_signs
            )
        else:
            _label_mcts(where, problems)
    elif method == "exact":
        _label_exact(where, problems)
    elif method == "outcome":
        _label_outcome(where, problems, grade)
    elif method == "supervisor":
        _label_supervisor(where, problems, scorer, scorer_format, device, soft, threshold, chunk)
    else:
        from mathverify.labeling.rollout import RolloutConfig

        config = RolloutConfig(
            k=rollouts,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seed,
            hard=not soft,
            cut_after_first_wrong=cut_after_first_wrong,
        )
        config.check()
        react = step_format_config(
            step_format,
            sandbox_timeout=sandbox_timeout,
            sandbox_memory_mb=sandbox_memory_mb,
            max_code_runs=max_code_runs,
        )
        if policy is None:
            raise MathverifyError("--method rollout needs --policy")
        policy_options: dict[str, Any] = dict(
            model_name=model_name,
            prompt_format=prompt_format,
            system=system,
            dtype=dtype,
        )
        settings = {
            **policy_provenance(backend, policy, react=react, **policy_options),
            **asdict(config),
            "chunk": chunk,
            **grading_settings(graders, grading, no_rule, grade_timeout),
        }
        provenance = _provenance(method, settings)
        if resume:  # other settings than the partial file's fail before the model loads
            check_resumable(output, Solution, provenance)
        model, policy_prompt = open_policy(
            backend,
            policy,
            **policy_options,
            device=device,
            seed=seed,
            base_url=base_url,
            max_concurrency=max_concurrency,
            tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization,
        )
        model = with_step_format(model, policy_prompt, react)
        _label_rollout(
            where, problems, model, policy_prompt, config, chunk, grade, provenance, step_format
        )
        code_runs = step_format_summary(model)
        if code_runs:
            console.print(code_runs)


@dataclass(frozen=True)
class _Where:
    """Where one ``label`` run reads and writes: input, output, resume, shard."""

    input: str
    output: str
    resume: bool
    shard: tuple[int, int] | None
    quiet: bool = False

    def writer(self, record_type: type, provenance: Provenance) -> RecordWriter:
        return RecordWriter(self.output, record_type, resume=self.resume, provenance=provenance)

    def solutions(self, writer: RecordWriter | None = None) -> Iterator[Solution]:
        """The input solutions of this shard, less those ``writer`` already holds."""
        for solution in read_records(self.input, Solution):
            if in_shard(solution.problem_id, self.shard) and not (
                writer is not None and writer.done(solution.key())
            ):
                yield solution

    def summary(self, writer: RecordWriter, what: str) -> None:
        kept = f", {writer.resumed} kept from before" if self.resume else ""
        console.print(f"label: {writer.written} {what}{kept}")


def _provenance(method: str, settings: dict[str, Any] | None = None) -> Provenance:
    return Provenance("label", {"method": method, **(settings or {})})


def _label_exact(where: _Where, problems: str) -> None:
    from mathverify.labeling.exact import label_exact

    gold = read_problems_by_id(problems)
    with where.writer(Solution, _provenance("exact")) as writer:
        writer.write_all(label_exact(where.solutions(writer), gold))
        where.summary(writer, "solutions labeled (exact)")


def _label_outcome(where: _Where, problems: str, grade: dict[str, Any]) -> None:
    from mathverify.labeling.outcome import label_outcomes

    gold = read_problems_by_id(problems)
    settings = grading_settings(
        grade["graders"], grade["grading"], grade["no_rule"], grade["timeout"]
    )
    with (
        open_pool(**grade) as pool,
        where.writer(Solution, _provenance("outcome", settings)) as writer,
    ):
        writer.write_all(label_outcomes(where.solutions(writer), gold, pool))
        where.summary(writer, "solutions labeled (outcome)")


def _label_supervisor(
    where: _Where,
    problems: str,
    scorer: str | None,
    scorer_format: str,
    device: str,
    soft: bool,
    threshold: float,
    chunk: int,
) -> None:
    from mathverify.labeling.supervisor import check_threshold, write_supervisor_labels
    from mathverify.scoring import load_scorer, scorer_provenance

    check_threshold(threshold)
    if scorer is None:
        raise MathverifyError("--method supervisor needs --scorer (a PRM directory)")
    gold = read_problems_by_id(problems)
    model = load_scorer(scorer, scorer_format, device=None if device == "auto" else device)
    settings = {**scorer_provenance(model), "threshold": threshold, "hard": not soft}
    with (
        where.writer(Solution, _provenance("supervisor", settings)) as writer,
        progress_bar("label supervisor", None, "solutions", quiet=where.quiet),
    ):
        write_supervisor_labels(
            where.solutions(), gold, model, writer, chunk=chunk, hard=not soft, threshold=threshold
        )
        where.summary(writer, "solutions labeled (supervisor)")


def _label_rollout(
    where: _Where,
    problems: str,
    model: Policy,
    policy_prompt: PromptFormat,
    config: RolloutConfig,
    chunk: int,
    grade: dict[str, Any],
    provenance: Provenance,
    step_format: str,
) -> None:
    from mathverify.labeling.rollout import RolloutStats, write_rollout_labels

    gold = read_problems_by_id(problems)
    stats = RolloutStats()
    with (
        open_pool(**grade) as pool,
        where.writer(Solution, provenance) as writer,
    ):
        solutions = list(where.solutions())
        with progress_bar("label rollout", len(solutions), "solutions", quiet=where.quiet):
            write_rollout_labels(
                solutions,
                gold,
                model,
                policy_prompt,
                pool,
                config,
                writer,
                chunk=chunk,
                stats=stats,
                meta={"rollout_step_format": step_format} if step_format != "plain" else None,
            )
        console.print(
            f"label rollout: {stats.prefixes} prefixes, {stats.completions} completions, "
            f"{stats.generated_tokens} generated tokens"
        )
        where.summary(writer, "solutions labeled (rollout)")


def _label_mcts(where: _Where, problems: str) -> None:
    from mathverify.labeling.mcts import label_mcts
    from mathverify.records import Tree

    gold = read_problems_by_id(problems)
    with where.writer(Solution, _provenance("mcts", {"pairs": False})) as writer:
        trees = (t for t in read_records(where.input, Tree) if in_shard(t.problem_id, where.shard))
        writer.write_all(s for s in label_mcts(trees, gold) if not writer.done(s.key()))
        where.summary(writer, "solutions labeled (mcts)")


def _write_pairs(
    where: _Where,
    problems: str,
    min_q_gap: float,
    max_pairs_per_node: int | None,
    min_visits: int = 0,
    opposite_q_signs: bool = False,
) -> None:
    from mathverify.labeling.pairs import check_pair_options, step_pairs
    from mathverify.records import StepPair, Tree

    check_pair_options(min_q_gap, max_pairs_per_node, min_visits)
    gold: dict[str, Problem] = read_problems_by_id(problems)
    settings = {
        "pairs": True,
        "min_q_gap": min_q_gap,
        "max_pairs_per_node": max_pairs_per_node,
        "min_visits": min_visits,
        "opposite_q_signs": opposite_q_signs,
    }
    with where.writer(StepPair, _provenance("mcts", settings)) as writer:
        trees = (t for t in read_records(where.input, Tree) if in_shard(t.problem_id, where.shard))
        found = step_pairs(
            trees,
            gold,
            min_q_gap=min_q_gap,
            max_pairs_per_node=max_pairs_per_node,
            min_visits=min_visits,
            opposite_signs=opposite_q_signs,
        )
        writer.write_all(p for p in found if not writer.done(p.key()))
        where.summary(writer, "step pairs (mcts --pairs)")
