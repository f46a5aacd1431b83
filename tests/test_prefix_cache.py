"""Keys and values kept across calls (the prefix cache), and the CPU decoding attention.

A cached run must give what an uncached one gives: the hf backend's completions and the
PRM's scores when prompts extend the previous call's prompts, as search's next depth does,
and SBS itself. Poisoning the stored keys and values must change the results, so the
equality tests show the cache is read, not bypassed.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from mathverify.backends.hf import HFPolicy
from mathverify.backends.hf_decoding import cpu_decode_attention
from mathverify.data.synthetic import SynthConfig, make_splits
from mathverify.errors import MathverifyError
from mathverify.models.card import ModelCard
from mathverify.models.tiny import build_tokenizer, save_random_policy
from mathverify.models.verifier import VerifierModel, load_backbone, save_verifier
from mathverify.prefix_cache import PrefixCache
from mathverify.scoring import load_scorer
from mathverify.scoring.prm import _length_batches
from mathverify.search import SearchConfig, sbs

# --------------------------------------------------------------------------------------
# PrefixCache itself


def test_longest_prefix_counts_any_stored_sequence_that_starts_alike() -> None:
    cache = PrefixCache(100)
    with cache.call():
        cache.insert([1, 2, 3, 4], "a")
        cache.insert([1, 2, 9], "b")
    assert cache.longest([1, 2, 3, 4, 5]) == (4, "a")
    assert cache.longest([1, 2, 3, 7]) == (3, "a")  # diverges inside "a": its first 3 serve
    assert cache.longest([1, 2, 9, 9]) == (3, "b")
    assert cache.longest([1, 2, 3, 4, 5], limit=2)[0] == 2
    assert cache.longest([7, 1, 2]) == (0, None)


def test_a_call_keeps_only_its_own_entries_within_its_budget() -> None:
    cache = PrefixCache(6)
    with cache.call():
        cache.insert([1, 2, 3], "old")
    with cache.call():
        assert cache.longest([1, 2, 3, 4]) == (3, "old")  # the previous call's entries serve
        assert cache.insert([1, 2, 3, 4], "new")
        assert not cache.insert([5, 6, 7], "too much")  # 4 + 3 tokens > 6
    assert cache.n_tokens == 4
    assert cache.longest([5, 6, 7]) == (0, None)
    with cache.call():
        assert cache.insert([1, 2, 3, 4, 5], "longer")
        assert not cache.insert([1, 2, 3], "covered")  # the longer entry serves it
    assert cache.n_tokens == 5
    with cache.call():
        pass
    assert cache.longest([1, 2, 3]) == (0, None)  # not extended by the last call: gone
    assert cache.n_tokens == 0


def test_a_zero_budget_turns_the_cache_off() -> None:
    cache = PrefixCache(0)
    with cache.call():
        assert not cache.insert([1, 2], "x")
    assert cache.longest([1, 2, 3]) == (0, None)


@pytest.mark.parametrize(
    ("lengths", "size", "expected"),
    [
        ([5, 5, 4, 4], 64, [4]),  # small gaps: one batch
        ([30, 10, 10, 10, 10], 64, [1, 4]),  # one long row would pad four short ones by 80
        ([30, 10], 64, [2]),  # one short row pads 20 < 64: cheaper than another forward
        ([3, 3, 3, 3, 3], 2, [2, 2, 1]),  # the row bound still holds
        ([], 8, []),
    ],
)
def test_length_batches_close_when_padding_costs_more_than_a_forward(
    lengths: list[int], size: int, expected: list[int]
) -> None:
    batches = _length_batches(list(range(len(lengths))), lengths, size)
    assert [len(b) for b in batches] == expected
    assert [row for batch in batches for row in batch] == list(range(len(lengths)))


# --------------------------------------------------------------------------------------
# The decoding attention


@pytest.mark.parametrize("kv_heads", [4, 2, 1])
def test_cpu_decode_attention_equals_sdpa(kv_heads: int) -> None:
    torch.manual_seed(0)
    rows, heads, length, dim = 5, 4, 9, 8
    query = torch.randn(rows, heads, 1, dim)
    key = torch.randn(rows, kv_heads, length, dim)
    value = torch.randn(rows, kv_heads, length, dim)
    mask = torch.ones(rows, 1, 1, length, dtype=torch.bool)
    mask[0, :, :, :3] = False  # a left-padded row
    mask[2, :, :, -2:] = False  # a row with unused buffer room
    module = torch.nn.Module()
    module.num_key_value_groups = heads // kv_heads  # type: ignore[assignment]
    module.is_causal = True  # type: ignore[assignment]
    ours, _ = cpu_decode_attention(module, query, key, value, mask, scaling=0.3)
    theirs, _ = sdpa_attention_forward(module, query, key, value, mask, scaling=0.3)
    assert ours.shape == theirs.shape == (rows, 1, heads, dim)
    assert torch.allclose(ours, theirs, atol=1e-5)


# --------------------------------------------------------------------------------------
# The hf backend


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Larger weights make the text depend on the whole context (see save_random_policy).
    return save_random_policy(
        tmp_path_factory.mktemp("cache_policy"),
        seed=2,
        hidden_size=64,
        num_layers=2,
        num_heads=2,
        max_positions=256,
        weight_std=0.1,
    )


def load(policy_dir: Path, cache_tokens: int, batch_size: int = 5) -> HFPolicy:
    return HFPolicy.load(
        str(policy_dir),
        device="cpu",
        dtype="float32",
        batch_size=batch_size,
        prefix_cache_tokens=cache_tokens,
    )


FIRST = ["Compute 12+7*3.\n", "Compute (4-9)*2+(8-1).\n", "Compute 5.\n"]
OPTIONS = {"n": 3, "max_tokens": 12, "stop": ["\n\n"]}


def next_depth(prompts: list[str], outputs: list[list]) -> list[str]:
    """Prompts as search's next depth builds them: two children of each prompt (its prompt
    plus a generated step), and an unrelated prompt."""
    children = [
        p + c.text + "\n\n" for p, per in zip(prompts, outputs, strict=True) for c in per[:2]
    ]
    return [*children, f"Compute {len(prompts)}-1.\n"]


def summary(outputs: list[list]) -> list[list[tuple]]:
    return [[(c.text, c.n_tokens, c.finish_reason) for c in per] for per in outputs]


def run_depths(policy: HFPolicy, temperature: float, depths: int = 3) -> tuple[list, list[str]]:
    prompts, calls = FIRST, []
    for depth in range(depths):
        outputs = policy.complete(prompts, temperature=temperature, seed=depth, **OPTIONS)
        calls.append(outputs)
        last, prompts = prompts, next_depth(prompts, outputs)
    return calls, last


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_cached_completions_equal_uncached_ones_over_depths(
    policy_dir: Path, temperature: float
) -> None:
    cached, plain = load(policy_dir, 1 << 12), load(policy_dir, 0)
    ours, last = run_depths(cached, temperature)
    theirs, _ = run_depths(plain, temperature)
    assert [summary(call) for call in ours] == [summary(call) for call in theirs]
    for call, other in zip(ours, theirs, strict=True):
        for mine, reference in zip(call, other, strict=True):
            for a, b in zip(mine, reference, strict=True):
                assert a.logprob == pytest.approx(b.logprob, rel=1e-4, abs=1e-4)
    assert len({c.text for call in ours for per in call for c in per}) > 10
    assert cached.prefix_cache.stats.reused_tokens > 200
    assert plain.prefix_cache.stats.reused_tokens == 0
    # Bounded: what is kept is the last call's prompts, nothing older.
    kept = cached.prefix_cache.n_tokens
    assert 0 < kept <= sum(len(ids) for ids in cached._encode(sorted(set(last))))


def test_poisoned_cache_entries_change_the_completions(policy_dir: Path) -> None:
    """The equality above holds because the cached keys and values are right, not because
    they go unused: shifting the values the cache hands out changes the text."""
    cached, plain = load(policy_dir, 1 << 12), load(policy_dir, 0)
    store = cached.prefix_cache
    honest = store.longest

    def poisoned(ids: list[int], limit: int | None = None) -> tuple[int, object]:
        n, value = honest(ids, limit)
        return n, None if value is None else (value[0] + 0.5, value[1])

    store.longest = poisoned  # type: ignore[method-assign]
    ours, _ = run_depths(cached, 0.0)
    theirs, _ = run_depths(plain, 0.0)
    assert summary(ours[0]) == summary(theirs[0])  # nothing cached yet at the first call
    assert summary(ours[1]) != summary(theirs[1])


def test_cache_entries_serve_across_batches_of_one_call(policy_dir: Path) -> None:
    """Batches of one row: each prompt is its own batch, so prefixes stored by one batch of
    the previous call serve rows of other batches."""
    cached, plain = load(policy_dir, 1 << 12, batch_size=1), load(policy_dir, 0, batch_size=1)
    ours, _ = run_depths(cached, 1.0, depths=2)
    theirs, _ = run_depths(plain, 1.0, depths=2)
    assert [summary(call) for call in ours] == [summary(call) for call in theirs]
    assert cached.prefix_cache.stats.reused_tokens > 0


def test_negative_cache_budget_is_refused(policy_dir: Path) -> None:
    with pytest.raises(MathverifyError, match="prefix_cache_tokens"):
        load(policy_dir, -1)


# --------------------------------------------------------------------------------------
# The PRM scorer


@pytest.fixture(scope="module", params=["hidden", "likelihood"])
def prm_dir(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, policy_dir: Path
) -> Path:
    torch.manual_seed(0)
    if request.param == "hidden":
        model = VerifierModel(load_backbone(policy_dir), 1)
        with torch.no_grad():
            model.head.weight.normal_(0.0, 1.0)
        card = ModelCard(kind="prm", label_scheme="hard")
    else:
        model = VerifierModel(load_backbone(policy_dir), 1, "likelihood", "mlp")
        card = ModelCard(
            kind="prm",
            label_scheme="hard",
            extra={"step_features": "likelihood", "head": "mlp"},
        )
    directory = tmp_path_factory.mktemp(f"cache_prm_{request.param}")
    save_verifier(model, directory, build_tokenizer(), card)
    return directory


def scorer_depths(seed: int, depths: int = 3) -> list[tuple[list[str], list[list[str]]]]:
    """Scorer calls as search makes them: B2 continuations of each beam, the beams of the
    next call being some of this call's candidates (plus a repeated candidate)."""
    rng = random.Random(seed)

    def step() -> str:
        return "".join(rng.choice("0123456789+-*=() ") for _ in range(rng.randint(1, 14)))

    beams = [(f"Compute {p}+{3 * p}*(2-{p}).", []) for p in range(4)]
    calls = []
    for _ in range(depths):
        problems, steps = [], []
        for problem, path in beams:
            for _ in range(4):
                problems.append(problem)
                steps.append([*path, step()])
        problems.append(problems[0])
        steps.append(list(steps[0]))
        calls.append((problems, steps))
        beams = [(problems[i], steps[i]) for i in range(0, len(steps) - 1, 3)]
    return calls


def test_cached_scores_equal_uncached_ones_over_depths(prm_dir: Path) -> None:
    cached = load_scorer(prm_dir, device="cpu", batch_size=4)
    plain = load_scorer(prm_dir, device="cpu", batch_size=4, prefix_cache_tokens=0)
    calls = scorer_depths(0)
    ours = [cached.score(p, s) for p, s in calls]
    theirs = [plain.score(p, s) for p, s in calls]
    for mine, reference in zip(ours, theirs, strict=True):
        for a, b in zip(mine, reference, strict=True):
            assert a == pytest.approx(b, abs=1e-5)
    assert ours[0][0] == ours[0][-1]  # a repeated solution gets the very same scores
    assert len({round(v, 4) for call in theirs for s in call for v in s}) > 10
    assert cached.prefix_cache.stats.reused_tokens > 100
    assert plain.prefix_cache.stats.reused_tokens == 0


def test_poisoned_scorer_cache_changes_the_scores(prm_dir: Path) -> None:
    cached = load_scorer(prm_dir, device="cpu", batch_size=4)
    plain = load_scorer(prm_dir, device="cpu", batch_size=4, prefix_cache_tokens=0)
    store = cached.prefix_cache
    honest = store.longest

    def poisoned(ids: list[int], limit: int | None = None) -> tuple[int, object]:
        n, value = honest(ids, limit)
        return n, None if value is None else (value[0] + 0.5, value[1])

    store.longest = poisoned  # type: ignore[method-assign]
    calls = scorer_depths(1)
    ours = [cached.score(p, s) for p, s in calls]
    theirs = [plain.score(p, s) for p, s in calls]
    for a, b in zip(ours[0], theirs[0], strict=True):
        assert a == pytest.approx(b, abs=1e-5)  # nothing cached yet at the first call
    changed = max(
        abs(a - b)
        for x, y in zip(ours[1], theirs[1], strict=True)
        for a, b in zip(x, y, strict=True)
    )
    assert changed > 1e-3


# --------------------------------------------------------------------------------------
# Search


def test_sbs_with_caches_equals_sbs_without(policy_dir: Path) -> None:
    _, problems = make_splits(SynthConfig(train_size=0, test_size=6, seed=3))
    prm = policy_dir.parent / "sbs_prm"
    if not prm.exists():
        torch.manual_seed(0)
        model = VerifierModel(load_backbone(policy_dir), 1)
        with torch.no_grad():
            model.head.weight.normal_(0.0, 1.0)
        save_verifier(model, prm, build_tokenizer(), ModelCard(kind="prm", label_scheme="hard"))
    config = SearchConfig(
        b1=2, b2=3, temperature=1.0, seed=0, max_depth=4, max_step_tokens=8, batch_problems=3
    )
    results = []
    for tokens in (1 << 12, 0):
        policy = load(policy_dir, tokens, batch_size=256)
        scorer = load_scorer(prm, device="cpu", prefix_cache_tokens=tokens)
        results.append(sbs(problems, policy, scorer, config))
        if tokens:
            assert policy.prefix_cache.stats.reused_tokens > 0
            assert scorer.prefix_cache.stats.reused_tokens > 0
    cached, plain = results
    for a, b in zip(cached, plain, strict=True):
        assert (a.answer, a.steps) == (b.answer, b.steps)
        assert [c["step"] for c in a.candidates] == [c["step"] for c in b.candidates]
        assert [c["score"] for c in a.candidates] == pytest.approx(
            [c["score"] for c in b.candidates], abs=1e-5
        )
