"""The scorer that reads the policy's generating forward (issue #40): its scores equal the
separate scorer's within 1e-5, it is used only where that holds by construction, and a
search gives the same results with it as without it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mathverify.backends.base import next_steps
from mathverify.backends.hf import HFPolicy
from mathverify.models.card import ModelCard
from mathverify.models.tiny import build_tokenizer, save_random_policy
from mathverify.models.verifier import VerifierModel, load_backbone, save_verifier
from mathverify.prompting import PromptFormat
from mathverify.records import Problem
from mathverify.scoring import load_scorer
from mathverify.scoring.shared_forward import SharedForwardScorer, share_forward
from mathverify.search.config import SearchConfig
from mathverify.search.sbs import sbs

# A one-character separator the random policy writes often, so many rows stop at it.
PROMPT = PromptFormat(template="{problem}=", separator="a")
PROBLEMS = ["1+2", "3*4+5", "7-6"]


def _policy_dir(root: Path) -> Path:
    path = save_random_policy(
        root / "policy", prompt=PROMPT, hidden_size=64, num_layers=2, num_heads=2, weight_std=0.1
    )
    # Make the separator likely after any token: raise its output row.
    model = load_backbone(path)
    token = build_tokenizer().convert_tokens_to_ids("a")
    with torch.no_grad():
        head = model.get_output_embeddings()
        head.weight[token] = head.weight.mean(0) + 0.0
        model.model.norm.weight.fill_(1.0)
        bias = torch.zeros_like(head.weight[token])
        bias[0] = 4.0
        head.weight[token] += bias
    model.save_pretrained(path)
    return path


def _scorer_dir(root: Path, policy: Path, features: str, frozen: bool = True) -> Path:
    torch.manual_seed(1)
    model = VerifierModel(load_backbone(policy), 1, features, "mlp", freeze_backbone=frozen)
    card = ModelCard(
        kind="prm",
        prompt=PROMPT,
        label_scheme="hard",
        extra={
            "n_outputs": 1,
            "step_features": features,
            "head": "mlp",
            "freeze_backbone": frozen,
            "max_length": 512,
        },
    )
    return save_verifier(model, root / f"prm-{features}", build_tokenizer(), card)


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("shared_forward")
    policy = _policy_dir(root)
    return policy, _scorer_dir(root, policy, "likelihood"), _scorer_dir(root, policy, "hidden")


@pytest.mark.parametrize("features", ["likelihood", "hidden"])
def test_scores_from_the_generation_equal_the_separate_scorers(
    dirs: tuple[Path, Path, Path], features: str
) -> None:
    policy_dir, likelihood_dir, hidden_dir = dirs
    policy = HFPolicy.load(str(policy_dir), device="cpu", batch_size=8)
    # A processor of the generation config changes the logits the sampler sees, not the
    # log-probabilities the scorer reads.
    bias = {(policy.tokenizer.convert_tokens_to_ids("b"),): 3.0}
    policy.model.generation_config.sequence_bias = bias
    separate = load_scorer(likelihood_dir if features == "likelihood" else hidden_dir)
    shared, reason = share_forward(policy, separate, PROMPT)
    assert reason is None and isinstance(shared, SharedForwardScorer)
    problems, solutions = [], []
    prefixes: list[tuple[str, list[str]]] = [(p, []) for p in PROBLEMS]
    for depth in range(3):
        outputs = next_steps(
            policy,
            [PROMPT.prefix(p, steps) for p, steps in prefixes],
            separator=PROMPT.separator,
            n=4,
            temperature=1.0,
            max_tokens=12,
            seed=depth,
        )
        candidates = [
            (p, [*steps, c.step])
            for (p, steps), completions in zip(prefixes, outputs, strict=True)
            for c in completions
        ]
        problems = [p for p, _ in candidates]
        solutions = [s for _, s in candidates]
        got = shared.score(problems, solutions)
        want = separate.score(problems, solutions)
        for mine, theirs in zip(got, want, strict=True):
            assert mine == pytest.approx(theirs, abs=1e-5)
        # The open candidates go on, as a beam would.
        prefixes = [
            (p, s)
            for (p, s), c in zip(candidates, [c for cs in outputs for c in cs], strict=True)
            if not c.finished
        ][:6]
        if not prefixes:
            break
    # The test means something only if steps were read from the generation.
    assert shared.n_shared > 10
    assert shared.n_separate > 0  # rows cut by the token limit went to the scorer


def test_a_search_gives_the_same_results_with_the_shared_forward(
    dirs: tuple[Path, Path, Path],
) -> None:
    policy_dir, likelihood_dir, _ = dirs
    problems = [Problem(id=f"p{i}", problem=p, answer="3") for i, p in enumerate(PROBLEMS)]
    config = SearchConfig.for_method(
        "sbs", b1=2, b2=3, max_step_tokens=12, max_depth=4, prompt=PROMPT, temperature=1.0
    )
    results = {}
    counts = {}
    for shared in (False, True):
        policy = HFPolicy.load(str(policy_dir), device="cpu", batch_size=8)
        scorer = load_scorer(likelihood_dir)
        if shared:
            scorer, reason = share_forward(policy, scorer, PROMPT)
            assert reason is None
        results[shared] = sbs(problems, policy, scorer, config)
        counts[shared] = getattr(scorer, "n_shared", 0)
    assert counts[True] > 0
    for plain, fused in zip(results[False], results[True], strict=True):
        assert (plain.answer, plain.steps) == (fused.answer, fused.steps)
        assert [c["step"] for c in plain.candidates] == [c["step"] for c in fused.candidates]
        for a, b in zip(plain.candidates, fused.candidates, strict=True):
            assert a["score"] == pytest.approx(b["score"], abs=1e-5)


def test_refused_where_the_scores_could_differ(
    dirs: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    policy_dir, likelihood_dir, _ = dirs
    policy = HFPolicy.load(str(policy_dir), device="cpu")
    scorer = load_scorer(likelihood_dir)
    # Another prompt format: the ids would not be the scorer's.
    other = PromptFormat(template="{problem}?", separator="a")
    assert "prompt format" in (share_forward(policy, scorer, other)[1] or "")
    # A backbone that is not the policy's.
    changed = load_backbone(policy_dir)
    with torch.no_grad():
        changed.model.norm.weight.add_(0.5)
    torch.manual_seed(1)
    model = VerifierModel(changed, 1, "likelihood", "mlp", freeze_backbone=True)
    card = load_scorer(likelihood_dir).card
    save_verifier(model, tmp_path / "other", build_tokenizer(), card)
    reason = share_forward(policy, load_scorer(tmp_path / "other"), PROMPT)[1]
    assert reason is not None and "differs from the policy" in reason
    # A card that does not say the backbone was frozen.
    unfrozen = _scorer_dir(tmp_path, policy_dir, "likelihood", frozen=False)
    assert "frozen" in (share_forward(policy, load_scorer(unfrozen), PROMPT)[1] or "")
    # transformers' generate records no traces.
    reference = HFPolicy.load(str(policy_dir), device="cpu", use_generate=True)
    assert "generate" in (share_forward(reference, scorer, PROMPT)[1] or "")


def test_whole_solutions_are_not_read(dirs: tuple[Path, Path, Path]) -> None:
    """A row of a whole solution holds several steps: only step calls (a stop string) are read."""
    policy_dir, likelihood_dir, _ = dirs
    policy = HFPolicy.load(str(policy_dir), device="cpu", batch_size=8)
    shared, _ = share_forward(policy, load_scorer(likelihood_dir), PROMPT)
    policy.complete([PROMPT.prompt(p) for p in PROBLEMS], n=4, temperature=1.0, max_tokens=30)
    assert not shared._read
    next_steps(policy, [PROMPT.prompt(p) for p in PROBLEMS], separator="a", n=4, temperature=1.0)
    assert shared._read
    shared.close()
    assert policy.decoder.step_sink is None and policy.decoder.step_end_id is None


def test_search_records_that_the_scorer_read_the_policys_forward(
    dirs: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from mathverify.cli import app
    from mathverify.provenance import stage_provenance
    from mathverify.records import SearchResult, read_all, write_records

    policy_dir, likelihood_dir, _ = dirs
    problems = tmp_path / "problems.jsonl"
    write_records(
        problems, [Problem(id=f"p{i}", problem=p, answer="3") for i, p in enumerate(PROBLEMS)]
    )
    made_by = {}
    for flag in ([], ["--separate-forward"]):
        out = tmp_path / f"out{len(flag)}.jsonl"
        result = CliRunner().invoke(
            app,
            ["search", "--method", "sbs", "--b1", "2", "--b2", "2", "--max-depth", "2"]
            + ["--max-step-tokens", "8", "--policy", str(policy_dir), "--scorer"]
            + [str(likelihood_dir), "-p", str(problems), "-o", str(out), "-q", *flag],
        )
        assert result.exit_code == 0, result.output
        made_by[bool(flag)] = stage_provenance(read_all(out, SearchResult)[0].meta, "search")
    assert made_by[False]["scorer_forward"] == "shared with the policy"
    assert "scorer_forward" not in made_by[True]
