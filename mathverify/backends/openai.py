"""A :class:`~mathverify.backends.base.Policy` over any OpenAI-compatible ``/v1/completions`` server.

vLLM (``python -m vllm.entrypoints.openai.api_server``), SGLang and TGI all serve this API.
Only the standard library is used: ``urllib`` for HTTP and a bounded thread pool for
concurrency (one request per prompt, carrying ``n``, ``seed``, ``stop`` and ``logprobs``).

Behaviour a caller relies on:

- Connection errors, timeouts, HTTP 429 and 5xx are retried with exponential backoff
  (``backoff``, ``2 * backoff``, ...) up to ``max_retries`` times; then the call fails with
  one :class:`~mathverify.errors.MathverifyError` line naming the URL and the last error.
  Other 4xx answers fail at once with the server's message; an unknown model name is
  reported with the models the server does serve.
- ``n_tokens`` per choice is the number of tokens in the choice's ``logprobs`` (requested
  with ``logprobs=0``: the chosen tokens only), which counts the stop-completing and
  end-of-sequence tokens like the other backends. A server that returns no logprobs gives
  ``usage.completion_tokens``, which is exact for ``n == 1``; for ``n > 1`` it is an
  aggregate and is split evenly over the choices (the sum stays exact).
- ``finish_reason``: ``"length"`` stays ``"length"``. The API's ``"stop"`` covers both a
  stop string and the end of sequence; vLLM's ``stop_reason`` and SGLang's
  ``matched_stop`` (a string for a stop string, a token id or null for end of sequence)
  and TGI's ``"eos_token"``/``"stop_sequence"`` tell them apart. A server that says
  neither is taken to have stopped at a stop string when any was requested, else at the
  end of sequence.
- Seeds: each prompt gets :func:`~mathverify.backends.seeding.request_seed` of the call's
  seed and its position, as the vLLM offline backend does, so a vLLM server gives the
  same samples as ``--backend vllm`` on the same model.
"""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any

from mathverify.backends.base import Completion, check_sampling, stop_strings
from mathverify.backends.seeding import request_seed
from mathverify.errors import MathverifyError

API_KEY_ENV = "OPENAI_API_KEY"
# Seconds before the first retry; each further retry waits twice as long.
DEFAULT_BACKOFF = 1.0
RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
# Network failures worth another try: refused/reset connections, timeouts, torn responses.
_TRANSIENT = (OSError, http.client.HTTPException)


def normalize_base_url(base_url: str) -> str:
    """``http://host:port`` becomes ``http://host:port/v1``; a URL with a path is kept."""
    url = base_url.strip().rstrip("/")
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise MathverifyError(
            f"--base-url {base_url!r}: expected http(s)://host:port[/v1], e.g. http://127.0.0.1:8000/v1"
        )
    return url if parsed.path else url + "/v1"


def _server_message(body: bytes) -> str:
    """The error text of an error response: OpenAI's ``{"error": {"message"}}`` or raw text."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return text.splitlines()[0][:300] if text else ""
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            return str(error.get("message") or error.get("detail") or error)[:300]
        if isinstance(error, str):
            return error[:300]
        if "message" in data:
            return str(data["message"])[:300]
    return text[:300]


def map_finish_reason(choice: dict[str, Any], stops: list[str]) -> str:
    """``"stop"``, ``"eos"`` or ``"length"`` from one choice of a completions response."""
    reason = choice.get("finish_reason")
    if reason == "length":
        return "length"
    if reason in ("eos_token", "stop_sequence"):  # TGI
        return "eos" if reason == "eos_token" else "stop"
    if reason != "stop":
        raise MathverifyError(f"server ended a completion with finish_reason {reason!r}")
    for field in ("stop_reason", "matched_stop"):  # vLLM, SGLang
        if field in choice:
            return "stop" if isinstance(choice[field], str) else "eos"
    return "stop" if stops else "eos"


def parse_choices(
    response: dict[str, Any], *, n: int, stops: list[str], url: str
) -> list[Completion]:
    """The ``n`` completions of one response, in choice order."""
    choices = response.get("choices")
    if not isinstance(choices, list) or len(choices) != n:
        got = len(choices) if isinstance(choices, list) else "no"
        raise MathverifyError(f"{url}: server returned {got} choices, expected {n}")
    choices = sorted(choices, key=lambda choice: choice.get("index", 0))
    usage = response.get("usage") or {}
    total_tokens = usage.get("completion_tokens")
    completions: list[Completion] = []
    for position, choice in enumerate(choices):
        text = choice.get("text")
        if not isinstance(text, str):
            raise MathverifyError(f"{url}: choice {position} has no text")
        token_logprobs = (choice.get("logprobs") or {}).get("token_logprobs")
        if isinstance(token_logprobs, list):
            n_tokens = len(token_logprobs)
            logprob: float | None = float(sum(x for x in token_logprobs if x is not None))
        elif isinstance(total_tokens, int):
            # Aggregate usage: even split, remainder to the first choices (sum stays exact).
            n_tokens = total_tokens // n + (1 if position < total_tokens % n else 0)
            logprob = None
        else:
            raise MathverifyError(f"{url}: response has neither logprobs nor usage token counts")
        completions.append(
            Completion(
                text=text,
                n_tokens=n_tokens,
                finish_reason=map_finish_reason(choice, stops),
                logprob=logprob,
            )
        )
    return completions


class OpenAIPolicy:
    """Completions from an OpenAI-compatible server, one request per prompt, in parallel."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        max_concurrency: int = 8,
        max_retries: int = 4,
        backoff: float | None = None,
        timeout: float = 600.0,
        logprobs: bool = True,
        api_key: str | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise MathverifyError(f"max_concurrency must be at least 1, got {max_concurrency}")
        if max_retries < 0:
            raise MathverifyError(f"max_retries must be >= 0, got {max_retries}")
        self.base_url = normalize_base_url(base_url)
        self.model = model
        self.name = model
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.backoff = DEFAULT_BACKOFF if backoff is None else backoff
        self.timeout = timeout
        self.logprobs = logprobs
        self.api_key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)

    @classmethod
    def connect(
        cls, model: str, *, base_url: str, check: bool = True, **options: Any
    ) -> OpenAIPolicy:
        """A policy for ``model`` at ``base_url``; with ``check``, fail now if it is not served."""
        policy = cls(base_url, model, **options)
        if check:
            policy.check_model()
        return policy

    def settings(self) -> dict[str, Any]:
        """What to record beside the outputs: where they came from and how."""
        return {
            "base_url": self.base_url,
            "model": self.model,
            "max_concurrency": self.max_concurrency,
            "logprobs": self.logprobs,
        }

    # ------------------------------------------------------------------------------
    # HTTP

    def _request(self, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET (no payload) or POST JSON to ``base_url + path``, retrying transient failures."""
        url = self.base_url + path
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last_error = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            request = urllib.request.Request(url, data=data, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    body = response.read()
            except urllib.error.HTTPError as exc:
                message = _server_message(exc.read())
                if exc.code in RETRY_STATUS:
                    last_error = f"HTTP {exc.code} {message}".strip()
                    continue
                raise self._client_error(url, exc.code, message) from None
            except _TRANSIENT as exc:
                reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
                last_error = str(reason) or type(reason).__name__
                continue
            try:
                result = json.loads(body)
            except json.JSONDecodeError:
                raise MathverifyError(f"{url}: the server's answer is not JSON") from None
            if not isinstance(result, dict):
                raise MathverifyError(f"{url}: expected a JSON object from the server")
            return result
        tries = self.max_retries + 1
        raise MathverifyError(
            f"{url}: no answer after {tries} tr{'y' if tries == 1 else 'ies'} ({last_error}); "
            "is the server running at --base-url?"
        )

    def _client_error(self, url: str, status: int, message: str) -> MathverifyError:
        lowered = message.lower()
        if status == 404 or (status == 400 and "model" in lowered and self.model in message):
            served = self._served_models_quietly()
            if served is not None and self.model not in served:
                return MathverifyError(
                    f"{url}: model {self.model!r} is not served there "
                    f"(it serves: {', '.join(served) or 'nothing'}); check --model"
                )
        return MathverifyError(f"{url}: HTTP {status}: {message or 'no message'}")

    def served_models(self) -> list[str]:
        """Model ids listed by the server's ``/models``."""
        data = self._request("/models").get("data")
        if not isinstance(data, list):
            raise MathverifyError(f"{self.base_url}/models: expected a 'data' list")
        return [str(entry.get("id")) for entry in data if isinstance(entry, dict)]

    def _served_models_quietly(self) -> list[str] | None:
        # Used only to improve an error message: a server without /models gives None.
        try:
            return self.served_models()
        except MathverifyError:
            return None

    def check_model(self) -> None:
        """Fail with one line when the server is down or does not serve ``model``."""
        try:
            served = self.served_models()
        except MathverifyError as exc:
            if "HTTP 404" in str(exc) or "HTTP 405" in str(exc):
                return  # no /models on this server: the first completion will tell
            raise
        if self.model not in served:
            raise MathverifyError(
                f"{self.base_url}: model {self.model!r} is not served there "
                f"(it serves: {', '.join(served) or 'nothing'}); check --model"
            )

    # ------------------------------------------------------------------------------
    # Policy

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
        """``n`` completions per prompt, in prompt order (requests run concurrently)."""
        check_sampling(n=n, temperature=temperature, top_p=top_p, max_tokens=max_tokens)
        stops = stop_strings(stop)
        if not prompts:
            return []
        # Greedy samples are all equal: ask once per prompt and repeat the answer.
        asked = 1 if temperature == 0 else n

        def one(index: int) -> list[Completion]:
            payload: dict[str, Any] = {
                "model": self.model,
                "prompt": prompts[index],
                "n": asked,
                "temperature": temperature,
                "top_p": top_p,
                "max_tokens": max_tokens,
                "seed": request_seed(seed, index),
            }
            if stops:
                payload["stop"] = stops
            if self.logprobs:
                payload["logprobs"] = 0
            response = self._request("/completions", payload)
            completions = parse_choices(
                response, n=asked, stops=stops, url=self.base_url + "/completions"
            )
            return completions * n if asked == 1 else completions

        if len(prompts) == 1 or self.max_concurrency == 1:
            return [one(i) for i in range(len(prompts))]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(prompts))) as pool:
            futures = [pool.submit(one, i) for i in range(len(prompts))]
            finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in futures if f in finished and f.exception() is not None]
            if failed:
                for future in futures:
                    future.cancel()
                # The first failure in prompt order, so the message does not depend on timing.
                raise failed[0].exception()  # type: ignore[misc]
            return [future.result() for future in futures]
