"""``mathverify search``: greedy, majority, best-of-N, weighted vote, SBS(B1, B2) and offline
re-selection over saved trees, batched across problems, with an accuracy table at the end.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from mathverify.cli.app import (
    ResumeOpt,
    ShardOpt,
    command,
    console,
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
    open_policy,
    step_format_config,
    step_format_summary,
    with_step_format,
)
from mathverify.cli.score import ScorerFormatOpt
from mathverify.errors import MathverifyError
from mathverify.eval.metrics import Sample, evaluate
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
from mathverify.search import SEARCHES, SearchConfig, field_help, grade_results
from mathverify.search.offline import load_trees

DEMO_POLICY = "runs/demo/policy"
DEMO_SCORER = "runs/demo/prm"
DEMO_PROBLEMS = "runs/demo/data/test.jsonl"
DEMO_OUTPUT = "runs/demo/search-{method}.jsonl"
NO_SCORER = "none"
METHODS = tuple(SEARCHES)


def _demo_default(value: str | None, default: str, option: str) -> str:
    """``value``, or the demo default, which must exist (else: run ``make demo`` first)."""
    if value is not None:
        return value
    if not Path(default).exists():
        raise MathverifyError(
            f"{option} defaults to {default}, which does not exist: run `make demo` first "
            f"(or pass {option})"
        )
    return default


def _load_scorer(path: str, device: str, batch_size: int, scorer_format: str = "auto") -> Any:
    """A scorer from a PRM/ORM/value directory or a public format; other models are refused."""
    from mathverify.scoring import load_scorer

    return load_scorer(
        path, scorer_format, device=None if device == "auto" else device, batch_size=batch_size
    )


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
        "mcts (AlphaMath's MCTS: PUCT, B2 steps per expansion, --simulations per step), or "
        "offline (re-select from trees saved with --save-tree, no model). Writes one search "
        "result per problem, graded against the gold answer when there is one, and prints an "
        "accuracy table. Without options it runs on the demo models of `make demo`."
    ),
)
def search(
    method: Annotated[
        str, typer.Option("--method", "-m", help=f"One of: {', '.join(METHODS)}.")
    ] = "sbs",
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy", help=f"Policy model directory or hub name [default: {DEMO_POLICY}]."
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
                f"PRM, ORM or value model directory, or a public PRM (directory or hub name; "
                f"see --scorer-format) [default: {DEMO_SCORER}]; 'none' for no scorer (sbs "
                "with --b1 1 then ranks steps by the policy's probability)."
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
            "--problems", "-p", help=f"Problem records (JSONL) [default: {DEMO_PROBLEMS}]."
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            help=f"Search results JSONL, or - for stdout [default: {DEMO_OUTPUT}].",
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
    n: Annotated[int, _opt("n", "--n", "-n")] = SearchConfig.n,
    b1: Annotated[int, _opt("b1", "--b1")] = SearchConfig.b1,
    b2: Annotated[int, _opt("b2", "--b2")] = SearchConfig.b2,
    temperature: Annotated[
        float, _opt("temperature", "--temperature", "-t")
    ] = SearchConfig.temperature,
    top_p: Annotated[float, _opt("top_p", "--top-p")] = SearchConfig.top_p,
    seed: Annotated[int, _opt("seed", "--seed")] = SearchConfig.seed,
    max_depth: Annotated[int, _opt("max_depth", "--max-depth")] = SearchConfig.max_depth,
    max_step_tokens: Annotated[
        int, _opt("max_step_tokens", "--max-step-tokens")
    ] = SearchConfig.max_step_tokens,
    aggregate: Annotated[str | None, _opt("aggregate", "--aggregate")] = None,
    vote: Annotated[bool, _opt("vote", "--vote")] = False,
    runs: Annotated[int, _opt("runs", "--runs")] = SearchConfig.runs,
    distinct: Annotated[bool, _opt("distinct", "--distinct/--no-distinct")] = SearchConfig.distinct,
    group_by: Annotated[str, _opt("group_by", "--group-by")] = SearchConfig.group_by,
    batch_problems: Annotated[
        int, _opt("batch_problems", "--batch-problems")
    ] = SearchConfig.batch_problems,
    simulations: Annotated[int, _opt("simulations", "--simulations")] = SearchConfig.simulations,
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
    config = SearchConfig(
        n=n,
        b1=b1,
        b2=b2,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        max_depth=max_depth,
        max_step_tokens=max_step_tokens,
        aggregate=aggregate,
        vote=vote,
        runs=runs,
        distinct=distinct,
        group_by=group_by,
        batch_problems=batch_problems,
        rule=rule,
        trees=trees,
        simulations=simulations,
        c_puct=c_puct,
        gold_reward=gold_reward,
        rollout=rollout,
        rollout_mix=rollout_mix,
    )
    wants_scorer = method in ("best-of-n", "weighted-vote", "sbs", "mcts")
    # Settings that fail whatever the models are: before loading anything.
    config.check(method, has_scorer=wants_scorer and scorer != NO_SCORER)
    react = step_format_config(
        step_format,
        sandbox_timeout=sandbox_timeout,
        sandbox_memory_mb=sandbox_memory_mb,
        max_code_runs=max_code_runs,
    )
    if step_format != "plain" and method == "offline":
        raise MathverifyError("--step-format applies to methods that generate, not offline")
    if save_tree is not None and method not in ("sbs", "mcts"):
        raise MathverifyError(f"--save-tree applies to sbs and mcts, not {method}")
    problems_path = _demo_default(problems, DEMO_PROBLEMS, "--problems")
    output_path = output or DEMO_OUTPUT.format(method=method)

    tree_ids = set(load_trees(trees)) if method == "offline" and trees else None
    selected = _select_problems(problems_path, shard, limit, tree_ids)

    policy_model = None
    scorer_model = None
    if method != "offline":
        policy_path = _demo_default(policy, DEMO_POLICY, "--policy")
        if wants_scorer and scorer != NO_SCORER:
            scorer_model = _load_scorer(
                _demo_default(scorer, DEMO_SCORER, "--scorer"),
                device,
                scorer_batch_size,
                scorer_format,
            )
        policy_model, policy_prompt = open_policy(
            backend,
            policy_path,
            model_name=model_name,
            prompt_format=prompt_format,
            system=system,
            dtype=dtype,
            device=device,
            seed=config.seed,
            base_url=base_url,
            max_concurrency=max_concurrency,
            tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization,
        )
        policy_model = with_step_format(policy_model, policy_prompt, react)
        config = dataclasses.replace(config, prompt=policy_prompt)

    fn = SEARCHES[method]
    by_id = {p.id: p for p in selected}
    written: list[SearchResult] = []
    with (
        RecordWriter(output_path, SearchResult, resume=resume) as writer,
        open_pool(graders, audit, grade_timeout, grade_workers, grading, no_rule) as pool,
    ):
        tree_writer = RecordWriter(save_tree, Tree, resume=resume) if save_tree else None
        try:
            # Offline loads no model, so one chunk (one read of the trees file) does.
            size = max(1, len(selected)) if method == "offline" else config.batch_problems
            chunks = [selected[i : i + size] for i in range(0, len(selected), size)]
            for index, chunk in enumerate(chunks, start=1):
                # A chunk partly written before a crash is searched whole, so its backend
                # calls (and samples) are the ones of the first run; written rows are skipped.
                if all(writer.done(f"{p.id}#0") for p in chunk):
                    continue
                sink: list[Tree] = []
                results = fn(
                    chunk,
                    policy_model,
                    scorer_model,
                    config,
                    pool=pool,
                    tree_sink=sink if tree_writer is not None else None,
                )
                grade_results(results, by_id, pool)
                if step_format != "plain":
                    for result in results:
                        result.config["step_format"] = step_format
                writer.write_all(results)
                if tree_writer is not None:
                    tree_writer.write_all(sink)
                written.extend(results)
                console.print(
                    f"search: batch {index}/{len(chunks)}, {len(chunk)} problems, "
                    f"{sum(r.seconds for r in results):.1f} s"
                )
        finally:
            if tree_writer is not None:
                tree_writer.close()
        kept = f", {writer.resumed} kept from before" if resume else ""
        console.print(f"search: {writer.written} results written to {output_path}{kept}")
    code_runs = step_format_summary(policy_model) if policy_model is not None else None
    if code_runs:
        console.print(code_runs)
    everything = written
    if resume and output_path != STDIO:
        everything = list(read_records(output_path, SearchResult))
    console.print(summary_table(everything, method))
