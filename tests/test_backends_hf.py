"""The transformers backend against bare ``model.generate``: greedy, sampling, stops, logprobs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mathverify.backends import Completion, load_policy, next_steps
from mathverify.backends.hf import HFPolicy
from mathverify.errors import MathverifyError
from mathverify.models.tiny import build_tokenizer, save_random_policy
from mathverify.prompting import PromptFormat

PROMPTS = [
    "Problem: 12 + 7 * 3\nSolution:\n",
    "Problem: (4 - 9) * 2\nSolution:\n",
    "Problem: 5\nSolution:\n",
]


def save_tiny_policy(directory: Path, seed: int = 0) -> Path:
    """A random-init tiny Llama policy with the character tokenizer and a policy card."""
    return save_random_policy(
        directory, seed=seed, hidden_size=64, num_layers=2, num_heads=2, max_positions=1024
    )


@pytest.fixture(scope="session")
def policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_policy(tmp_path_factory.mktemp("tiny_policy"))


@pytest.fixture(scope="session")
def policy(policy_dir: Path) -> HFPolicy:
    loaded = load_policy("hf", str(policy_dir), batch_size=8)
    assert isinstance(loaded, HFPolicy)
    return loaded


def bare_generate(policy: HFPolicy, prompts: list[str], **options: object) -> torch.Tensor:
    """``model.generate`` on a left-padded batch; returns the generated ids only."""
    batch = policy.tokenizer(prompts, return_tensors="pt", padding=True)
    with torch.no_grad():
        out = policy.model.generate(
            **batch,
            pad_token_id=policy.tokenizer.pad_token_id,
            eos_token_id=policy.tokenizer.eos_token_id,
            **options,
        )
    sequences = out.sequences if hasattr(out, "sequences") else out
    return sequences[:, batch["input_ids"].shape[1] :], out


def text_until_eos(policy: HFPolicy, ids: list[int]) -> tuple[str, int, str]:
    eos = policy.tokenizer.eos_token_id
    if eos in ids:
        end = ids.index(eos)
        return policy.tokenizer.decode(ids[:end], skip_special_tokens=True), end + 1, "eos"
    return policy.tokenizer.decode(ids, skip_special_tokens=True), len(ids), "length"


@pytest.mark.parametrize("prompts", [PROMPTS[:1], [PROMPTS[0], PROMPTS[0].replace("7", "8")]])
def test_greedy_equals_bare_generate(policy: HFPolicy, prompts: list[str]) -> None:
    ours = policy.complete(prompts, n=2, temperature=0, max_tokens=24)
    generated, _ = bare_generate(policy, prompts, do_sample=False, max_new_tokens=24)
    for row, per_prompt in enumerate(ours):
        text, n_tokens, reason = text_until_eos(policy, generated[row].tolist())
        assert len(per_prompt) == 2
        assert per_prompt[0] == per_prompt[1]
        assert (per_prompt[0].text, per_prompt[0].n_tokens) == (text, n_tokens)
        assert per_prompt[0].finish_reason == reason


def test_sampling_matches_bare_generate_and_logprob_is_the_models(policy: HFPolicy) -> None:
    """One row, same seed: same tokens as ``generate``; logprob = raw-logit log-softmax sum."""
    [[ours]] = policy.complete(PROMPTS[:1], n=1, temperature=0.7, max_tokens=40, seed=3)
    torch.manual_seed(3)
    generated, out = bare_generate(
        policy,
        PROMPTS[:1],
        do_sample=True,
        temperature=0.7,
        top_k=0,
        max_new_tokens=40,
        return_dict_in_generate=True,
        output_logits=True,
    )
    text, n_tokens, reason = text_until_eos(policy, generated[0].tolist())
    assert (ours.text, ours.n_tokens, ours.finish_reason) == (text, n_tokens, reason)
    raw = policy.model.compute_transition_scores(out.sequences, out.logits, normalize_logits=True)
    assert ours.logprob == pytest.approx(float(raw[0, :n_tokens].sum()), rel=1e-5)


def assert_same_completion(a: Completion, b: Completion) -> None:
    assert (a.text, a.n_tokens, a.finish_reason) == (b.text, b.n_tokens, b.finish_reason)
    assert a.logprob == pytest.approx(b.logprob, rel=1e-5)


def test_same_seed_same_output_different_seed_different(policy: HFPolicy) -> None:
    first = policy.complete(PROMPTS, n=3, temperature=1.0, max_tokens=30, seed=1)
    again = policy.complete(PROMPTS, n=3, temperature=1.0, max_tokens=30, seed=1)
    other = policy.complete(PROMPTS, n=3, temperature=1.0, max_tokens=30, seed=2)
    # The second call reuses the first one's prompt keys and values (prefix cache): the same
    # completions, log-probabilities equal up to float rounding.
    for mine, theirs in zip(first, again, strict=True):
        for a, b in zip(mine, theirs, strict=True):
            assert_same_completion(a, b)
    assert [c.text for per in first for c in per] != [c.text for per in other for c in per]
    assert [len(per) for per in first] == [3, 3, 3]


def _stop_probe(texts: list[str]) -> str:
    """A two-character string from the first sampled text, before any newline (two tokens)."""
    for text in texts:
        for i in range(2, len(text) - 2):
            piece = text[i : i + 2]
            if "\n" not in text[: i + 2] and piece.strip() == piece:
                return piece
    pytest.fail("no usable stop string in the sampled texts")


def test_stop_strings_end_each_row_of_a_batch(policy: HFPolicy) -> None:
    """With a stop, each row is the no-stop row cut at its first stop string, others untouched."""
    free = policy.complete(PROMPTS, n=4, temperature=1.0, max_tokens=40, seed=5)
    texts = [c.text for per in free for c in per]
    probe = _stop_probe(texts)
    stops = [probe, "\n\n"]
    cut = policy.complete(PROMPTS, n=4, temperature=1.0, max_tokens=40, seed=5, stop=stops)
    stopped = 0
    for before, after in zip(
        [c for per in free for c in per], [c for per in cut for c in per], strict=True
    ):
        positions = [before.text.find(s) for s in stops if s in before.text]
        if not positions:
            assert_same_completion(after, before)
            continue
        stopped += 1
        start = min(positions)
        assert after.finish_reason == "stop"
        assert after.text == before.text[:start]
        assert after.n_tokens <= before.n_tokens
        end = start + len(probe) if before.text[start:].startswith(probe) else None
        if end is not None and "\n" not in before.text[:end]:
            # Without newlines the character tokenizer has one token per character.
            assert after.n_tokens == end
    assert stopped >= 1


def test_stop_on_separator_token_and_max_tokens(policy: HFPolicy) -> None:
    results = policy.complete(PROMPTS, n=6, temperature=1.0, max_tokens=12, stop=["\n\n"], seed=0)
    for completion in (c for per in results for c in per):
        assert "\n\n" not in completion.text
        assert completion.finish_reason in ("stop", "eos", "length")
        if completion.finish_reason == "length":
            assert completion.n_tokens == 12
        assert 1 <= completion.n_tokens <= 12


def test_next_steps_continues_a_prefix(policy: HFPolicy) -> None:
    fmt = PromptFormat()
    prefixes = [fmt.prefix("1 + 2", []), fmt.prefix("3 * 4", ["3 * 4 = 12"])]
    proposals = next_steps(
        policy, prefixes, separator=fmt.separator, n=3, temperature=1.0, max_tokens=60, seed=0
    )
    assert [len(p) for p in proposals] == [3, 3]
    for per_prefix in proposals:
        for step in per_prefix:
            assert fmt.separator not in step.step
            assert step.step == step.step.strip()
            assert step.finished == (step.finish_reason != "stop")
            assert step.n_tokens >= 1 and step.logprob is not None and step.logprob < 0
    # An open step extends the prefix and the search can ask for the next one.
    open_steps = [s for s in proposals[0] if not s.finished and s.step]
    if open_steps:
        longer = fmt.prefix("1 + 2", [open_steps[0].step])
        [[follow]] = next_steps(policy, [longer], separator=fmt.separator, max_tokens=20)
        assert fmt.separator not in follow.step


def test_batch_size_bounds_do_not_change_greedy(policy_dir: Path) -> None:
    small = HFPolicy.load(str(policy_dir), batch_size=1)
    large = HFPolicy.load(str(policy_dir), batch_size=64)
    one_by_one = small.complete(PROMPTS, temperature=0, max_tokens=16)
    together = large.complete(PROMPTS, temperature=0, max_tokens=16)
    for [a], [b] in zip(one_by_one, together, strict=True):
        assert (a.text, a.n_tokens, a.finish_reason) == (b.text, b.n_tokens, b.finish_reason)
        # Padding changes the float rounding, not the tokens.
        assert a.logprob == pytest.approx(b.logprob, rel=1e-4)


def test_bad_options_and_paths(tmp_path: Path, policy: HFPolicy) -> None:
    with pytest.raises(MathverifyError, match="top_p"):
        policy.complete(PROMPTS, top_p=0.0)
    with pytest.raises(MathverifyError, match="n must be"):
        policy.complete(PROMPTS, n=0)
    with pytest.raises(MathverifyError, match="no such model directory"):
        load_policy("hf", str(tmp_path / "missing"))
    with pytest.raises(MathverifyError, match="no config.json"):
        load_policy("hf", str(tmp_path))
    with pytest.raises(MathverifyError, match="unknown backend 'nope'"):
        load_policy("nope", str(tmp_path))
    with pytest.raises(MathverifyError, match="--dtype"):
        load_policy("hf", str(tmp_path), dtype="int3")


def test_stop_matcher_sees_stops_across_tokens_but_not_in_the_prompt() -> None:
    from mathverify.backends.hf_decoding import StopMatcher

    tokenizer = build_tokenizer()
    matcher = StopMatcher(tokenizer, ("\n\n", "ab"))
    ids = tokenizer.convert_tokens_to_ids
    rows = [
        ["x", "\n", "\n"],  # separator as two newline tokens
        ["x", "a", "\n"],
        ["x", "x", "\n\n"],  # separator as its own token
        ["\n", "x", "\n"],  # a newline in the prompt does not pair with a generated one
        ["x", "a", "b"],
        ["a", "b", "\n"],  # "ab" across the prompt boundary is not a stop
    ]
    input_ids = torch.tensor([[ids(t) for t in row] for row in rows])
    open_rows = torch.ones(len(rows), dtype=torch.bool)
    hits = matcher.matches(input_ids, open_rows, prompt_len=1)
    assert hits.tolist() == [True, False, True, False, True, False]
    closed = matcher.matches(input_ids, torch.zeros(len(rows), dtype=torch.bool), prompt_len=1)
    assert not closed.any()
