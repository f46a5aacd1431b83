"""The fast paths search runs on: the hf backend's own cached decoding loop and the scorer's
shared-prefix scoring, each against the plain path it replaces.

The hf loop encodes a prompt once for its ``n`` rows, drops finished rows from the running
batch and keeps KV caches in preallocated buffers; it must still give ``model.generate``'s
greedy text, and (drawing its random numbers as ``generate`` does) the same samples as the
``generate``-based path. The scorer encodes the prefix a group of solutions shares once; its
scores must be those of encoding every solution whole.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from mathverify.backends.hf import HFPolicy
from mathverify.models.card import ModelCard
from mathverify.models.tiny import build_tokenizer, save_random_policy
from mathverify.models.verifier import VerifierModel, load_backbone, save_verifier
from mathverify.scoring import load_scorer

PROMPTS = [
    "Compute 12+7*3.\n",
    "Compute (4-9)*2+(8-1)*(3+3).\n",
    "Compute 5.\n",
    "Compute 7+(1+(5+1)).\n= 7+(1+6)\n\n",
]


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Larger weights make the text depend on the whole context (see save_random_policy).
    return save_random_policy(
        tmp_path_factory.mktemp("fast_policy"),
        seed=1,
        hidden_size=64,
        num_layers=2,
        num_heads=2,
        max_positions=256,
        weight_std=0.1,
    )


@pytest.fixture(scope="module")
def policy(policy_dir: Path) -> HFPolicy:
    return HFPolicy.load(str(policy_dir), device="cpu", dtype="float32", batch_size=7)


@pytest.fixture(scope="module")
def reference(policy_dir: Path) -> HFPolicy:
    return HFPolicy.load(
        str(policy_dir), device="cpu", dtype="float32", batch_size=7, use_generate=True
    )


def plain_greedy(policy: HFPolicy, prompt: str, max_tokens: int) -> list[int]:
    """``model.generate`` greedy on one unpadded prompt: the generated ids up to eos."""
    ids = policy.tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        out = policy.model.generate(
            **ids,
            do_sample=False,
            max_new_tokens=max_tokens,
            pad_token_id=policy.pad_id,
            eos_token_id=policy.eos_ids,
        )
    generated = out[0, ids["input_ids"].shape[1] :].tolist()
    for i, token in enumerate(generated):
        if token in policy.eos_ids:
            return generated[: i + 1]
    return generated


def test_cached_loop_is_not_generate(policy: HFPolicy, reference: HFPolicy) -> None:
    assert not policy.use_generate and reference.use_generate


@pytest.mark.parametrize("max_tokens", [1, 30, 100])  # 100: more room than FULL_SLAB_SLACK
def test_greedy_equals_plain_generate(policy: HFPolicy, max_tokens: int) -> None:
    ours = policy.complete(PROMPTS, n=3, temperature=0, max_tokens=max_tokens)
    if max_tokens > 1:
        assert len({c.text for per in ours for c in per}) == len(PROMPTS)
        assert any(per[0].finish_reason == "eos" for per in ours)
    for prompt, per_prompt in zip(PROMPTS, ours, strict=True):
        ids = plain_greedy(policy, prompt, max_tokens)
        ended = bool(ids) and ids[-1] in policy.eos_ids
        text = policy.tokenizer.decode(ids[:-1] if ended else ids, skip_special_tokens=True)
        assert [c.text for c in per_prompt] == [text] * 3
        assert per_prompt[0].n_tokens == len(ids)
        assert per_prompt[0].finish_reason == ("eos" if ended else "length")


def test_greedy_with_stops_equals_plain_generate_cut(policy: HFPolicy) -> None:
    """A stop ends each row at its first stop string; the rows beside it are unchanged."""
    free = [
        policy.tokenizer.decode(plain_greedy(policy, p, 40), skip_special_tokens=True)
        for p in PROMPTS
    ]
    # A stop string that occurs in some greedy texts but not at their start.
    probe = next(t[3:5] for t in free if len(t) > 6 and "\n" not in t[3:5])
    ours = policy.complete(PROMPTS, temperature=0, max_tokens=40, stop=[probe])
    assert any(c.finish_reason == "stop" for [c] in ours)
    for text, [completion] in zip(free, ours, strict=True):
        if probe in text:
            assert completion.finish_reason == "stop"
            assert completion.text == text[: text.index(probe)]
        else:
            assert completion.text == text.split(policy.tokenizer.eos_token)[0]
            assert completion.finish_reason != "stop"


@pytest.mark.parametrize("stop", [None, ["\n\n"], ["3", "+"]])
def test_samples_equal_the_generate_path(
    policy: HFPolicy, reference: HFPolicy, stop: list[str] | None
) -> None:
    """Same seed, same batches: the cached loop draws what ``generate`` draws, row by row,
    although it drops finished rows and encodes each prompt once for its ``n`` rows."""
    options = {"n": 4, "temperature": 0.9, "top_p": 0.95, "max_tokens": 24, "seed": 11}
    ours = policy.complete(PROMPTS, stop=stop, **options)
    theirs = reference.complete(PROMPTS, stop=stop, **options)
    for mine, other in zip(ours, theirs, strict=True):
        assert [(c.text, c.n_tokens, c.finish_reason) for c in mine] == [
            (c.text, c.n_tokens, c.finish_reason) for c in other
        ]
        for a, b in zip(mine, other, strict=True):
            assert a.logprob == pytest.approx(b.logprob, rel=1e-4, abs=1e-4)
    if stop:
        assert any(c.finish_reason == "stop" for per in ours for c in per)


def test_same_seed_same_samples_other_seed_other(policy: HFPolicy) -> None:
    first = policy.complete(PROMPTS, n=5, temperature=1.0, max_tokens=20, seed=3, stop=["\n"])
    again = policy.complete(PROMPTS, n=5, temperature=1.0, max_tokens=20, seed=3, stop=["\n"])
    other = policy.complete(PROMPTS, n=5, temperature=1.0, max_tokens=20, seed=4, stop=["\n"])
    assert first == again
    assert [c.text for per in first for c in per] != [c.text for per in other for c in per]


def test_generation_config_processors_apply(policy_dir: Path) -> None:
    """A checkpoint's ``sequence_bias`` steers the cached loop as it steers ``generate``."""
    policy = HFPolicy.load(str(policy_dir), device="cpu", dtype="float32")
    eos = policy.tokenizer.eos_token_id
    policy.model.generation_config.sequence_bias = {(eos,): 100.0}
    try:
        [[completion]] = policy.complete(PROMPTS[:1], temperature=0, max_tokens=10)
    finally:
        policy.model.generation_config.sequence_bias = None
    assert (completion.text, completion.n_tokens, completion.finish_reason) == ("", 1, "eos")


# --------------------------------------------------------------------------------------
# Scorer


@pytest.fixture(scope="module")
def prm_dir(tmp_path_factory: pytest.TempPathFactory, policy_dir: Path) -> Path:
    torch.manual_seed(0)
    model = VerifierModel(load_backbone(policy_dir), 1)
    with torch.no_grad():
        model.head.weight.normal_(0.0, 1.0)
    directory = tmp_path_factory.mktemp("fast_prm")
    save_verifier(model, directory, build_tokenizer(), ModelCard(kind="prm", label_scheme="hard"))
    return directory


@pytest.fixture(scope="module")
def likelihood_prm_dir(tmp_path_factory: pytest.TempPathFactory, policy_dir: Path) -> Path:
    """A PRM whose MLP head also reads the steps' token log-probabilities."""
    torch.manual_seed(0)
    model = VerifierModel(load_backbone(policy_dir), 1, "likelihood", "mlp")
    directory = tmp_path_factory.mktemp("fast_prm_likelihood")
    card = ModelCard(
        kind="prm", label_scheme="hard", extra={"step_features": "likelihood", "head": "mlp"}
    )
    save_verifier(model, directory, build_tokenizer(), card)
    return directory


def search_like_batch(seed: int) -> tuple[list[str], list[list[str]]]:
    """Candidates as search scores them: several continuations of each beam, plus a few
    solutions that share nothing, an empty one, and duplicates."""
    rng = random.Random(seed)

    def step() -> str:
        return "".join(rng.choice("0123456789+-*=() ") for _ in range(rng.randint(0, 14)))

    problems: list[str] = []
    steps: list[list[str]] = []
    for p in range(4):
        problem = f"Compute {p}+{3 * p}*(2-{p})."
        for depth in range(3):
            beam = [step() for _ in range(depth)]
            for _ in range(rng.randint(2, 5)):
                problems.append(problem)
                steps.append([*beam, step()])
    problems += ["Compute 1.", "Compute 2.", "Compute 2.", "Compute 3."]
    steps += [["= 1"], [], ["= 2", "2"], ["= 2", "2"]]
    return problems, steps


@pytest.mark.parametrize("batch_size", [1, 3, 64])
@pytest.mark.parametrize("kind", ["prm_dir", "likelihood_prm_dir"])
def test_shared_prefix_scores_equal_whole_scores(
    request: pytest.FixtureRequest, kind: str, batch_size: int
) -> None:
    scorer = load_scorer(request.getfixturevalue(kind), device="cpu", batch_size=batch_size)
    problems, steps = search_like_batch(batch_size)
    shared = scorer.score(problems, steps)
    scorer._body = lambda: None  # type: ignore[method-assign]  # the whole-solution path
    whole = scorer.score(problems, steps)
    assert [len(s) for s in shared] == [len(s) for s in steps]
    for mine, theirs in zip(shared, whole, strict=True):
        assert [v is None for v in mine] == [v is None for v in theirs]
        assert [v for v in mine if v is not None] == pytest.approx(
            [v for v in theirs if v is not None], abs=1e-5
        )
    distinct = {round(v, 4) for s in whole for v in s if v is not None}
    assert len(distinct) > 10  # the scores differ, so equal lists say something
