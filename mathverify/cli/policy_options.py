"""Policy/backend options shared by every command that generates (generate, label, search)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mathverify.backends import BACKENDS, Policy, load_policy
from mathverify.backends.code_runner import STEP_FORMATS, ReactConfig, ReactPolicy, wrap_policy
from mathverify.errors import MathverifyError
from mathverify.generation import policy_prompt_format
from mathverify.models.prompts import (
    PROMPT_FORMAT_CHOICES,
    card_prompt_format,
    load_local_tokenizer,
)
from mathverify.prompting import PromptFormat
from mathverify.sandbox import SandboxConfig

BackendOpt = Annotated[
    str, typer.Option("--backend", help=f"Generation backend: {', '.join(sorted(BACKENDS))}.")
]
DtypeOpt = Annotated[
    str,
    typer.Option(
        "--dtype", help="Model weights dtype: auto (as saved), float32, bfloat16 or float16."
    ),
]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--base-url", help="openai backend: the server's API root, e.g. http://127.0.0.1:8000/v1."
    ),
]
ModelNameOpt = Annotated[
    str | None,
    typer.Option(
        "--model", help="openai backend: the model name the server serves (default: --policy)."
    ),
]
MaxConcurrencyOpt = Annotated[
    int, typer.Option("--max-concurrency", help="openai backend: requests in flight at once.")
]
TensorParallelOpt = Annotated[
    int, typer.Option("--tensor-parallel-size", help="vllm backend: GPUs per model copy.")
]
GpuMemoryOpt = Annotated[
    float,
    typer.Option(
        "--gpu-memory-utilization", help="vllm backend: fraction of GPU memory it may use."
    ),
]
LogprobsOpt = Annotated[
    bool,
    typer.Option(
        "--logprobs/--no-logprobs",
        help=(
            "vllm and openai backends: ask the engine for each token's log-probability, so "
            "records carry the solution's logprob. --no-logprobs leaves it null and saves the "
            "engine that work (5-8% of vLLM's time per token); hf computes it for free "
            "and keeps it."
        ),
    ),
]

PromptFormatOpt = Annotated[
    str,
    typer.Option(
        "--prompt-format",
        help=(
            "auto: the policy's mathverify.json format; for a model without one, chat when its "
            "tokenizer has a chat template, else plain. chat: the problem as the user turn of "
            "the tokenizer's chat template (after the --system turn), steps in the assistant "
            "turn joined by a blank line. plain: 'Problem: ...\\nSolution:\\n'. With "
            "--backend openai, --policy must be a local directory (or cached hub name) for "
            "chat: its tokenizer renders the prompt text sent to /v1/completions."
        ),
    ),
]
SystemOpt = Annotated[
    str | None,
    typer.Option(
        "--system",
        help=(
            "chat prompts: the system turn (default: the card's, else 'Please reason step by "
            "step, and put your final answer within \\boxed{}.'; '' for none)."
        ),
    ),
]

StepFormatOpt = Annotated[
    str,
    typer.Option(
        "--step-format",
        help=(
            "plain: steps are text. react: a step may hold a ```python block; generation stops "
            "when it closes, the block runs in the sandbox (earlier steps' code replayed first), "
            "its output is appended as a ```output block, and generation goes on (see "
            "docs/sandbox.md). Works with every backend."
        ),
    ),
]
SandboxTimeoutOpt = Annotated[
    float,
    typer.Option("--sandbox-timeout", help="react: wall-clock seconds per code block."),
]
SandboxMemoryOpt = Annotated[
    int, typer.Option("--sandbox-memory-mb", help="react: address-space limit per code block.")
]
MaxCodeRunsOpt = Annotated[
    int,
    typer.Option(
        "--max-code-runs",
        help="react: most code blocks run per completion (per step in step-wise search).",
    ),
]


def backend_options(
    backend: str,
    *,
    dtype: str = "auto",
    device: str = "auto",
    batch_size: int = 256,
    seed: int = 0,
    base_url: str | None = None,
    max_concurrency: int = 8,
    tensor_parallel_size: int = 1,
    gpu_memory_utilization: float = 0.9,
    logprobs: bool = True,
) -> dict[str, Any]:
    """The loader options of ``backend`` from the command's options (others do not apply)."""
    if backend == "vllm":
        return {
            "dtype": dtype,
            "seed": seed,
            "tensor_parallel_size": tensor_parallel_size,
            "gpu_memory_utilization": gpu_memory_utilization,
            "logprobs": logprobs,
        }
    if backend == "openai":
        if not base_url:
            raise MathverifyError("--backend openai needs --base-url (the server's API root)")
        return {"base_url": base_url, "max_concurrency": max_concurrency, "logprobs": logprobs}
    return {"dtype": dtype, "device": device, "batch_size": batch_size}


def open_policy(
    backend: str,
    policy: str,
    *,
    model_name: str | None = None,
    prompt_format: str = "auto",
    system: str | None = None,
    **options: Any,
) -> tuple[Policy, PromptFormat]:
    """Load ``policy`` with ``backend`` and return it with its prompt format.

    The card (if any) is checked before the model loads; a chat format is bound to the
    tokenizer the backend loaded (hf), else to the one read from the directory or the local
    hub cache (vllm after it loaded the model; openai from ``--policy``).
    """
    if prompt_format not in PROMPT_FORMAT_CHOICES:
        raise MathverifyError(
            f"--prompt-format {prompt_format!r}: choose one of {', '.join(PROMPT_FORMAT_CHOICES)}"
        )
    card = card_prompt_format(policy, expect=("policy", "value"))  # a wrong kind fails early
    if prompt_format == "chat" and (card is None or card.kind != "chat"):
        local = load_local_tokenizer(policy)
        if local is not None:  # a tokenizer without a chat template fails before the model loads
            policy_prompt_format(policy, requested="chat", system=system, tokenizer=local)
    name = model_name or policy if backend == "openai" else policy
    model = load_policy(backend, name, **backend_options(backend, **options))
    tokenizer = getattr(model, "tokenizer", None)
    formatted = policy_prompt_format(
        policy, requested=prompt_format, system=system, tokenizer=tokenizer
    )
    return model, formatted


def step_format_config(
    step_format: str,
    *,
    sandbox_timeout: float = 5.0,
    sandbox_memory_mb: int = 512,
    max_code_runs: int = 8,
) -> ReactConfig | None:
    """The code-step settings of ``--step-format`` (None for plain), checked before loading."""
    if step_format not in STEP_FORMATS:
        raise MathverifyError(
            f"--step-format {step_format!r}: choose one of {', '.join(STEP_FORMATS)}"
        )
    if step_format == "plain":
        return None
    return ReactConfig(
        sandbox=SandboxConfig(timeout=sandbox_timeout, memory_mb=sandbox_memory_mb),
        max_runs=max_code_runs,
    )


def with_step_format(
    policy: Policy, prompt_format: PromptFormat, react: ReactConfig | None
) -> Policy:
    """``policy`` as it is (plain), or wrapped to run the code its steps write (react)."""
    if react is None:
        return policy
    return wrap_policy(policy, "react", separator=prompt_format.separator, config=react)


def step_format_summary(policy: Policy) -> str | None:
    """One line on the code runs of a react policy (None for a plain one)."""
    return policy.stats.summary() if isinstance(policy, ReactPolicy) else None
