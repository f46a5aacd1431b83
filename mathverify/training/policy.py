"""Supervised fine-tuning of a policy on step-by-step solutions, with TRL's SFTTrainer.

Examples are prompt/completion pairs built by :func:`sft_example`: the prompt is the
problem through the :class:`~mathverify.prompting.PromptFormat`, the completion is the steps
joined by its separator (TRL appends the end-of-sequence token), and the loss falls on the
completion only, except the observations of code steps (:func:`observation_spans`): the
output a sandbox appends after a python block in the react / MARIO format is not the
model's to write, so its tokens get label -100, as MARIO and AlphaMath mask tool outputs.
The model is any causal LM directory or hub name (``init``), or a tiny
model built from scratch (:func:`tiny_llama_config`) with the character tokenizer of
:mod:`mathverify.models.tiny`.
The output is a Hugging Face directory (model + tokenizer) plus ``mathverify.json``.

Sources of solutions: problem records whose ``meta.gold_steps`` holds a gold solution (the
synthetic train set), or solution records (any policy's samples) joined to their problems
by id; solutions labeled ``outcome: false`` are left out (rejection-sampling fine-tuning).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from mathverify.code_steps import OUTPUT_FENCE, pending_code
from mathverify.errors import MathverifyError
from mathverify.models.card import CARD_NAME, ModelCard, load_card
from mathverify.models.prompts import PROMPT_FORMAT_CHOICES
from mathverify.prompting import DEFAULT_SYSTEM, DEFAULT_TEMPLATE, PromptFormat
from mathverify.records import Problem, Solution, read_records
from mathverify.steps import DEFAULT_SEPARATOR
from mathverify.training.verifier_config import INIT_SHORT

FROM_SCRATCH_CHOICES = ("tiny",)
OBJECTIVES = ("sft", "svpo")
VALUE_LOSSES = ("mse", "mse+margin")
# An output block as mathverify.code_steps reads one: the fence, optional blanks, a newline, the
# body, the closing fence.
_OUTPUT_BLOCK = re.compile(re.escape(OUTPUT_FENCE) + r"[ \t]*\n.*?```", re.DOTALL | re.IGNORECASE)


@dataclass
class PolicyTrainConfig:
    """Settings of one SFT run; the ``help`` metadata is the CLI's help text."""

    output_dir: str = field(
        metadata={"help": "Directory for the trained model and mathverify.json."}
    )
    init: str | None = field(default=None, metadata={"help": INIT_SHORT})
    from_scratch: str | None = field(
        default=None,
        metadata={
            "help": "Build a new model instead: 'tiny' (~1 M parameters, character tokenizer)."
        },
    )
    max_steps: int = field(
        default=1000, metadata={"help": "Optimizer steps to train (the budget)."}
    )
    batch_size: int = field(default=64, metadata={"help": "Examples per optimizer step."})
    learning_rate: float = field(default=3e-3, metadata={"help": "Peak learning rate (AdamW)."})
    warmup: float = field(
        default=0.05, metadata={"help": "Warmup: a fraction of max_steps (<1) or a step count."}
    )
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    scheduler: str = field(default="cosine", metadata={"help": "Learning-rate schedule."})
    max_length: int = field(default=256, metadata={"help": "Longest tokenized example kept."})
    seed: int = field(default=0, metadata={"help": "Seed for initialisation and data order."})
    template: str = field(
        default=DEFAULT_TEMPLATE,
        metadata={"help": "Prompt template with {problem}; recorded in mathverify.json."},
    )
    separator: str = field(default=DEFAULT_SEPARATOR, metadata={"help": "Step separator."})
    prompt_kind: str = field(
        default="auto",
        metadata={
            "help": "auto: --init's mathverify.json kind (chat, or plain with --template); "
            "without one, chat when its tokenizer has a chat template, else plain. chat: the "
            "problem as the user turn of --init's chat template (after the --system turn). "
            "plain: --template. Recorded in mathverify.json."
        },
    )
    system: str | None = field(
        default=None,
        metadata={
            "help": "chat prompts: the system turn (default: 'Please reason step by step, and "
            "put your final answer within \\boxed{}.'; '' for none)."
        },
    )
    hidden_size: int = field(default=128, metadata={"help": "Tiny model: hidden size."})
    num_layers: int = field(default=4, metadata={"help": "Tiny model: layers."})
    num_heads: int = field(
        default=4, metadata={"help": "Tiny model: attention heads (size >= 32)."}
    )
    logging_steps: int = field(default=50, metadata={"help": "Log the loss every N steps."})
    objective: str = field(
        default="sft",
        metadata={
            "help": "sft: fine-tune on whole solutions (TRL SFTTrainer). svpo: step-level DPO on "
            "MCTS step pairs (label --method mcts --pairs; mathverify.training.svpo), from --init.",
            "short": "sft (whole solutions), or svpo (step-level DPO on MCTS step pairs).",
        },
    )
    beta: float = field(
        default=0.1,
        metadata={"help": "svpo: DPO's beta (how far the policy may move from the reference)."},
    )
    value_weight: float = field(
        default=0.0,
        metadata={
            "help": "svpo: weight of the value head's MSE on (Q+1)/2 of both steps of every pair, "
            "added to the DPO loss; > 0 saves a value directory (policy and scorer at once).",
            "short": "svpo: weight of a value head's MSE on the pairs' (Q+1)/2 (0: none).",
        },
    )
    sft_weight: float = field(
        default=0.0,
        metadata={
            "help": "svpo: weight of the chosen step's negative log-likelihood per token (RPO's "
            "NLL term), added to the DPO loss so the chosen steps stay likely; 0 = DPO alone.",
            "short": "svpo: weight of the chosen steps' NLL per token, RPO's (0: DPO alone).",
        },
    )
    value_loss: str = field(
        default="mse",
        metadata={
            "help": "svpo with --value-weight: mse (the value head's MSE alone) or mse+margin "
            "(plus --value-margin-weight x the pairs' hinge max(0, m - (V_chosen - V_rejected)), "
            "V = 2 sigmoid(logit) - 1 on the Q scale: a ranking term as SVPO's value model "
            "has; the hinge form is ours).",
            "short": "svpo with --value-weight: value loss mse, or mse+margin (a ranking term).",
        },
    )
    value_margin: float = field(
        default=0.5,
        metadata={
            "help": "svpo --value-loss mse+margin: the margin m on the Q scale [-1, 1] (ours: "
            "the example's --min-q-gap, so no kept pair asks more than its Q gap).",
            "short": "svpo --value-loss mse+margin: the margin, on the Q scale [-1, 1].",
        },
    )
    value_margin_weight: float = field(
        default=1.0,
        metadata={
            "help": "svpo --value-loss mse+margin: weight of the margin term beside the MSE "
            "(ours: equal weights).",
            "short": "svpo --value-loss mse+margin: weight of the margin term.",
        },
    )
    value_features: str = field(
        default="hidden",
        metadata={
            "help": "svpo with --value-weight: what the value head reads (hidden, likelihood)."
        },
    )
    value_head: str = field(
        default="linear",
        metadata={"help": "svpo with --value-weight: the value head (linear, mlp)."},
    )

    def validate(self) -> None:
        if (self.init is None) == (self.from_scratch is None):
            raise MathverifyError("give exactly one of --init DIR_OR_NAME and --from-scratch tiny")
        if self.from_scratch is not None and self.from_scratch not in FROM_SCRATCH_CHOICES:
            raise MathverifyError(
                f"--from-scratch {self.from_scratch!r}: choose one of {', '.join(FROM_SCRATCH_CHOICES)}"
            )
        if self.max_steps < 1 or self.batch_size < 1:
            raise MathverifyError("--max-steps and --batch-size must be >= 1")
        if "{problem}" not in self.template:
            raise MathverifyError("--template must contain {problem}")
        if self.prompt_kind not in PROMPT_FORMAT_CHOICES:
            raise MathverifyError(
                f"--prompt-format {self.prompt_kind!r}: choose one of "
                f"{', '.join(PROMPT_FORMAT_CHOICES)}"
            )
        if self.from_scratch is not None and self.prompt_kind == "chat":
            raise MathverifyError(
                "--prompt-format chat needs --init (a model with a chat template)"
            )
        if self.objective not in OBJECTIVES:
            raise MathverifyError(
                f"--objective {self.objective!r}: choose one of {', '.join(OBJECTIVES)}"
            )
        if self.objective == "svpo" and self.init is None:
            raise MathverifyError("--objective svpo starts from a policy: give --init")
        if self.beta <= 0:
            raise MathverifyError(f"--beta must be > 0, got {self.beta}")
        if self.value_weight < 0:
            raise MathverifyError(f"--value-weight must be >= 0, got {self.value_weight}")
        if self.value_weight > 0 and self.objective != "svpo":
            raise MathverifyError("--value-weight needs --objective svpo")
        if self.sft_weight < 0:
            raise MathverifyError(f"--sft-weight must be >= 0, got {self.sft_weight}")
        if self.sft_weight > 0 and self.objective != "svpo":
            raise MathverifyError("--sft-weight needs --objective svpo")
        if self.value_loss not in VALUE_LOSSES:
            raise MathverifyError(
                f"--value-loss {self.value_loss!r}: choose one of {', '.join(VALUE_LOSSES)}"
            )
        if self.value_loss != "mse" and self.value_weight <= 0:
            raise MathverifyError(f"--value-loss {self.value_loss} needs --value-weight > 0")
        if self.value_margin < 0 or self.value_margin_weight < 0:
            raise MathverifyError("--value-margin and --value-margin-weight must be >= 0")
        if self.value_features not in ("hidden", "likelihood"):
            raise MathverifyError("--value-features: choose hidden or likelihood")
        if self.value_head not in ("linear", "mlp"):
            raise MathverifyError("--value-head: choose linear or mlp")

    @property
    def prompt_format(self) -> PromptFormat:
        """The plain format of ``--template``/``--separator``."""
        return PromptFormat(template=self.template, separator=self.separator)


def resolve_prompt_format(config: PolicyTrainConfig, tokenizer: Any | None = None) -> PromptFormat:
    """The prompt format to train with: plain (``--template``) for a model from scratch, an
    ``--init`` with a plain mathverify.json (as before) or ``--prompt-format plain``; the
    chat format of ``--init``'s tokenizer for ``chat``, and for ``auto`` when its card says
    chat or, without a card, when its tokenizer has a chat template."""
    config.validate()
    if config.init is None or config.prompt_kind == "plain":
        return config.prompt_format
    card = Path(config.init) / CARD_NAME
    card_kind = load_card(config.init).prompt.kind if card.exists() else None
    if config.prompt_kind == "auto" and card_kind == "plain":
        return config.prompt_format
    if tokenizer is None:
        from transformers import AutoTokenizer

        from mathverify.models.verifier import check_tokenizer_files

        check_tokenizer_files(config.init)
        try:
            tokenizer = AutoTokenizer.from_pretrained(config.init)
        except (OSError, ValueError) as exc:
            raise MathverifyError(
                f"--init {config.init}: cannot load its tokenizer ({exc})"
            ) from None
    if not getattr(tokenizer, "chat_template", None):
        if config.prompt_kind == "chat":
            raise MathverifyError(
                f"--init {config.init}: --prompt-format chat needs a chat template (its "
                "tokenizer has none); use --prompt-format plain"
            )
        return config.prompt_format
    if config.system is not None:
        system = config.system or None
    elif card_kind == "chat":
        system = load_card(config.init).prompt.system
    else:
        system = DEFAULT_SYSTEM
    return PromptFormat.chat(tokenizer, system=system, separator=config.separator)


def config_help(name: str) -> str:
    """The one-line help of a :class:`PolicyTrainConfig` field, for CLI options (its
    ``short`` text when the whole help runs past a line)."""
    for f in fields(PolicyTrainConfig):
        if f.name == name:
            return str(f.metadata.get("short") or f.metadata["help"])
    raise KeyError(name)


def sft_example(problem: str, steps: list[str], prompt: PromptFormat) -> dict[str, str]:
    """One prompt/completion pair; the loss will fall on the completion only."""
    return {"prompt": prompt.prompt(problem), "completion": prompt.solution_text(steps)}


def observation_spans(completion: str) -> list[tuple[int, int]]:
    """Character spans ``[start, end)`` of ``completion`` that a sandbox wrote, not the model.

    An observation is an output block that follows a python block still waiting for its
    output (:func:`mathverify.code_steps.pending_code` of the text before it), which is where
    :class:`~mathverify.backends.code_runner.ReactPolicy` appends one. The span starts right after
    the block's `````output`` fence, which the model does write (it is the stop string that
    makes the code run), and ends after the closing fence; the text that follows is the
    model's again. An output block with no python block before it is the model's own text.
    """
    spans = []
    for match in _OUTPUT_BLOCK.finditer(completion):
        if pending_code(completion[: match.start()]) is not None:
            spans.append((match.start() + len(OUTPUT_FENCE), match.end()))
    return spans


def mask_spans(
    labels: list[int], offsets: list[tuple[int, int]], spans: list[tuple[int, int]]
) -> list[int]:
    """``labels`` with -100 on every token whose first character lies in one of ``spans``.

    ``offsets`` are the tokens' character spans (a fast tokenizer's offset mapping); a token
    that starts before a span was at least partly written by the model and keeps its label;
    special tokens (empty spans) are never masked.
    """
    if not spans:
        return list(labels)
    masked = list(labels)
    for i, (start, end) in enumerate(offsets[: len(labels)]):
        if end > start and any(lo <= start < hi for lo, hi in spans):
            masked[i] = -100
    return masked


def tokenize_example(
    tokenizer: Any, prompt: str, completion: str, max_length: int
) -> dict[str, list[int]]:
    """Token ids of prompt + completion + eos, with labels -100 on the prompt and on the
    observations of code steps (:func:`observation_spans`); no model needed."""
    return tokenize_examples(tokenizer, [{"prompt": prompt, "completion": completion}], max_length)[
        0
    ]


def tokenize_examples(
    tokenizer: Any, examples: list[dict[str, str]], max_length: int
) -> list[dict[str, list[int]]]:
    """Batched :func:`tokenize_example`: the prompt is the common prefix of the prompt's ids and
    the whole text's ids (BPE may merge across the boundary), the end-of-sequence id closes the
    completion, and sequences are cut at ``max_length``. Special tokens are added as the
    tokenizer does by default (a BOS for many models), matching the generation backends.
    Completions with observations (code steps) get -100 on those tokens too, found by the
    tokenizer's offset mapping; completions without any are tokenized as before."""
    if tokenizer.eos_token_id is None:
        raise MathverifyError("the tokenizer has no end-of-sequence token")
    prompts = [e["prompt"] for e in examples]
    texts = [e["prompt"] + e["completion"] for e in examples]
    # Special tokens as the tokenizer adds them (e.g. a BOS), as the generation backends do.
    prompt_ids = tokenizer(prompts, add_special_tokens=True)["input_ids"]
    text_ids = tokenizer(texts, add_special_tokens=True)["input_ids"]
    spans = _text_observation_spans(examples)
    offsets = _offsets(tokenizer, texts, spans)
    rows = []
    for i, (prompt, ids) in enumerate(zip(prompt_ids, text_ids, strict=True)):
        shared = 0
        while shared < min(len(prompt), len(ids)) and prompt[shared] == ids[shared]:
            shared += 1
        if not ids or ids[-1] != tokenizer.eos_token_id:
            ids = [*ids, tokenizer.eos_token_id]
        ids = ids[:max_length]
        labels = [-100] * shared + ids[shared:]
        if spans[i]:
            labels = mask_spans(labels, offsets[i], spans[i])
        rows.append({"input_ids": ids, "labels": labels[: len(ids)]})
    return rows


def _text_observation_spans(examples: list[dict[str, str]]) -> list[list[tuple[int, int]]]:
    """Each example's observation spans, shifted to positions in prompt + completion."""
    shifted = []
    for example in examples:
        offset = len(example["prompt"])
        spans = observation_spans(example["completion"])
        shifted.append([(start + offset, end + offset) for start, end in spans])
    return shifted


def _offsets(
    tokenizer: Any, texts: list[str], spans: list[list[tuple[int, int]]]
) -> dict[int, list[tuple[int, int]]]:
    """Token character offsets of the texts that have observations (only those: plain
    solutions need none, and a slow tokenizer serves them as before)."""
    wanted = [i for i, row_spans in enumerate(spans) if row_spans]
    if not wanted:
        return {}
    if not getattr(tokenizer, "is_fast", False):
        raise MathverifyError(
            "masking the observations of code steps needs a fast tokenizer (offset mapping)"
        )
    encoded = tokenizer(
        [texts[i] for i in wanted], add_special_tokens=True, return_offsets_mapping=True
    )
    return {
        i: [tuple(o) for o in offsets]
        for i, offsets in zip(wanted, encoded["offset_mapping"], strict=True)
    }


def examples_from_problems(path: str, prompt: PromptFormat) -> list[dict[str, str]]:
    """SFT examples from problem records carrying ``meta.gold_steps``."""
    examples = []
    for problem in read_records(path, Problem):
        steps = problem.meta.get("gold_steps")
        if not isinstance(steps, list) or not steps or not all(isinstance(s, str) for s in steps):
            raise MathverifyError(
                f"{path}: problem {problem.id}: field 'meta.gold_steps' must be a non-empty list of "
                "strings (or give solution records with --problems)"
            )
        examples.append(sft_example(problem.problem, steps, prompt))
    return examples


def examples_from_solutions(
    solutions_path: str, problems_path: str, prompt: PromptFormat
) -> list[dict[str, str]]:
    """SFT examples from solution records (those labeled ``outcome: false`` are skipped)."""
    problems = {p.id: p for p in read_records(problems_path, Problem)}
    examples = []
    for solution in read_records(solutions_path, Solution):
        if solution.outcome is False or not solution.steps:
            continue
        problem = problems.get(solution.problem_id)
        if problem is None:
            raise MathverifyError(
                f"{solutions_path}: solution {solution.key()}: problem id not in {problems_path}"
            )
        examples.append(sft_example(problem.problem, solution.steps, prompt))
    return examples


def tiny_llama_config(tokenizer: Any, config: PolicyTrainConfig) -> Any:
    """The from-scratch model's config at the sizes of ``config`` (see models/tiny.py)."""
    from mathverify.models.tiny import tiny_llama_config as build

    try:
        return build(
            tokenizer,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            num_heads=config.num_heads,
            max_positions=max(512, config.max_length),
        )
    except ValueError as exc:
        raise MathverifyError(f"tiny model: {exc}") from None


def _load_model(config: PolicyTrainConfig) -> tuple[Any, Any]:
    """(model, tokenizer), new or loaded; a loaded tokenizer without pad token pads with eos."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    from mathverify.models.tiny import build_tokenizer

    if config.from_scratch == "tiny":
        tokenizer = build_tokenizer(config.separator)
        return LlamaForCausalLM(tiny_llama_config(tokenizer, config)), tokenizer
    assert config.init is not None
    from mathverify.models.verifier import check_tokenizer_files

    check_tokenizer_files(config.init)
    try:
        tokenizer = AutoTokenizer.from_pretrained(config.init)
        model = AutoModelForCausalLM.from_pretrained(config.init)
    except OSError as exc:
        raise MathverifyError(f"--init {config.init}: cannot load a causal LM ({exc})") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


@dataclass(frozen=True)
class TrainResult:
    output_dir: Path
    n_examples: int
    n_parameters: int
    steps: int
    final_loss: float | None
    seconds: float
    tokens_per_second: float


def train_policy(
    examples: list[dict[str, str]],
    config: PolicyTrainConfig,
    prompt: PromptFormat | None = None,
) -> TrainResult:
    """Fine-tune (or train from scratch) on ``examples``; saves model, tokenizer and card.

    ``prompt`` is the format the examples were built with (default: ``config``'s plain
    one); the card records it."""
    config.validate()
    if not examples:
        raise MathverifyError("no training examples")
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from mathverify.training.common import count_parameters, set_seed, trainer_kwargs

    set_seed(config.seed)
    model, tokenizer = _load_model(config)
    output_dir = Path(config.output_dir)
    args = SFTConfig(
        **trainer_kwargs(
            output_dir=str(output_dir),
            max_steps=config.max_steps,
            batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            seed=config.seed,
            warmup=config.warmup,
            weight_decay=config.weight_decay,
            scheduler=config.scheduler,
            logging_steps=config.logging_steps,
        ),
        max_length=config.max_length,
        completion_only_loss=True,
        packing=False,
        include_num_input_tokens_seen="non_padding",
        # Tokenized here in one batched call: TRL's per-example path is slow on large sets.
        dataset_kwargs={"skip_prepare_dataset": True},
    )
    rows = [
        row
        for row in tokenize_examples(tokenizer, examples, config.max_length)
        if any(label != -100 for label in row["labels"])
    ]
    if not rows:
        raise MathverifyError(f"every example is longer than --max-length {config.max_length}")
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
    )
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    trainer.save_model(str(output_dir))
    tokenizer.save_pretrained(str(output_dir))
    losses = [row["loss"] for row in trainer.state.log_history if "loss" in row]
    final_loss = float(losses[-1]) if losses and math.isfinite(losses[-1]) else None
    tokens = int(trainer.state.num_input_tokens_seen or 0)
    result = TrainResult(
        output_dir=output_dir,
        n_examples=len(examples),
        n_parameters=count_parameters(model),
        steps=int(trainer.state.global_step),
        final_loss=final_loss,
        seconds=seconds,
        tokens_per_second=tokens / seconds if seconds > 0 else 0.0,
    )
    ModelCard(
        kind="policy",
        prompt=prompt or config.prompt_format,
        base_model=config.init or f"scratch:{config.from_scratch}",
        extra={
            "trainer": "trl.SFTTrainer",
            "steps": result.steps,
            "batch_size": config.batch_size,
            "learning_rate": config.learning_rate,
            "seed": config.seed,
            "n_examples": result.n_examples,
            "n_parameters": result.n_parameters,
            "final_loss": result.final_loss,
        },
    ).save(output_dir)
    return result
