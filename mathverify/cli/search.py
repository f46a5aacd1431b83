"""``mathverify search``: greedy, majority, best-of-N, weighted vote, SBS(B1, B2), MCTS and
offline re-selection over saved trees, batched across problems, with an accuracy table at
the end.

Thin: the command parses options, settles the files and the config before any model loads
(:func:`_plan`), loads the models, and hands the batch loop to
:func:`mathverify.search.run.write_search`; it prints the log lines and the table.

Every option a method does not read is refused (the table is in
:mod:`mathverify.search.config`), every result and tree names what made it
(``meta.provenance.search``), and no default points at a file the user did not name except
in the bare demo command (none of --policy, --scorer, --problems), which says so.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mathverify.cli.app import (
    DEFAULT_DEVICE,
    IO,
    PERFORMANCE,
    QUIET_RENAMED,
    SAMPLING,
    SCORING,
    SEARCH,
    DeviceOpt,
    LimitOpt,
    OutputOpt,
    ProblemsOpt,
    QuietOpt,
    ResumeOpt,
    SeedOpt,
    ShardOpt,
    command,
    console,
    given_options,
    progress_bar,
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
    BackendOpt,
    BaseUrlOpt,
    DtypeOpt,
    GpuMemoryOpt,
    MaxCodeRunsOpt,
    MaxConcurrencyOpt,
    ModelNameOpt,
    PolicyOpt,
    PromptFormatOpt,
    SamplesOpt,
    SandboxMemoryOpt,
    SandboxTimeoutOpt,
    StepFormatOpt,
    SystemOpt,
    TensorParallelOpt,
    TopPOpt,
    check_backend_options,
    open_policy,
    policy_provenance,
    step_format_config,
    step_format_summary,
    with_step_format,
)
from mathverify.cli.score import AGGREGATE_HELP, ScorerFormatOpt, ScorerOpt
from mathverify.errors import MathverifyError
from mathverify.eval.metrics import Sample, evaluate
from mathverify.records import STDIO, SearchResult, read_records
from mathverify.scoring import scorer_provenance
from mathverify.search import (
    SCORER_METHODS,
    SEARCHES,
    SearchConfig,
    check_options,
    config_from_options,
    field_help,
)
from mathverify.search.config import POLICY_OPTIONS, SCORER_OPTIONS
from mathverify.search.offline import load_trees
from mathverify.search.run import BatchDone, search_provenance, select_problems, write_search

DEMO_POLICY = "runs/demo/policy"
DEMO_SCORER = "runs/demo/prm"
DEMO_PROBLEMS = "runs/demo/data/test.jsonl"
DEMO_OUTPUT = "runs/demo/search-{method}.jsonl"
NO_SCORER = "none"
METHODS = tuple(SEARCHES)
REFUSAL_ORDER = {
    name: rank
    for rank, name in enumerate(
        (
            *POLICY_OPTIONS,
            "scorer",
            *SCORER_OPTIONS,
            "save_tree",
            *(f.name for f in dataclasses.fields(SearchConfig)),
        )
    )
}
SANDBOX_OPTIONS = ("sandbox_timeout", "sandbox_memory_mb", "max_code_runs")


@dataclass(frozen=True)
class Inputs:
    """The files one search reads and writes, the bare demo command's defaults applied."""

    policy: str | None  # None: offline, which loads no model
    scorer: str | None  # None: no scorer
    problems: str
    output: str
    note: str | None = None  # what the demo command tells on stderr


def _is_demo(method: str, policy: str | None, scorer: str | None, problems: str | None) -> bool:
    """The bare demo command: none of --policy, --scorer, --problems (offline has no demo:
    its trees come from a search the user ran)."""
    return method != "offline" and policy is None and scorer is None and problems is None


def _scorer_name(method: str, scorer: str | None, demo: bool) -> str | None:
    """The scorer ``method`` will load: the one named, the demo's, or None (none, not read)."""
    if method not in SCORER_METHODS:
        return None
    if demo:
        return DEMO_SCORER
    return None if scorer in (None, NO_SCORER) else scorer


def _check_sandbox_options(step_format: str, given: list[str]) -> None:
    """The sandbox's options shape only code steps: refused with --step-format plain."""
    for name in given:
        if name in SANDBOX_OPTIONS and step_format == "plain":
            raise MathverifyError(
                f"--{name.replace('_', '-')} applies to --step-format react, not plain"
            )


def _resolve_inputs(
    method: str,
    *,
    demo: bool,
    policy: str | None,
    scorer: str | None,
    problems: str | None,
    output: str | None,
    resume: bool,
) -> Inputs:
    """The files named, or the demo's for the bare demo command; a missing one is an error.

    Outside the demo no default points at a file the user did not name: a user's policy
    scored by the demo's PRM, or a run overwriting the demo's results, would be a wrong
    number nobody asked for.
    """
    if demo:
        return _demo_inputs(method, output, resume)
    if problems is None:
        raise MathverifyError(
            "give --problems (problem records, JSONL); only the bare demo command "
            "(no --policy, --scorer or --problems) runs on the demo's files"
        )
    if method != "offline" and policy is None:
        raise MathverifyError(
            f"{method} needs --policy (a policy model directory or hub name); only the bare "
            "demo command (no --policy, --scorer or --problems) runs on the demo's models"
        )
    if method in SCORER_METHODS and scorer is None:
        raise MathverifyError(
            f"{method} needs --scorer (a PRM, ORM or value model directory or hub name, or "
            "'none': see --help); only the bare demo command uses the demo's PRM"
        )
    if output is None:
        raise MathverifyError("give -o/--output: the search results JSONL, or - for stdout")
    return Inputs(policy, _scorer_name(method, scorer, demo=False), problems, output)


def _demo_inputs(method: str, output: str | None, resume: bool) -> Inputs:
    """The demo's models and problems, and an output that overwrites nothing."""
    scorer = _scorer_name(method, None, demo=True)
    for path in (DEMO_PROBLEMS, DEMO_POLICY, scorer):
        if path is not None and not Path(path).exists():
            raise MathverifyError(
                f"no --policy, --scorer or --problems: the demo's {path} does not exist; run "
                "`make demo` first, or name your own --policy, --scorer and --problems"
            )
    if output is None and resume:
        raise MathverifyError("--resume needs -o/--output: the partial file to continue")
    output = output or _fresh_demo_output(method)
    models = f"policy {DEMO_POLICY}" + (f", scorer {scorer}" if scorer else "")
    note = (
        f"search: no --policy, --scorer or --problems given: running {method} on the demo's "
        f"models ({models}) and problems {DEMO_PROBLEMS}; writing {output}"
    )
    return Inputs(DEMO_POLICY, scorer, DEMO_PROBLEMS, output, note)


def _fresh_demo_output(method: str) -> str:
    """``runs/demo/search-METHOD.jsonl``, or ``-2``, ``-3`` ... when it exists: the demo
    command never overwrites an earlier result."""
    base = Path(DEMO_OUTPUT.format(method=method))
    candidate, number = base, 2
    while candidate.exists():
        candidate = base.with_name(f"{base.stem}-{number}{base.suffix}")
        number += 1
    return str(candidate)


def _load_scorer(path: str, device: str, batch_size: int, scorer_format: str = "auto") -> Any:
    """A scorer from a PRM/ORM/value directory or a public format; other models are refused."""
    from mathverify.scoring import load_scorer

    return load_scorer(
        path,
        scorer_format,
        device=None if device == DEFAULT_DEVICE else device,
        batch_size=batch_size,
    )


def _backend_settings(options: dict[str, Any], has_scorer: bool) -> dict[str, Any]:
    """The backend-specific options :func:`open_policy` gets (and refuses for a backend that
    does not read them)."""
    # --device moves the scorer too; only the hf backend places the policy by it.
    device = options["device"] if options["backend"] == "hf" or not has_scorer else "auto"
    return {
        "model_name": options["model_name"],
        "dtype": options["dtype"],
        "device": device,
        "base_url": options["base_url"],
        "max_concurrency": options["max_concurrency"],
        "tensor_parallel_size": options["tensor_parallel_size"],
        "gpu_memory_utilization": options["gpu_memory_utilization"],
    }


def _load_policy(plan: _Plan, options: dict[str, Any]) -> tuple[Any, SearchConfig]:
    """The policy (wrapped to run code steps with --step-format react; None for offline),
    and the plan's config with its prompt format."""
    if plan.inputs.policy is None:
        return None, plan.config
    model, prompt = open_policy(
        options["backend"],
        plan.inputs.policy,
        prompt_format=options["prompt_format"],
        system=options["system"],
        seed=plan.config.seed,
        **_backend_settings(options, plan.has_scorer),
    )
    policy = with_step_format(model, prompt, plan.react)
    return policy, dataclasses.replace(plan.config, prompt=prompt)


def _react_config(options: dict[str, Any]) -> Any:
    """The code-step settings of --step-format (None for plain), checked before loading."""
    return step_format_config(
        options["step_format"],
        sandbox_timeout=options["sandbox_timeout"],
        sandbox_memory_mb=options["sandbox_memory_mb"],
        max_code_runs=options["max_code_runs"],
    )


def _policy_settings(path: str | None, options: dict[str, Any], react: Any) -> dict[str, Any]:
    """The policy side of a provenance (:func:`policy_provenance`); offline has none."""
    if path is None:
        return {"policy": None, "backend": None}
    return policy_provenance(
        options["backend"],
        path,
        model_name=options["model_name"],
        prompt_format=options["prompt_format"],
        system=options["system"],
        dtype=options["dtype"],
        react=react,
    )


def summary_table(results: list[SearchResult], method: str) -> Table:
    """Accuracy (over problems with a gold answer), tokens and seconds per problem."""
    graded = {
        r.problem_id: [Sample(r.answer, bool(r.meta["outcome"]), r.n_generated_tokens)]
        for r in results
        if r.meta.get("outcome") is not None
    }
    report = evaluate(method, graded, ks=[1])
    n = len(results)
    table = Table(title="mathverify search")
    for header in ("method", "problems", "graded", "accuracy", "tokens/problem", "s/problem"):
        table.add_column(header, justify="left" if header == "method" else "right")
    accuracy = f"{100 * report.accuracy:.1f} ± {100 * report.accuracy_se:.1f}" if graded else "n/a"
    tokens = sum(r.n_generated_tokens for r in results) / n if n else 0.0
    seconds = sum(r.seconds for r in results) / n if n else 0.0
    table.add_row(method, str(n), str(len(graded)), accuracy, f"{tokens:.1f}", f"{seconds:.3f}")
    return table


def _opt(name: str, *flags: str, panel: str = SEARCH, **kwargs: Any) -> Any:
    """An option whose one-line help is its :class:`SearchConfig` field's."""
    return typer.Option(*flags, help=field_help(name), rich_help_panel=panel, **kwargs)


@command(
    "search",
    renamed=QUIET_RENAMED,
    help=(
        "Search for answers with a policy and a scorer: greedy, majority, best-of-n, "
        "weighted-vote, sbs (step-level beam search SBS(B1,B2)), mcts (AlphaMath's), or "
        "offline (re-select from trees saved with --save-tree). Writes one graded result per "
        "problem and prints an accuracy table; --scorer none searches without one. An option "
        "the method does not read is an error. With none of --policy, --scorer, --problems it "
        "runs on `make demo`'s models and says so. See docs/search.md."
    ),
    epilog=(
        "Defaults per method, as AlphaMath released them (Super_MARIO configs/sbs_sft.yaml, "
        "configs/mcts_sft.yaml): temperature 0.6 for sbs and mcts, else 0.7; max depth 10 for "
        "sbs, 9 for mcts, else 16; --distinct on for sbs, off for mcts; --mcts-budget tree "
        "(the default, as released) or per-step."
    ),
)
def search(
    ctx: typer.Context,
    problems: ProblemsOpt = None,
    output: OutputOpt = None,
    save_tree: Annotated[
        str | None,
        typer.Option(
            "--save-tree",
            help="sbs, mcts: write each problem's search tree to this JSONL.",
            rich_help_panel=IO,
        ),
    ] = None,
    trees: Annotated[str | None, _opt("trees", "--trees", panel=IO)] = None,
    limit: LimitOpt = None,
    resume: ResumeOpt = False,
    shard: ShardOpt = None,
    quiet: QuietOpt = False,
    policy: PolicyOpt = None,
    backend: BackendOpt = "hf",
    base_url: BaseUrlOpt = None,
    model_name: ModelNameOpt = None,
    dtype: DtypeOpt = "auto",
    prompt_format: PromptFormatOpt = "auto",
    system: SystemOpt = None,
    step_format: StepFormatOpt = "plain",
    sandbox_timeout: SandboxTimeoutOpt = 5.0,
    sandbox_memory_mb: SandboxMemoryOpt = 512,
    max_code_runs: MaxCodeRunsOpt = 8,
    n: SamplesOpt = SearchConfig.n,
    temperature: Annotated[
        float | None,
        typer.Option(
            "--temperature",
            "-t",
            help=field_help("temperature"),
            rich_help_panel=SAMPLING,
            show_default="0.6 for sbs, mcts; else 0.7",
        ),
    ] = None,
    top_p: TopPOpt = SearchConfig.top_p,
    seed: SeedOpt = SearchConfig.seed,
    max_depth: Annotated[
        int | None,
        _opt("max_depth", "--max-depth", panel=SAMPLING, show_default="sbs 10, mcts 9, else 16"),
    ] = None,
    max_step_tokens: Annotated[
        int, _opt("max_step_tokens", "--max-step-tokens", panel=SAMPLING)
    ] = SearchConfig.max_step_tokens,
    method: Annotated[
        str,
        typer.Option(
            "--method", "-m", help=f"One of: {', '.join(METHODS)}.", rich_help_panel=SEARCH
        ),
    ] = "sbs",
    b1: Annotated[int, _opt("b1", "--b1")] = SearchConfig.b1,
    b2: Annotated[int, _opt("b2", "--b2")] = SearchConfig.b2,
    vote: Annotated[bool, _opt("vote", "--vote")] = False,
    runs: Annotated[int, _opt("runs", "--runs")] = SearchConfig.runs,
    distinct: Annotated[
        bool | None, _opt("distinct", "--distinct/--no-distinct", show_default="on for sbs")
    ] = None,
    group_by: Annotated[str, _opt("group_by", "--group-by")] = SearchConfig.group_by,
    simulations: Annotated[int, _opt("simulations", "--simulations")] = SearchConfig.simulations,
    mcts_budget: Annotated[str, _opt("mcts_budget", "--mcts-budget")] = SearchConfig.mcts_budget,
    c_puct: Annotated[float, _opt("c_puct", "--c-puct")] = SearchConfig.c_puct,
    leaves_per_call: Annotated[
        int, _opt("leaves_per_call", "--leaves-per-call", show_default=False)
    ] = SearchConfig.leaves_per_call,
    gold_reward: Annotated[bool, _opt("gold_reward", "--gold-reward")] = False,
    rollout: Annotated[bool, _opt("rollout", "--rollout/--no-rollout")] = True,
    rollout_mix: Annotated[float, _opt("rollout_mix", "--rollout-mix")] = SearchConfig.rollout_mix,
    rule: Annotated[str, _opt("rule", "--rule")] = "value",
    prune: Annotated[bool, _opt("prune", "--prune")] = False,
    scorer: ScorerOpt = None,
    scorer_format: ScorerFormatOpt = "auto",
    aggregate: Annotated[
        str | None,
        typer.Option(
            "--aggregate",
            "-a",
            help=AGGREGATE_HELP,
            rich_help_panel=SCORING,
            show_default="min; sbs: last",
        ),
    ] = None,
    graders: GradersOpt = "math-verify",
    audit: AuditOpt = None,
    grade_timeout: GradeTimeoutOpt = 5.0,
    grading: GradingModeOpt = "strict",
    no_rule: NoRuleOpt = None,
    batch_problems: Annotated[
        int, _opt("batch_problems", "--batch-problems", panel=PERFORMANCE)
    ] = SearchConfig.batch_problems,
    scorer_batch_size: Annotated[
        int,
        typer.Option(
            "--scorer-batch-size",
            help="Sequences (partial solutions) per scorer forward pass.",
            rich_help_panel=PERFORMANCE,
        ),
    ] = 64,
    separate_forward: Annotated[
        bool,
        typer.Option(
            "--separate-forward",
            help="Score steps with their own forward, not the policy's.",
            rich_help_panel=PERFORMANCE,
        ),
    ] = False,
    device: DeviceOpt = DEFAULT_DEVICE,
    max_concurrency: MaxConcurrencyOpt = 8,
    tensor_parallel_size: TensorParallelOpt = 1,
    gpu_memory_utilization: GpuMemoryOpt = 0.9,
    grade_workers: GradeWorkersOpt = 2,
) -> None:
    options = ctx.params
    plan = _plan(method, options, given_options(ctx))
    if plan.inputs.note:
        console.print(plan.inputs.note)
    saved = load_trees(trees) if method == "offline" and trees else None
    tree_ids = set(saved) if saved is not None else None
    selected = select_problems(plan.inputs.problems, shard, limit, tree_ids)
    scorer_model = (
        _load_scorer(plan.inputs.scorer, device, scorer_batch_size, scorer_format)
        if plan.inputs.scorer is not None
        else None
    )
    policy_model, config = _load_policy(plan, options)
    # Recorded only when the scorer reads the policy's forward: its scores equal the separate
    # forward's to float rounding, which can still tip an MCTS near-tie.
    scorer_settings = scorer_provenance(scorer_model)
    if not separate_forward and scorer_model is not None and policy_model is not None:
        from mathverify.scoring.shared_forward import share_forward

        scorer_model, refusal = share_forward(policy_model, scorer_model, config.prompt)
        if refusal is None:
            scorer_settings["scorer_forward"] = "shared with the policy"
    # What each record's config says beyond the method's fields: code steps, if any.
    extra = {"step_format": step_format} if plan.react is not None else {}
    recorded = {**config.to_dict(method, has_scorer=plan.has_scorer), **extra}
    with (
        open_pool(graders, audit, grade_timeout, grade_workers, grading, no_rule) as pool,
        progress_bar("search", len(selected), "problems", quiet=quiet),
    ):
        made_by = search_provenance(
            _policy_settings(plan.inputs.policy, options, plan.react),
            scorer_settings,
            recorded,
            pool,
            saved,
        )
        run = write_search(
            method,
            selected,
            (policy_model, scorer_model),
            config,
            pool,
            output=plan.inputs.output,
            provenance=made_by,
            save_tree=save_tree,
            resume=resume,
            extra=extra,
            on_batch=_print_batch,
        )
    kept = f", {run.resumed} kept from before" if resume else ""
    console.print(f"search: {run.written} results written to {plan.inputs.output}{kept}")
    code_runs = step_format_summary(policy_model) if policy_model is not None else None
    if code_runs:
        console.print(code_runs)
    everything = run.results
    if resume and plan.inputs.output != STDIO:
        everything = list(read_records(plan.inputs.output, SearchResult))
    console.print(summary_table(everything, method))


@dataclass(frozen=True)
class _Plan:
    """What a search will do, settled before any model loads: its files, whether a scorer
    ranks, the method's config and the code-step settings."""

    inputs: Inputs
    has_scorer: bool
    config: SearchConfig
    react: Any


def _plan(method: str, options: dict[str, Any], given: list[str]) -> _Plan:
    """Refuse what fails whatever the models are (a method unknown, an option the method
    does not read, values, missing files), then name the files and build the config."""
    if method not in SEARCHES:
        raise MathverifyError(f"--method {method!r}: choose one of {', '.join(METHODS)}")
    policy, scorer, problems = options["policy"], options["scorer"], options["problems"]
    demo = _is_demo(method, policy, scorer, problems)
    has_scorer = _scorer_name(method, scorer, demo) is not None
    # The models' options are refused first, then the method's, whatever the help's order.
    given = sorted(given, key=lambda name: REFUSAL_ORDER.get(name, len(REFUSAL_ORDER)))
    check_options(method, given, has_scorer=has_scorer)
    _check_sandbox_options(options["step_format"], given)
    config = config_from_options(options, method)
    config.check(method, has_scorer=has_scorer)
    react = _react_config(options)
    inputs = _resolve_inputs(
        method,
        demo=demo,
        policy=policy,
        scorer=scorer,
        problems=problems,
        output=options["output"],
        resume=options["resume"],
    )
    if inputs.policy is not None:  # before the scorer loads, not at open_policy after it
        check_backend_options(options["backend"], **_backend_settings(options, has_scorer))
    return _Plan(inputs, has_scorer, config, react)


def _print_batch(batch: BatchDone) -> None:
    console.print(
        f"search: batch {batch.index}/{batch.batches}, {batch.problems} problems, "
        f"{batch.seconds:.1f} s"
    )
