"""``mathverify search``: greedy, majority, best-of-N, weighted vote, SBS(B1, B2), MCTS and
offline re-selection over saved trees, batched across problems, with an accuracy table at
the end.

Every option a method does not read is refused (the table is in
:mod:`mathverify.search.config`), every result and tree names what made it
(``meta.provenance.search``), and no default points at a file the user did not name except
in the bare demo command (none of --policy, --scorer, --problems), which says so.
"""

from __future__ import annotations

import dataclasses
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mathverify.cli.app import (
    ResumeOpt,
    ShardOpt,
    command,
    console,
    given_options,
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
    PromptFormatOpt,
    SandboxMemoryOpt,
    SandboxTimeoutOpt,
    StepFormatOpt,
    SystemOpt,
    TensorParallelOpt,
    check_backend_options,
    open_policy,
    policy_provenance,
    step_format_config,
    step_format_summary,
    with_step_format,
)
from mathverify.cli.score import ScorerFormatOpt
from mathverify.errors import MathverifyError
from mathverify.eval.metrics import Sample, evaluate
from mathverify.provenance import Provenance, collect
from mathverify.records import (
    STDIO,
    Problem,
    RecordWriter,
    SearchResult,
    Tree,
    in_shard,
    parse_shard,
    read_all,
    read_records,
)
from mathverify.scoring import scorer_provenance
from mathverify.search import (
    SCORER_METHODS,
    SEARCHES,
    SearchConfig,
    check_options,
    config_from_options,
    field_help,
    grade_results,
    run_search,
)
from mathverify.search.offline import load_trees

DEMO_POLICY = "runs/demo/policy"
DEMO_SCORER = "runs/demo/prm"
DEMO_PROBLEMS = "runs/demo/data/test.jsonl"
DEMO_OUTPUT = "runs/demo/search-{method}.jsonl"
NO_SCORER = "none"
METHODS = tuple(SEARCHES)
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
        path, scorer_format, device=None if device == "auto" else device, batch_size=batch_size
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


def _load_policy(
    path: str, options: dict[str, Any], config: SearchConfig, has_scorer: bool, react: Any
) -> tuple[Any, SearchConfig]:
    """The policy (wrapped to run code steps with --step-format react), and ``config`` with
    its prompt format."""
    model, prompt = open_policy(
        options["backend"],
        path,
        prompt_format=options["prompt_format"],
        system=options["system"],
        seed=config.seed,
        **_backend_settings(options, has_scorer),
    )
    return with_step_format(model, prompt, react), dataclasses.replace(config, prompt=prompt)


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


def _grading_settings(pool: Any) -> dict[str, Any]:
    """The grading mode, graders, lenient rules and timeout: they decide every outcome."""
    return {
        "grading": pool.mode,
        "graders": list(pool.graders),
        "rules": list(pool.rules),
        "grade_timeout": pool.timeout,
    }


def _provenance(
    inputs: Inputs,
    options: dict[str, Any],
    react: Any,
    scorer_model: Any,
    recorded: dict[str, Any],
    pool: Any,
    trees: dict[str, list[Tree]] | None,
) -> Provenance:
    """What made a search's results and trees: policy, scorer and its format, the method's
    config (the fields it read, each under its own name so a resume names the one that
    differs), grading, and for offline the trees and the searches that saved them."""
    settings = {
        **_policy_settings(inputs.policy, options, react),
        **scorer_provenance(scorer_model),
        **recorded,
        **_grading_settings(pool),
    }
    if trees is not None:
        metas = [tree.meta for runs in trees.values() for tree in runs]
        settings["trees_provenance"] = collect(metas).get("search", [])
    return Provenance("search", settings)


def _select_problems(
    path: str, shard: str | None, limit: int | None, tree_ids: set[str] | None
) -> list[Problem]:
    shard_spec = parse_shard(shard)
    problems = read_all(path, Problem)
    if tree_ids is not None:
        known = {p.id for p in problems}
        unknown = sorted(tree_ids - known)
        if unknown:
            raise MathverifyError(
                f"--trees has a tree for problem {unknown[0]!r}, which is not in {path}"
            )
        problems = [p for p in problems if p.id in tree_ids]
    problems = [p for p in problems if in_shard(p.id, shard_spec)]
    if limit is not None:
        if limit < 1:
            raise MathverifyError(f"--limit must be at least 1, got {limit}")
        problems = problems[:limit]
    return problems


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


def _opt(name: str, *flags: str) -> Any:
    return typer.Option(*flags, help=field_help(name))


@command(
    "search",
    help=(
        "Search for answers with a policy (and a scorer): greedy, majority (maj@n), best-of-n, "
        "weighted-vote, sbs (step-level beam search SBS(B1,B2), batched across problems), "
        "mcts (AlphaMath's MCTS: PUCT, B2 steps per expansion, --simulations per tree, or "
        "per step with --mcts-budget per-step), or "
        "offline (re-select from trees saved with --save-tree, no model). Writes one search "
        "result per problem, graded against the gold answer when there is one, and prints an "
        "accuracy table. An option the method does not read is an error. With none of "
        "--policy, --scorer, --problems it runs on the demo models of `make demo`, and "
        "says so."
    ),
)
def search(
    ctx: typer.Context,
    method: Annotated[
        str, typer.Option("--method", "-m", help=f"One of: {', '.join(METHODS)}.")
    ] = "sbs",
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy",
            help=f"Policy model directory or hub name (the bare demo command: {DEMO_POLICY}).",
        ),
    ] = None,
    backend: BackendOpt = "hf",
    base_url: BaseUrlOpt = None,
    model_name: ModelNameOpt = None,
    max_concurrency: MaxConcurrencyOpt = 8,
    tensor_parallel_size: TensorParallelOpt = 1,
    gpu_memory_utilization: GpuMemoryOpt = 0.9,
    device: Annotated[
        str, typer.Option("--device", help="Device for the models: auto, cpu, cuda, cuda:1 ...")
    ] = "auto",
    dtype: DtypeOpt = "auto",
    scorer: Annotated[
        str | None,
        typer.Option(
            "--scorer",
            help=(
                "PRM, ORM or value model directory, or a public PRM (directory or hub name; "
                "see --scorer-format); 'none' for no scorer (sbs with --b1 1 then ranks steps "
                "by the policy's probability, mcts with --gold-reward values leaves by "
                f"rollouts). Needed by best-of-n, weighted-vote, sbs and mcts (the bare demo "
                f"command: {DEMO_SCORER})."
            ),
        ),
    ] = None,
    scorer_batch_size: Annotated[
        int, typer.Option("--scorer-batch-size", help="Partial solutions per scorer forward pass.")
    ] = 64,
    scorer_format: ScorerFormatOpt = "auto",
    problems: Annotated[
        str | None,
        typer.Option(
            "--problems",
            "-p",
            help=f"Problem records (JSONL) (the bare demo command: {DEMO_PROBLEMS}).",
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help=(
                "Search results JSONL, or - for stdout. Required, except in the bare demo "
                f"command, which writes {DEMO_OUTPUT} (or a new name beside it: it never "
                "overwrites)."
            ),
        ),
    ] = None,
    save_tree: Annotated[
        str | None,
        typer.Option(
            "--save-tree",
            help="Write each problem's whole search tree (sbs, mcts) to this JSONL.",
        ),
    ] = None,
    trees: Annotated[str | None, _opt("trees", "--trees")] = None,
    rule: Annotated[str, _opt("rule", "--rule")] = "value",
    prune: Annotated[bool, _opt("prune", "--prune")] = False,
    n: Annotated[int, _opt("n", "--n", "-n")] = SearchConfig.n,
    b1: Annotated[int, _opt("b1", "--b1")] = SearchConfig.b1,
    b2: Annotated[int, _opt("b2", "--b2")] = SearchConfig.b2,
    temperature: Annotated[float | None, _opt("temperature", "--temperature", "-t")] = None,
    top_p: Annotated[float, _opt("top_p", "--top-p")] = SearchConfig.top_p,
    seed: Annotated[int, _opt("seed", "--seed")] = SearchConfig.seed,
    max_depth: Annotated[int | None, _opt("max_depth", "--max-depth")] = None,
    max_step_tokens: Annotated[
        int, _opt("max_step_tokens", "--max-step-tokens")
    ] = SearchConfig.max_step_tokens,
    aggregate: Annotated[str | None, _opt("aggregate", "--aggregate")] = None,
    vote: Annotated[bool, _opt("vote", "--vote")] = False,
    runs: Annotated[int, _opt("runs", "--runs")] = SearchConfig.runs,
    distinct: Annotated[bool | None, _opt("distinct", "--distinct/--no-distinct")] = None,
    group_by: Annotated[str, _opt("group_by", "--group-by")] = SearchConfig.group_by,
    batch_problems: Annotated[
        int, _opt("batch_problems", "--batch-problems")
    ] = SearchConfig.batch_problems,
    simulations: Annotated[int, _opt("simulations", "--simulations")] = SearchConfig.simulations,
    mcts_budget: Annotated[str, _opt("mcts_budget", "--mcts-budget")] = SearchConfig.mcts_budget,
    c_puct: Annotated[float, _opt("c_puct", "--c-puct")] = SearchConfig.c_puct,
    gold_reward: Annotated[bool, _opt("gold_reward", "--gold-reward")] = False,
    rollout: Annotated[bool, _opt("rollout", "--rollout/--no-rollout")] = True,
    rollout_mix: Annotated[float, _opt("rollout_mix", "--rollout-mix")] = SearchConfig.rollout_mix,
    prompt_format: PromptFormatOpt = "auto",
    system: SystemOpt = None,
    step_format: StepFormatOpt = "plain",
    sandbox_timeout: SandboxTimeoutOpt = 5.0,
    sandbox_memory_mb: SandboxMemoryOpt = 512,
    max_code_runs: MaxCodeRunsOpt = 8,
    limit: Annotated[
        int | None,
        typer.Option("--limit", help="Search only the first N problems (after --shard)."),
    ] = None,
    resume: ResumeOpt = False,
    shard: ShardOpt = None,
    graders: GradersOpt = "math-verify",
    audit: AuditOpt = None,
    grade_timeout: GradeTimeoutOpt = 5.0,
    grade_workers: GradeWorkersOpt = 2,
    grading: GradingModeOpt = "strict",
    no_rule: NoRuleOpt = None,
) -> None:
    if method not in SEARCHES:
        raise MathverifyError(f"--method {method!r}: choose one of {', '.join(METHODS)}")
    options = ctx.params
    demo = _is_demo(method, policy, scorer, problems)
    has_scorer = _scorer_name(method, scorer, demo) is not None
    # Settings that fail whatever the models are: before loading anything.
    given = given_options(ctx)
    check_options(method, given, has_scorer=has_scorer)
    _check_sandbox_options(step_format, given)
    config = config_from_options(options, method)
    config.check(method, has_scorer=has_scorer)
    react = _react_config(options)
    inputs = _resolve_inputs(
        method,
        demo=demo,
        policy=policy,
        scorer=scorer,
        problems=problems,
        output=output,
        resume=resume,
    )
    if inputs.policy is not None:  # before the scorer loads, not at open_policy after it
        check_backend_options(backend, **_backend_settings(options, has_scorer))
    if inputs.note:
        console.print(inputs.note)
    loaded_trees = load_trees(trees) if method == "offline" and trees else None
    selected = _select_problems(
        inputs.problems, shard, limit, set(loaded_trees) if loaded_trees is not None else None
    )

    policy_model = scorer_model = None
    if inputs.scorer is not None:
        scorer_model = _load_scorer(inputs.scorer, device, scorer_batch_size, scorer_format)
    if inputs.policy is not None:
        policy_model, config = _load_policy(inputs.policy, options, config, has_scorer, react)

    # What each record's config says beyond the method's fields: code steps, if any.
    extra = {"step_format": step_format} if react is not None else {}
    recorded = {**config.to_dict(method, has_scorer=has_scorer), **extra}
    with open_pool(graders, audit, grade_timeout, grade_workers, grading, no_rule) as pool:
        provenance = _provenance(inputs, options, react, scorer_model, recorded, pool, loaded_trees)
        with (
            RecordWriter(inputs.output, SearchResult, resume=resume, provenance=provenance) as out,
            _tree_writer(save_tree, resume, provenance) as tree_writer,
        ):
            written = _search_chunks(
                method,
                selected,
                (policy_model, scorer_model),
                config,
                pool,
                (out, tree_writer),
                extra,
            )
            kept = f", {out.resumed} kept from before" if resume else ""
            console.print(f"search: {out.written} results written to {inputs.output}{kept}")
    code_runs = step_format_summary(policy_model) if policy_model is not None else None
    if code_runs:
        console.print(code_runs)
    everything = written
    if resume and inputs.output != STDIO:
        everything = list(read_records(inputs.output, SearchResult))
    console.print(summary_table(everything, method))


def _tree_writer(
    path: str | None, resume: bool, provenance: Provenance
) -> AbstractContextManager[RecordWriter | None]:
    """A writer for --save-tree's trees, or nothing to write to."""
    if path is None:
        return nullcontext()
    return RecordWriter(path, Tree, resume=resume, provenance=provenance)


def _search_chunks(
    method: str,
    selected: list[Problem],
    models: tuple[Any, Any],
    config: SearchConfig,
    pool: Any,
    writers: tuple[RecordWriter, RecordWriter | None],
    extra: dict[str, Any],
) -> list[SearchResult]:
    """Search ``selected`` chunk by chunk (policy and scorer in ``models``), then grade each
    chunk's results and write them and their trees (``writers``); ``extra`` joins each
    record's config."""
    (policy_model, scorer_model), (writer, tree_writer) = models, writers
    by_id = {p.id: p for p in selected}
    written: list[SearchResult] = []
    # Offline loads no model, so one chunk (one read of the trees file) does.
    size = max(1, len(selected)) if method == "offline" else config.batch_problems
    chunks = [selected[i : i + size] for i in range(0, len(selected), size)]
    for index, chunk in enumerate(chunks, start=1):
        # A chunk partly written before a crash is searched whole, so its backend calls
        # (and samples) are the ones of the first run; written rows are skipped.
        if all(writer.done(f"{p.id}#0") for p in chunk):
            continue
        sink: list[Tree] = []
        results = run_search(
            method,
            chunk,
            policy_model,
            scorer_model,
            config,
            pool=pool,
            tree_sink=sink if tree_writer is not None else None,
        )
        grade_results(results, by_id, pool)
        for record in [*results, *sink]:
            record.config.update(extra)
        writer.write_all(results)
        if tree_writer is not None:
            tree_writer.write_all(sink)
        written.extend(results)
        console.print(
            f"search: batch {index}/{len(chunks)}, {len(chunk)} problems, "
            f"{sum(r.seconds for r in results):.1f} s"
        )
    return written
