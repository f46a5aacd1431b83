"""``mathverify generate``: sample ``n`` step-by-step solutions per problem with a policy model."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from mathverify.cli.app import (
    DEFAULT_DEVICE,
    PERFORMANCE,
    QUIET_RENAMED,
    DeviceOpt,
    LimitOpt,
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
    LogprobsOpt,
    MaxCodeRunsOpt,
    MaxConcurrencyOpt,
    MaxTokensOpt,
    ModelNameOpt,
    PolicyOpt,
    PromptFormatOpt,
    SamplesOpt,
    SandboxMemoryOpt,
    SandboxTimeoutOpt,
    StepFormatOpt,
    SystemOpt,
    TemperatureOpt,
    TensorParallelOpt,
    TopPOpt,
    open_policy,
    policy_provenance,
    step_format_config,
    step_format_summary,
    with_step_format,
)
from mathverify.errors import MathverifyError
from mathverify.generation import DEFAULT_SAMPLES, GenerationConfig, write_solutions
from mathverify.provenance import Provenance
from mathverify.records import (
    RecordWriter,
    Solution,
    in_shard,
    parse_shard,
    read_problems_by_id,
)


@command(
    "generate",
    renamed=QUIET_RENAMED,
    help=(
        "Sample N solutions per problem with a policy model and write solution records "
        "(problem_id, sample_id, steps, answer, text, n_tokens, policy, meta). Problems and "
        "samples are batched together; the same seed and options give the same JSONL."
    ),
)
def generate(
    problems: ProblemsOpt,
    policy: PolicyOpt,
    output: OutputOpt = "-",
    resume: ResumeOpt = False,
    shard: ShardOpt = None,
    limit: LimitOpt = None,
    quiet: QuietOpt = False,
    logprobs: LogprobsOpt = True,
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
    n: SamplesOpt = DEFAULT_SAMPLES,
    temperature: TemperatureOpt = 0.7,
    top_p: TopPOpt = 1.0,
    max_tokens: MaxTokensOpt = 256,
    seed: SeedOpt = 0,
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size",
            "-b",
            help="Sequences (problems x samples) per backend call; it shapes the samples.",
            rich_help_panel=PERFORMANCE,
        ),
    ] = 256,
    device: DeviceOpt = DEFAULT_DEVICE,
    max_concurrency: MaxConcurrencyOpt = DEFAULT_MAX_CONCURRENCY,
    tensor_parallel_size: TensorParallelOpt = DEFAULT_TENSOR_PARALLEL_SIZE,
    gpu_memory_utilization: GpuMemoryOpt = DEFAULT_GPU_MEMORY_UTILIZATION,
) -> None:
    config = GenerationConfig(
        n=n,
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        seed=seed,
        batch_size=batch_size,
    )
    config.check()
    react = step_format_config(
        step_format,
        sandbox_timeout=sandbox_timeout,
        sandbox_memory_mb=sandbox_memory_mb,
        max_code_runs=max_code_runs,
    )
    if limit is not None and limit < 0:
        raise MathverifyError(f"--limit must be >= 0, got {limit}")
    shard_spec = parse_shard(shard)
    todo = [p for p in read_problems_by_id(problems).values() if in_shard(p.id, shard_spec)]
    if limit is not None:
        todo = todo[:limit]
    provenance = Provenance(
        "generate",
        {
            **policy_provenance(
                backend,
                policy,
                model_name=model_name,
                prompt_format=prompt_format,
                system=system,
                dtype=dtype,
                logprobs=logprobs,
                react=react,
            ),
            **config.settings(),
        },
    )
    if resume:  # other settings than the partial file's fail before the model loads
        check_resumable(output, Solution, provenance)
    model, policy_prompt = open_policy(
        backend,
        policy,
        model_name=model_name,
        prompt_format=prompt_format,
        system=system,
        dtype=dtype,
        device=device,
        batch_size=batch_size,
        seed=seed,
        base_url=base_url,
        max_concurrency=max_concurrency,
        tensor_parallel_size=tensor_parallel_size,
        gpu_memory_utilization=gpu_memory_utilization,
        logprobs=logprobs,
    )
    model = with_step_format(model, policy_prompt, react)

    started = time.perf_counter()
    with (
        RecordWriter(output, Solution, resume=resume, provenance=provenance) as writer,
        progress_bar("generate", len(todo), "problems", quiet=quiet),
    ):
        tokens = write_solutions(
            model,
            todo,
            writer,
            prompt_format=policy_prompt,
            config=config,
            backend=backend,
            meta={"step_format": step_format} if step_format != "plain" else None,
        )
        kept = f", {writer.resumed} kept from before" if resume else ""
    console.print(
        f"generate: {writer.written} solutions for {len(todo)} problems, {tokens} tokens "
        f"in {time.perf_counter() - started:.1f}s{kept}"
    )
    code_runs = step_format_summary(model)
    if code_runs:
        console.print(code_runs)
