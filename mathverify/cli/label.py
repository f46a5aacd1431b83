"""``mathverify label``: attach step or outcome labels to solutions."""

from __future__ import annotations

from typing import Annotated

import typer

from mathverify.cli.app import (
    InputArg,
    OutputOpt,
    ProblemsOpt,
    ResumeOpt,
    SeedOpt,
    ShardOpt,
    command,
    console,
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
    MaxCodeRunsOpt,
    MaxConcurrencyOpt,
    ModelNameOpt,
    PromptFormatOpt,
    SandboxMemoryOpt,
    SandboxTimeoutOpt,
    StepFormatOpt,
    SystemOpt,
    open_policy,
    step_format_config,
    step_format_summary,
    with_step_format,
)
from mathverify.cli.score import ScorerFormatOpt
from mathverify.errors import MathverifyError
from mathverify.iterutils import batched
from mathverify.records import (
    RecordWriter,
    Solution,
    in_shard,
    parse_shard,
    read_problems_by_id,
    read_records,
)

METHODS = ("outcome", "exact", "rollout", "supervisor", "mcts")


@command(
    "label",
    help=(
        "Label solutions. [bold]outcome[/bold]: grade each final answer (sets `outcome`). "
        "[bold]exact[/bold]: the synthetic task's checker (gold step labels). "
        "[bold]rollout[/bold]: Math-Shepherd Monte-Carlo labels from K completions of each step "
        "prefix (--policy). [bold]supervisor[/bold]: a trained PRM labels the steps (--scorer). "
        "[bold]mcts[/bold]: the input is MCTS trees (search --method mcts --save-tree); writes "
        "every trajectory and visited partial path with (Q+1)/2 step labels (AlphaMath); with "
        "--pairs, step-level preference pairs of sibling steps by Q instead (SVPO)."
    ),
)
def label(
    method: Annotated[str, typer.Option("--method", "-m", help=f"One of: {', '.join(METHODS)}.")],
    problems: ProblemsOpt,
    input: InputArg = "-",
    output: OutputOpt = "-",
    resume: ResumeOpt = False,
    shard: ShardOpt = None,
    policy: Annotated[
        str | None, typer.Option("--policy", help="rollout: the policy that completes prefixes.")
    ] = None,
    backend: BackendOpt = "hf",
    base_url: BaseUrlOpt = None,
    model_name: ModelNameOpt = None,
    max_concurrency: MaxConcurrencyOpt = 8,
    dtype: DtypeOpt = "auto",
    prompt_format: PromptFormatOpt = "auto",
    system: SystemOpt = None,
    step_format: StepFormatOpt = "plain",
    sandbox_timeout: SandboxTimeoutOpt = 5.0,
    sandbox_memory_mb: SandboxMemoryOpt = 512,
    max_code_runs: MaxCodeRunsOpt = 8,
    k: Annotated[int, typer.Option("--k", help="rollout: completions per step prefix.")] = 8,
    temperature: Annotated[
        float, typer.Option("--temperature", help="rollout: sampling temperature.")
    ] = 0.7,
    max_tokens: Annotated[
        int, typer.Option("--max-tokens", help="rollout: most tokens per completion.")
    ] = 256,
    soft: Annotated[
        bool,
        typer.Option(
            "--soft/--hard",
            help="rollout/supervisor: soft labels (fraction or score) instead of hard 0/1.",
        ),
    ] = False,
    cut_after_first_wrong: Annotated[
        bool,
        typer.Option(
            "--cut-after-first-wrong",
            help="rollout: stop labeling a solution at its first step estimated wrong.",
        ),
    ] = False,
    scorer: Annotated[
        str | None,
        typer.Option("--scorer", help="supervisor: the PRM (directory or hub name) that labels."),
    ] = None,
    scorer_format: ScorerFormatOpt = "auto",
    threshold: Annotated[
        float, typer.Option("--threshold", help="supervisor: a step score below this is wrong.")
    ] = 0.5,
    chunk: Annotated[
        int,
        typer.Option(
            "--chunk", help="rollout/supervisor: solutions per batch (written after each)."
        ),
    ] = 256,
    pairs: Annotated[
        bool,
        typer.Option(
            "--pairs",
            help="mcts: write step-level preference pairs (sibling steps, the higher Q chosen; "
            "the step-pair records of README 'Records') instead of labeled solutions (SVPO).",
        ),
    ] = False,
    min_q_gap: Annotated[
        float,
        typer.Option(
            "--min-q-gap", help="mcts --pairs: least Q difference of a pair (ties never pair)."
        ),
    ] = 0.0,
    max_pairs_per_node: Annotated[
        int | None,
        typer.Option(
            "--max-pairs-per-node",
            help="mcts --pairs: keep at most this many pairs per node, the largest Q gaps first.",
        ),
    ] = None,
    seed: SeedOpt = 0,
    graders: GradersOpt = "math-verify",
    audit: AuditOpt = None,
    grade_timeout: GradeTimeoutOpt = 5.0,
    grade_workers: GradeWorkersOpt = 2,
    grading: GradingModeOpt = "strict",
    no_rule: NoRuleOpt = None,
) -> None:
    if method not in METHODS:
        raise MathverifyError(f"--method {method!r}: choose one of {', '.join(METHODS)}")
    if chunk < 1:
        raise MathverifyError("--chunk must be at least 1")
    react = step_format_config(
        step_format,
        sandbox_timeout=sandbox_timeout,
        sandbox_memory_mb=sandbox_memory_mb,
        max_code_runs=max_code_runs,
    )
    shard_spec = parse_shard(shard)
    if pairs:
        if method != "mcts":
            raise MathverifyError("--pairs needs --method mcts (pairs come from MCTS trees)")
        _write_pairs(input, problems, output, resume, shard_spec, min_q_gap, max_pairs_per_node)
        return
    gold = read_problems_by_id(problems)
    with RecordWriter(output, Solution, resume=resume) as writer:
        todo = (
            s
            for s in read_records(input, Solution)
            if in_shard(s.problem_id, shard_spec) and not writer.done(s.key())
        )
        if method == "mcts":
            from mathverify.labeling.mcts import label_mcts
            from mathverify.records import Tree

            trees = (t for t in read_records(input, Tree) if in_shard(t.problem_id, shard_spec))
            writer.write_all(s for s in label_mcts(trees, gold) if not writer.done(s.key()))
        elif method == "exact":
            from mathverify.labeling.exact import label_exact

            writer.write_all(label_exact(todo, gold))
        elif method == "outcome":
            from mathverify.labeling.outcome import label_outcomes

            with open_pool(graders, audit, grade_timeout, grade_workers, grading, no_rule) as pool:
                writer.write_all(label_outcomes(todo, gold, pool))
        elif method == "supervisor":
            from mathverify.labeling.supervisor import label_supervisor
            from mathverify.scoring import load_scorer

            if scorer is None:
                raise MathverifyError("--method supervisor needs --scorer (a PRM directory)")
            model = load_scorer(scorer, scorer_format)
            for batch in batched(todo, chunk):
                writer.write_all(
                    label_supervisor(batch, gold, model, hard=not soft, threshold=threshold)
                )
        else:
            from mathverify.labeling.rollout import (
                RolloutConfig,
                RolloutStats,
                label_rollouts,
                pending_chunks,
            )

            if policy is None:
                raise MathverifyError("--method rollout needs --policy")
            model, policy_prompt = open_policy(
                backend, policy, dtype=dtype, seed=seed, base_url=base_url,
                model_name=model_name, max_concurrency=max_concurrency,
                prompt_format=prompt_format, system=system,
            )  # fmt: skip
            model = with_step_format(model, policy_prompt, react)
            config = RolloutConfig(
                k=k,
                temperature=temperature,
                max_tokens=max_tokens,
                seed=seed,
                hard=not soft,
                cut_after_first_wrong=cut_after_first_wrong,
            )
            stats = RolloutStats()
            # Whole chunks of the input, so a resumed run samples exactly as an unbroken one.
            everything = (
                s for s in read_records(input, Solution) if in_shard(s.problem_id, shard_spec)
            )
            batches = pending_chunks(everything, chunk, writer.done)
            with (
                open_pool(graders, audit, grade_timeout, grade_workers, grading, no_rule) as pool,
                progress_bar("label rollout", len(batches), "batches") as advance,
            ):
                for batch in batches:
                    labeled = label_rollouts(batch, gold, model, policy_prompt, pool, config, stats)
                    if step_format != "plain":
                        for solution in labeled:
                            solution.meta["rollout_step_format"] = step_format
                    writer.write_all(labeled)
                    advance(1)
            console.print(
                f"label rollout: {stats.prefixes} prefixes, {stats.completions} completions, "
                f"{stats.generated_tokens} generated tokens"
            )
            code_runs = step_format_summary(model)
            if code_runs:
                console.print(code_runs)
        kept = f", {writer.resumed} kept from before" if resume else ""
        console.print(f"label: {writer.written} solutions labeled ({method}){kept}")


def _write_pairs(
    input: str,
    problems: str,
    output: str,
    resume: bool,
    shard_spec: tuple[int, int] | None,
    min_q_gap: float,
    max_pairs_per_node: int | None,
) -> None:
    from mathverify.labeling.pairs import step_pairs
    from mathverify.records import StepPair, Tree

    gold = read_problems_by_id(problems)
    with RecordWriter(output, StepPair, resume=resume) as writer:
        trees = (t for t in read_records(input, Tree) if in_shard(t.problem_id, shard_spec))
        found = step_pairs(trees, gold, min_q_gap=min_q_gap, max_pairs_per_node=max_pairs_per_node)
        writer.write_all(p for p in found if not writer.done(p.key()))
        kept = f", {writer.resumed} kept from before" if resume else ""
        console.print(f"label: {writer.written} step pairs (mcts --pairs){kept}")
