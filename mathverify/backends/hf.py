"""The transformers backend: any causal LM directory or hub name as a :class:`Policy`, CPU or GPU.

:class:`HFPolicy` loads the model and its tokenizer, tokenises a call's prompts and cuts its
rows (``n`` samples of each prompt) into batches under a ``batch_size`` bound, longest
prompt first, each batch seeded from the call's seed and its index. Each batch goes to the
decoding engine (:class:`~mathverify.backends.hf_decoding.Decoder`), which pads on the left,
decodes greedily at temperature 0, and stops each row at the first stop string in its
generated text while the rest of the batch goes on. Per-token log-probabilities are read
once per step from the model's own distribution (before temperature and top-p), so nothing
is kept per step but one number per row. The keys and values of each call's prompts are
kept for the next call (:class:`~mathverify.prefix_cache.PrefixCache`), so a prompt that
extends one of them (search's next depth) encodes only its new tokens.

Not the fast path for real models on GPU: that is vLLM (``mathverify.backends.vllm``).
This backend is the reference every other backend is checked against, and what the
embedded synthetic task runs on CPU.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from mathverify import progress
from mathverify.backends.base import Completion, check_sampling, stop_strings
from mathverify.backends.hf_decoding import Decoder, StopMatcher
from mathverify.errors import MathverifyError
from mathverify.models.kv_prefix import DEFAULT_PREFIX_CACHE_TOKENS
from mathverify.models.verifier import check_tokenizer_files
from mathverify.prefix_cache import PrefixCache

DTYPES: dict[str, Any] = {
    "auto": "auto",
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}

DEFAULT_BATCH_SIZE = 256


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` is the first CUDA device when there is one, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise MathverifyError(f"--device {device!r}: {exc}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _looks_like_path(path_or_name: str) -> bool:
    # A hub name is "name" or "owner/name"; anything else with a separator is a path.
    return (
        path_or_name.startswith((".", "/", "~"))
        or path_or_name.count("/") > 1
        or "\\" in path_or_name
        or Path(path_or_name).exists()
    )


class HFPolicy:
    """A transformers causal LM behind the :class:`~mathverify.backends.base.Policy` protocol."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        name: str,
        batch_size: int = DEFAULT_BATCH_SIZE,
        use_generate: bool = False,
        prefix_cache_tokens: int = DEFAULT_PREFIX_CACHE_TOKENS,
    ) -> None:
        if batch_size < 1:
            raise MathverifyError(f"batch_size must be at least 1, got {batch_size}")
        self.model = model.eval()
        # transformers' own generate loop: the reference the cached loop is tested against,
        # and the loop for models the cached one does not drive.
        self.use_generate = use_generate or not Decoder.drives(model)
        # Prompts are left-padded by the decoder, by hand, so the tokenizer's padding side
        # does not matter.
        self.tokenizer = tokenizer
        self.name = name
        self.batch_size = batch_size
        self.device = next(model.parameters()).device
        eos: list[int] = []
        for source in (
            tokenizer.eos_token_id,
            getattr(model.generation_config, "eos_token_id", None),
        ):
            for token_id in source if isinstance(source, list) else [source]:
                if token_id is not None and token_id not in eos:
                    eos.append(int(token_id))
        self.eos_ids = eos
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = eos[0] if eos else None
        if pad is None:
            raise MathverifyError(f"{name}: tokenizer has neither a pad nor an eos token")
        self.pad_id = int(pad)
        self._matchers: dict[tuple[str, ...], StopMatcher] = {}
        if prefix_cache_tokens < 0:
            raise MathverifyError(f"prefix_cache_tokens must be >= 0, got {prefix_cache_tokens}")
        # The prompts' keys and values, for the next call's prompts that extend them.
        self.prefix_cache = PrefixCache(0 if self.use_generate else prefix_cache_tokens)
        self.decoder = Decoder(
            model,
            tokenizer,
            eos_ids=self.eos_ids,
            pad_id=self.pad_id,
            prefix_cache=self.prefix_cache,
            use_generate=self.use_generate,
        )

    @classmethod
    def load(
        cls,
        path_or_name: str,
        *,
        dtype: str = "auto",
        device: str = "auto",
        batch_size: int = DEFAULT_BATCH_SIZE,
        trust_remote_code: bool = False,
        use_generate: bool = False,
        prefix_cache_tokens: int = DEFAULT_PREFIX_CACHE_TOKENS,
    ) -> HFPolicy:
        """Load a causal LM and its tokenizer from a directory or a hub name."""
        if dtype not in DTYPES:
            raise MathverifyError(f"--dtype {dtype!r}: choose from {', '.join(DTYPES)}")
        if _looks_like_path(path_or_name):
            path = Path(path_or_name).expanduser()
            if not path.is_dir():
                raise MathverifyError(f"{path_or_name}: no such model directory")
            if not (path / "config.json").exists():
                raise MathverifyError(
                    f"{path_or_name}: not a model directory (no config.json); "
                    "expected a save_pretrained folder or a hub name"
                )
        target = resolve_device(device)
        check_tokenizer_files(path_or_name)
        try:
            tokenizer = AutoTokenizer.from_pretrained(
                path_or_name, trust_remote_code=trust_remote_code
            )
            model = AutoModelForCausalLM.from_pretrained(
                path_or_name, dtype=DTYPES[dtype], trust_remote_code=trust_remote_code
            )
        except (OSError, ValueError, KeyError) as exc:
            raise MathverifyError(
                f"{path_or_name}: cannot load model ({_first_line(exc)})"
            ) from exc
        model.to(target)
        return cls(
            model,
            tokenizer,
            name=path_or_name,
            batch_size=batch_size,
            use_generate=use_generate,
            prefix_cache_tokens=prefix_cache_tokens,
        )

    def settings(self) -> dict[str, Any]:
        """What to record beside the outputs: the weights' dtype, the device, the batch size."""
        return {
            "dtype": str(self.model.dtype).removeprefix("torch."),
            "device": str(self.device),
            "batch_size": self.batch_size,
            "transformers_version": transformers.__version__,
        }

    # ------------------------------------------------------------------------------

    def complete(
        self,
        prompts: list[str],
        *,
        n: int = 1,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_tokens: int = 256,
        stop: list[str] | None = None,
        seed: int = 0,
    ) -> list[list[Completion]]:
        """``n`` completions per prompt, in prompt order; deterministic given all arguments.

        Sequences are sorted longest prompt first and cut into batches of ``batch_size``;
        each batch is seeded from ``seed`` and its index, so sampled text depends on the
        prompts and options of the call (and the batch size), never on earlier calls (the
        prefix cache changes what is computed, not the result, up to float rounding).
        """
        check_sampling(n=n, temperature=temperature, top_p=top_p, max_tokens=max_tokens)
        stops = tuple(stop_strings(stop))
        if not prompts:
            return []
        greedy = temperature == 0
        encoded = self._encode(prompts)
        # Greedy samples are all equal: decode each prompt once and repeat the result.
        copies = 1 if greedy else n
        # Longest first, so rows of a batch have similar lengths and little padding; the
        # copies of a prompt stay together (and share its prompt encoding).
        order = sorted(range(len(prompts)), key=lambda i: -len(encoded[i]))
        matcher = self._matcher(stops) if stops else None
        per_prompt: list[list[Completion]] = [[] for _ in prompts]
        rows, done_rows = copies * len(prompts), 0
        with self.prefix_cache.call():
            for index, chunk in enumerate(_chunks(order, copies, self.batch_size)):
                progress.note(sequences=f"{done_rows}/{rows}")
                # Each batch has its own seed, so when one batch stops early the random numbers
                # the next one draws stay the same.
                torch.manual_seed(batch_seed(seed, index))
                units = [(encoded[i], count) for i, count in chunk]
                results = iter(
                    self.decoder.decode(
                        units,
                        greedy=greedy,
                        temperature=temperature,
                        top_p=top_p,
                        max_tokens=max_tokens,
                        matcher=matcher,
                    )
                )
                for i, count in chunk:
                    per_prompt[i].extend(next(results) for _ in range(count))
                done_rows += sum(count for _, count in chunk)
        progress.note(sequences="")
        return [mine * n if greedy else mine for mine in per_prompt]

    def _encode(self, prompts: list[str]) -> list[list[int]]:
        encoded = self.tokenizer(prompts, add_special_tokens=True)["input_ids"]
        bos = self.tokenizer.bos_token_id
        out: list[list[int]] = []
        for i, ids in enumerate(encoded):
            if not ids:
                if bos is None:
                    raise MathverifyError(f"prompt {i} is empty and the tokenizer has no bos token")
                ids = [bos]
            out.append(list(ids))
        return out

    def _matcher(self, stops: tuple[str, ...]) -> StopMatcher:
        if stops not in self._matchers:
            self._matchers[stops] = StopMatcher(self.tokenizer, stops).to(self.device)
        return self._matchers[stops]


def _chunks(order: list[int], copies: int, size: int) -> list[list[tuple[int, int]]]:
    """Cut ``copies`` rows of each prompt in ``order`` into batches of at most ``size`` rows.

    The rows are cut as one flat list would be, every ``size`` rows; a batch is a list of
    (prompt index, rows of that prompt in this batch).
    """
    out: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    room = size
    for i in order:
        left = copies
        while left:
            take = min(left, room)
            current.append((i, take))
            left -= take
            room -= take
            if room == 0:
                out.append(current)
                current, room = [], size
    if current:
        out.append(current)
    return out


def batch_seed(seed: int, index: int) -> int:
    """The seed of the ``index``-th batch of a call: ``seed`` itself for the first one."""
    return seed if index == 0 else random.Random(f"{seed}/{index}").getrandbits(63)
