"""Policy/backend options shared by every command that generates (generate, label, search).

Some options are read by one backend only (``--base-url`` by openai, ``--tensor-parallel-size``
by vllm, ``--device`` by hf, ...). :func:`open_policy` refuses such an option given with
another backend, naming the option and the backend, instead of dropping it: a dropped
setting is one the user believes shaped the output and did not. "Given" means a value other
than the option's default (``None`` included), so every command that opens a policy gets
the check whatever its own defaults look like.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import typer

from mathverify.backends import BACKENDS, Policy, load_policy
from mathverify.backends.code_runner import STEP_FORMATS, ReactConfig, ReactPolicy, wrap_policy
from mathverify.cli.app import DEFAULT_DEVICE, IO, MODEL, PERFORMANCE, SAMPLING
from mathverify.errors import MathverifyError
from mathverify.generation import policy_prompt_format
from mathverify.models.prompts import (
    PROMPT_FORMAT_CHOICES,
    card_prompt_format,
    load_local_tokenizer,
)
from mathverify.prompting import PromptFormat
from mathverify.sandbox import SandboxConfig

# Defaults of the backend-specific options; a command's option default must be one of these.
DEFAULT_DTYPE = "auto"
DEFAULT_MAX_CONCURRENCY = 8
DEFAULT_TENSOR_PARALLEL_SIZE = 1
DEFAULT_GPU_MEMORY_UTILIZATION = 0.9


@dataclass(frozen=True)
class BackendOption:
    """An option only some backends read: its flag, the value meaning "not given", readers."""

    flag: str
    default: Any
    backends: tuple[str, ...]

    def given(self, value: Any) -> bool:
        return value is not None and value != self.default


# open_policy keyword -> the option. One line per backend-specific option.
BACKEND_ONLY: dict[str, BackendOption] = {
    "dtype": BackendOption("--dtype", DEFAULT_DTYPE, ("hf", "vllm")),
    "device": BackendOption("--device", DEFAULT_DEVICE, ("hf",)),
    "base_url": BackendOption("--base-url", None, ("openai",)),
    "model_name": BackendOption("--model", None, ("openai",)),
    "max_concurrency": BackendOption("--max-concurrency", DEFAULT_MAX_CONCURRENCY, ("openai",)),
    "tensor_parallel_size": BackendOption(
        "--tensor-parallel-size", DEFAULT_TENSOR_PARALLEL_SIZE, ("vllm",)
    ),
    "gpu_memory_utilization": BackendOption(
        "--gpu-memory-utilization", DEFAULT_GPU_MEMORY_UTILIZATION, ("vllm",)
    ),
    "logprobs": BackendOption("--no-logprobs", True, ("vllm", "openai")),
}

PolicyOpt = Annotated[
    str | None,
    typer.Option(
        "--policy",
        help="Policy model: a directory or hub name.",
        rich_help_panel=MODEL,
    ),
]
BackendOpt = Annotated[
    str,
    typer.Option(
        "--backend",
        help=f"Generation backend: {', '.join(sorted(BACKENDS))} (see docs/generate.md).",
        rich_help_panel=MODEL,
    ),
]
DtypeOpt = Annotated[
    str,
    typer.Option(
        "--dtype",
        help="hf, vllm: weights dtype (auto: as saved), e.g. bfloat16.",
        rich_help_panel=MODEL,
    ),
]
BaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        help="openai backend: the server's API root (http://HOST:PORT/v1).",
        rich_help_panel=MODEL,
    ),
]
ModelNameOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="openai backend: the served model's name (default: --policy).",
        rich_help_panel=MODEL,
    ),
]
MaxConcurrencyOpt = Annotated[
    int,
    typer.Option(
        "--max-concurrency",
        help="openai backend: requests in flight at once.",
        rich_help_panel=PERFORMANCE,
    ),
]
TensorParallelOpt = Annotated[
    int,
    typer.Option(
        "--tensor-parallel-size",
        help="vllm backend: GPUs per model copy.",
        rich_help_panel=PERFORMANCE,
    ),
]
GpuMemoryOpt = Annotated[
    float,
    typer.Option(
        "--gpu-memory-utilization",
        help="vllm backend: share of GPU memory it may use.",
        rich_help_panel=PERFORMANCE,
    ),
]
LogprobsOpt = Annotated[
    bool,
    typer.Option(
        "--logprobs/--no-logprobs",
        help="vllm, openai: record each solution's logprob (off saves 5-8% of the time).",
        rich_help_panel=IO,
    ),
]

PromptFormatOpt = Annotated[
    str,
    typer.Option(
        "--prompt-format",
        help=f"Prompt format: {', '.join(PROMPT_FORMAT_CHOICES)} (see docs/generate.md).",
        rich_help_panel=MODEL,
    ),
]
SystemOpt = Annotated[
    str | None,
    typer.Option(
        "--system",
        help="System turn of chat prompts ('': none; see docs/generate.md).",
        rich_help_panel=MODEL,
    ),
]

StepFormatOpt = Annotated[
    str,
    typer.Option(
        "--step-format",
        help="plain, or react: steps may run Python (see docs/sandbox.md).",
        rich_help_panel=MODEL,
    ),
]
SandboxTimeoutOpt = Annotated[
    float,
    typer.Option("--sandbox-timeout", help="react: seconds per code block.", rich_help_panel=MODEL),
]
SandboxMemoryOpt = Annotated[
    int,
    typer.Option(
        "--sandbox-memory-mb",
        help="react: memory limit per code block (MB).",
        rich_help_panel=MODEL,
    ),
]
MaxCodeRunsOpt = Annotated[
    int,
    typer.Option(
        "--max-code-runs",
        help="react: most code blocks run per completion.",
        rich_help_panel=MODEL,
    ),
]


# Sampling: the same options in generate, label (rollouts) and search.
SamplesOpt = Annotated[
    int, typer.Option("--n", "-n", help="Samples per problem.", rich_help_panel=SAMPLING)
]
TemperatureOpt = Annotated[
    float,
    typer.Option(
        "--temperature",
        "-t",
        help="Sampling temperature; 0 decodes greedily.",
        rich_help_panel=SAMPLING,
    ),
]
TopPOpt = Annotated[
    float,
    typer.Option(
        "--top-p",
        help="Nucleus sampling mass in (0, 1]; 1 keeps every token.",
        rich_help_panel=SAMPLING,
    ),
]
MaxTokensOpt = Annotated[
    int,
    typer.Option("--max-tokens", help="Most tokens per completion.", rich_help_panel=SAMPLING),
]


def check_backend_options(backend: str, **values: Any) -> None:
    """Refuse a backend-specific option (a :data:`BACKEND_ONLY` keyword) ``backend`` ignores.

    Other keywords are not backend-specific and pass. Runs before anything loads.
    """
    if backend not in BACKENDS:
        raise MathverifyError(
            f"unknown backend {backend!r}; choose from {', '.join(sorted(BACKENDS))}"
        )
    for name, value in values.items():
        option = BACKEND_ONLY.get(name)
        if option is not None and backend not in option.backends and option.given(value):
            readers = " and ".join(option.backends)
            raise MathverifyError(
                f"{option.flag} applies to the {readers} backend"
                f"{'s' if len(option.backends) > 1 else ''}, not --backend {backend}"
            )


def backend_options(
    backend: str,
    *,
    dtype: str | None = DEFAULT_DTYPE,
    device: str | None = DEFAULT_DEVICE,
    batch_size: int = 256,
    seed: int = 0,
    base_url: str | None = None,
    max_concurrency: int | None = DEFAULT_MAX_CONCURRENCY,
    tensor_parallel_size: int | None = DEFAULT_TENSOR_PARALLEL_SIZE,
    gpu_memory_utilization: float | None = DEFAULT_GPU_MEMORY_UTILIZATION,
    logprobs: bool | None = True,
) -> dict[str, Any]:
    """The loader options of ``backend`` from the command's options (``None``: the default).

    Options of other backends must have been refused first (:func:`check_backend_options`).
    """
    dtype = dtype or DEFAULT_DTYPE
    logprobs = True if logprobs is None else logprobs
    if backend == "vllm":
        return {
            "dtype": dtype,
            "seed": seed,
            "tensor_parallel_size": tensor_parallel_size or DEFAULT_TENSOR_PARALLEL_SIZE,
            "gpu_memory_utilization": gpu_memory_utilization or DEFAULT_GPU_MEMORY_UTILIZATION,
            "logprobs": logprobs,
        }
    if backend == "openai":
        if not base_url:
            raise MathverifyError("--backend openai needs --base-url (the server's API root)")
        return {
            "base_url": base_url,
            "max_concurrency": DEFAULT_MAX_CONCURRENCY
            if max_concurrency is None
            else max_concurrency,
            "logprobs": logprobs,
        }
    return {"dtype": dtype, "device": device or DEFAULT_DEVICE, "batch_size": batch_size}


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

    An option of another backend (``options`` named in :data:`BACKEND_ONLY`, or
    ``model_name`` outside openai) is refused first. The card (if any) is checked before
    the model loads; a chat format is bound to the tokenizer the backend loaded (hf), else
    to the one read from the directory or the local hub cache (vllm after it loaded the
    model; openai from ``--policy``).
    """
    check_backend_options(backend, model_name=model_name, **options)
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


def policy_provenance(
    backend: str,
    policy: str,
    *,
    model_name: str | None = None,
    prompt_format: str = "auto",
    system: str | None = None,
    dtype: str | None = DEFAULT_DTYPE,
    logprobs: bool | None = True,
    react: ReactConfig | None = None,
) -> dict[str, Any]:
    """The policy settings that shape generated text, for a stage's provenance.

    Known before the model loads, so a resume with other settings fails fast. Machine
    details (device, GPUs, memory share, server URL, concurrency) are left out: they do not
    choose which text a seed gives, and a resumed run may move to another machine. Each
    backend records only what it reads.
    """
    settings: dict[str, Any] = {"policy": policy, "backend": backend}
    if backend == "openai":
        settings["model"] = model_name or policy
    else:
        settings["dtype"] = dtype or DEFAULT_DTYPE
    if backend in BACKEND_ONLY["logprobs"].backends:
        settings["logprobs"] = True if logprobs is None else logprobs
    settings.update(prompt_format=prompt_format, system=system)
    settings["step_format"] = "plain" if react is None else "react"
    if react is not None:
        settings.update(
            sandbox_timeout=react.sandbox.timeout,
            sandbox_memory_mb=react.sandbox.memory_mb,
            max_code_runs=react.max_runs,
        )
    return settings


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
