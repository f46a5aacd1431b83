"""``mathverify train-policy``: fine-tuning of a policy, CPU or GPU: SFT (TRL SFTTrainer) or
SVPO (step-level DPO on MCTS step pairs, :mod:`mathverify.training.svpo`)."""

from __future__ import annotations

from typing import Annotated

from mathverify.cli.app import IO, MODEL, SeedOpt, command, console
from mathverify.cli.policy_options import PromptFormatOpt, SystemOpt
from mathverify.cli.train_verifiers import (
    BatchSizeOpt,
    LoggingStepsOpt,
    LrOpt,
    MaxLengthOpt,
    MaxStepsOpt,
    WarmupOpt,
    WeightDecayOpt,
    option,
)
from mathverify.prompting import DEFAULT_TEMPLATE
from mathverify.steps import DEFAULT_SEPARATOR
from mathverify.training.policy import (
    PolicyTrainConfig,
    config_help,
    examples_from_problems,
    examples_from_solutions,
    resolve_prompt_format,
    train_policy,
)

_D = PolicyTrainConfig(output_dir="")


def _unescape(text: str) -> str:
    r"""Decode ``\n`` and ``\t`` typed on a command line (shells pass them literally)."""
    return text.replace("\\n", "\n").replace("\\t", "\t")


@command("train-policy", renamed={"--output-dir": "--output"})
def train_policy_command(
    input_path: Annotated[
        str,
        option(
            "--input",
            "-i",
            help="Problems with meta.gold_steps, solutions (with -p) or svpo step pairs.",
            panel=IO,
        ),
    ],
    output_dir: Annotated[str, option("--output", "-o", help=config_help("output_dir"), panel=IO)],
    problems: Annotated[
        str | None,
        option(
            "--problems",
            "-p",
            help="Problems of the solutions in --input (outcome=false ones are skipped).",
            panel=IO,
        ),
    ] = None,
    logging_steps: LoggingStepsOpt = _D.logging_steps,
    init: Annotated[str | None, option("--init", help=config_help("init"), panel=MODEL)] = None,
    from_scratch: Annotated[
        str | None, option("--from-scratch", help=config_help("from_scratch"), panel=MODEL)
    ] = None,
    prompt_kind: PromptFormatOpt = _D.prompt_kind,
    system: SystemOpt = None,
    template: Annotated[
        str,
        option("--template", help=config_help("template") + r" \n, \t decoded.", panel=MODEL),
    ] = DEFAULT_TEMPLATE.replace("\n", "\\n"),
    separator: Annotated[
        str,
        option("--separator", help=config_help("separator") + r" \n, \t decoded.", panel=MODEL),
    ] = DEFAULT_SEPARATOR.replace("\n", "\\n"),
    hidden_size: Annotated[
        int, option("--hidden-size", help=config_help("hidden_size"), panel=MODEL)
    ] = _D.hidden_size,
    num_layers: Annotated[
        int, option("--num-layers", help=config_help("num_layers"), panel=MODEL)
    ] = _D.num_layers,
    num_heads: Annotated[
        int, option("--num-heads", help=config_help("num_heads"), panel=MODEL)
    ] = _D.num_heads,
    objective: Annotated[str, option("--objective", help=config_help("objective"))] = _D.objective,
    max_steps: MaxStepsOpt = _D.max_steps,
    batch_size: BatchSizeOpt = _D.batch_size,
    learning_rate: LrOpt = _D.learning_rate,
    warmup: WarmupOpt = _D.warmup,
    weight_decay: WeightDecayOpt = _D.weight_decay,
    max_length: MaxLengthOpt = _D.max_length,
    seed: SeedOpt = _D.seed,
    beta: Annotated[float, option("--beta", help=config_help("beta"))] = _D.beta,
    value_weight: Annotated[
        float, option("--value-weight", help=config_help("value_weight"))
    ] = _D.value_weight,
    sft_weight: Annotated[
        float, option("--sft-weight", help=config_help("sft_weight"))
    ] = _D.sft_weight,
    value_features: Annotated[
        str, option("--value-features", help=config_help("value_features"))
    ] = _D.value_features,
    value_head: Annotated[
        str, option("--value-head", help=config_help("value_head"))
    ] = _D.value_head,
    value_loss: Annotated[
        str, option("--value-loss", help=config_help("value_loss"))
    ] = _D.value_loss,
    value_margin: Annotated[
        float, option("--value-margin", help=config_help("value_margin"))
    ] = _D.value_margin,
    value_margin_weight: Annotated[
        float, option("--value-margin-weight", help=config_help("value_margin_weight"))
    ] = _D.value_margin_weight,
) -> None:
    """Fine-tune a causal LM (--init) or train the tiny model from scratch on step-by-step
    solutions (sft), or train a policy on MCTS step pairs (svpo)."""
    config = PolicyTrainConfig(
        output_dir=output_dir,
        init=init,
        from_scratch=from_scratch,
        max_steps=max_steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        warmup=warmup,
        weight_decay=weight_decay,
        max_length=max_length,
        seed=seed,
        template=_unescape(template),
        separator=_unescape(separator),
        hidden_size=hidden_size,
        num_layers=num_layers,
        num_heads=num_heads,
        logging_steps=logging_steps,
        prompt_kind=prompt_kind,
        system=system,
        objective=objective,
        beta=beta,
        value_weight=value_weight,
        sft_weight=sft_weight,
        value_features=value_features,
        value_head=value_head,
        value_loss=value_loss,
        value_margin=value_margin,
        value_margin_weight=value_margin_weight,
    )
    config.validate()
    if objective == "svpo":
        _train_svpo(input_path, problems, config)
        return
    prompt = resolve_prompt_format(config)
    if problems is None:
        examples = examples_from_problems(input_path, prompt)
    else:
        examples = examples_from_solutions(input_path, problems, prompt)
    console.print(f"training on {len(examples)} examples for {max_steps} steps")
    result = train_policy(examples, config, prompt)
    loss = "n/a" if result.final_loss is None else f"{result.final_loss:.4f}"
    console.print(
        f"saved {result.output_dir} ({result.n_parameters / 1e6:.2f} M parameters): {result.steps} "
        f"steps in {result.seconds:.0f} s, {result.tokens_per_second:.0f} tokens/s, final loss {loss}"
    )


def _train_svpo(pairs: str, problems: str | None, config: PolicyTrainConfig) -> None:
    from mathverify.errors import MathverifyError
    from mathverify.records import read_problems_by_id
    from mathverify.training.svpo import train_svpo

    if problems is None:
        raise MathverifyError("--objective svpo needs --problems (the pairs' problems)")
    console.print(f"svpo: training {config.init} on the step pairs of {pairs}")
    result = train_svpo(pairs, read_problems_by_id(problems), config)
    loss = "n/a" if result.final_loss is None else f"{result.final_loss:.4f}"
    console.print(
        f"saved {result.output_dir}: {result.n_examples} pairs, {result.steps} steps in "
        f"{result.seconds:.0f} s, final loss {loss}"
    )
