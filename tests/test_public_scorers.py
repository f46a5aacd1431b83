"""Public PRM formats as scorers: each format's scores against its authors' recipe.

For every format a tiny random model of the format's architecture class and a tokenizer
with its special tokens are made on the spot (``tests/public_models.py``). The expected
scores are computed here, independently of ``mathverify.scoring.public``, by the recipe in
the model's card or code (cited per test): the text built by hand, the bare transformers
model's forward, the format's formula. Then: batched = one at a time, and search-style
growing prefixes (the prefix KV cache) = scoring each solution alone without a cache.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import public_models as pm
import pytest
import torch
from safetensors.torch import load_file
from torch import nn
from transformers import (
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
)
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.errors import MathverifyError
from mathverify.scoring import load_scorer
from mathverify.scoring.public import PUBLIC_FORMATS, detect_format

PROBLEMS = [
    "What is the sum of 2 and 3?",
    "Let x be a real number such that x^2 - 4 = 0. Find the positive x.",
    "Compute (12+7)*3-5.",
]
STEPS = [
    ["We add the numbers: 2 + 3 = 5.", "So the answer is $\\boxed{5}$."],
    ["Then x^2 = 4.", "So x = 2 or x = -2.", "Hence the positive x is 2.", "\\boxed{2}"],
    ["= 19*3-5", "= 57-5", "= 52\nThe answer is \\boxed{52}"],
]
TOL = 1e-5


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("public")
    return {
        "math-shepherd": pm.save_math_shepherd(root / "math-shepherd-tiny"),
        "qwen-prm": pm.save_qwen_prm(root / "qwen-prm-tiny"),
        "qwen-prm-mlp": pm.save_qwen_prm(root / "qwen-prm-mlp", mlp_head=True, seed=3),
        "rlhflow": pm.save_rlhflow(root / "rlhflow-prm-tiny", seed=1),
        "orm-seqcls": pm.save_orm_seqcls(root / "orm-1", seed=2),
        "orm-seqcls-2": pm.save_orm_seqcls(root / "orm-2", num_labels=2, seed=4),
    }


# --- each format's recipe, written from its source, without mathverify ----------------


def math_shepherd_reference(path: Path) -> list[list[float]]:
    """https://huggingface.co/peiyi9979/math-shepherd-mistral-7b-prm (card's example)."""
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    candidate_tokens = tokenizer.encode("+ -")[1:]
    step_tag_id = tokenizer.encode("ки")[-1]
    out = []
    for question, steps in zip(PROBLEMS, STEPS, strict=True):
        output = "\n".join(f"Step {k}: {s} ки" for k, s in enumerate(steps, 1))
        input_id = torch.tensor([tokenizer.encode(f"{question} {output}")])
        with torch.no_grad():
            logits = model(input_id).logits[:, :, candidate_tokens]
        scores = logits.softmax(dim=-1)[:, :, 0]
        out.append(scores[input_id == step_tag_id].tolist())
    return out


def qwen_prm_reference(path: Path, mlp_head: bool) -> list[list[float]]:
    """https://huggingface.co/Qwen/Qwen2.5-Math-PRM-7B (card's make_step_rewards); the
    MLP head as Qwen2ForProcessRewardModel builds it (vLLM's qwen2_rm.py)."""
    tokenizer = AutoTokenizer.from_pretrained(path)
    if mlp_head:
        decoder = AutoModel.from_pretrained(path).eval()
        weights = load_file(str(path / "model.safetensors"))
        hidden = decoder.config.hidden_size
        head = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2))
        head.load_state_dict(
            {k[len("score.") :]: v for k, v in weights.items() if k.startswith("score.")}
        )

        def forward(ids: torch.Tensor) -> torch.Tensor:
            return head(decoder(input_ids=ids).last_hidden_state)
    else:
        model = AutoModelForTokenClassification.from_pretrained(path).eval()

        def forward(ids: torch.Tensor) -> torch.Tensor:
            return model(input_ids=ids).logits

    out = []
    for question, steps in zip(PROBLEMS, STEPS, strict=True):
        messages = [
            {"role": "system", "content": pm.QWEN_SYSTEM},
            {"role": "user", "content": question},
            {"role": "assistant", "content": "<extra_0>".join(steps) + "<extra_0>"},
        ]
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
        input_ids = torch.tensor([tokenizer.encode(text)])
        with torch.no_grad():
            probabilities = torch.softmax(forward(input_ids), dim=-1)
        step_sep_id = tokenizer.encode("<extra_0>")[0]
        out.append(probabilities[0][input_ids[0] == step_sep_id][:, 1].tolist())
    return out


def rlhflow_reference(path: Path) -> list[list[float]]:
    """RLHFlow/RLHF-Reward-Modeling math-rm/prm_evaluate.py, as search-and-learn's
    RLHFFlow._score_single quotes it: steps stripped (line 50), one chat per step prefix,
    logits at position -3 (line 61)."""
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    candidate_tokens = [tokenizer.encode("+")[-1], tokenizer.encode("-")[-1]]
    out = []
    for question, steps in zip(PROBLEMS, STEPS, strict=True):
        conversation, scores = [], []
        for k, step in enumerate(j.strip() for j in steps):
            text = question + " " + step if k == 0 else step
            conversation.append({"content": text, "role": "user"})
            conversation.append({"content": "+", "role": "assistant"})
            input_ids = tokenizer.apply_chat_template(conversation, return_tensors="pt")[
                "input_ids"
            ]
            with torch.no_grad():
                logits = model(input_ids).logits[:, -3, candidate_tokens]
            scores.append(logits.softmax(dim=-1)[:, 0][0].item())
        out.append(scores)
    return out


def orm_reference(path: Path) -> list[list[float | None]]:
    """https://huggingface.co/Skywork/Skywork-Reward-Llama-3.1-8B (card's example): the
    chat without a doubled BOS, ``logits[0]``; one logit -> sigmoid, two -> softmax[1]."""
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    out = []
    for question, steps in zip(PROBLEMS, STEPS, strict=True):
        conv = [
            {"role": "user", "content": question},
            {"role": "assistant", "content": "\n\n".join(steps)},
        ]
        formatted = tokenizer.apply_chat_template(conv, tokenize=False)
        if tokenizer.bos_token is not None and formatted.startswith(tokenizer.bos_token):
            formatted = formatted[len(tokenizer.bos_token) :]
        with torch.no_grad():
            logits = model(**tokenizer(formatted, return_tensors="pt")).logits[0]
        value = torch.sigmoid(logits[0]) if logits.numel() == 1 else torch.softmax(logits, -1)[1]
        out.append([None] * (len(steps) - 1) + [value.item()])
    return out


REFERENCES = {
    "math-shepherd": math_shepherd_reference,
    "qwen-prm": lambda p: qwen_prm_reference(p, mlp_head=False),
    "qwen-prm-mlp": lambda p: qwen_prm_reference(p, mlp_head=True),
    "rlhflow": rlhflow_reference,
    "orm-seqcls": orm_reference,
    "orm-seqcls-2": orm_reference,
}


def _close(got: list[list[float | None]], want: list[list[float | None]], tol: float = TOL) -> None:
    assert [len(g) for g in got] == [len(w) for w in want]
    for g_row, w_row in zip(got, want, strict=True):
        for g, w in zip(g_row, w_row, strict=True):
            assert (g is None) == (w is None)
            if w is not None:
                assert g == pytest.approx(w, abs=tol)


@pytest.mark.parametrize("name", list(REFERENCES))
def test_scores_follow_the_authors_recipe(dirs: dict[str, Path], name: str) -> None:
    expected = REFERENCES[name](dirs[name])
    fmt = name.removesuffix("-mlp").removesuffix("-2")
    scorer = load_scorer(dirs[name], scorer_format=fmt, device="cpu", batch_size=4)
    got = scorer.score(PROBLEMS, STEPS)
    _close(got, expected)
    # Scores are not all alike: a wrong position would not pass by chance.
    flat = [s for row in expected for s in row if s is not None]
    assert max(flat) - min(flat) > 0.05


@pytest.mark.parametrize("name", list(REFERENCES))
def test_batched_equals_one_at_a_time(dirs: dict[str, Path], name: str) -> None:
    fmt = name.removesuffix("-mlp").removesuffix("-2")
    one = load_scorer(
        dirs[name], scorer_format=fmt, device="cpu", batch_size=1, prefix_cache_tokens=0
    )
    alone = [one.score([p], [s])[0] for p, s in zip(PROBLEMS, STEPS, strict=True)]
    many = load_scorer(dirs[name], scorer_format=fmt, device="cpu", batch_size=3)
    _close(many.score(PROBLEMS * 2, STEPS * 2), alone * 2)


@pytest.mark.parametrize("name", ["math-shepherd", "qwen-prm", "rlhflow", "orm-seqcls"])
def test_prefix_cache_across_depths_equals_uncached(dirs: dict[str, Path], name: str) -> None:
    """Search's pattern: at each depth, each beam's candidates share all but their last
    step; the next depth extends one candidate per beam."""
    cached = load_scorer(dirs[name], scorer_format=name, device="cpu", batch_size=4)
    plain = load_scorer(
        dirs[name], scorer_format=name, device="cpu", batch_size=1, prefix_cache_tokens=0
    )
    beams = [[] for _ in PROBLEMS[:2]]
    candidates = ["x = 2 is one root.", "We check: 2^2 = 4.", "\\boxed{2}"]
    for depth in range(3):
        problems, steps = [], []
        for b, beam in enumerate(beams):
            for c in candidates:
                problems.append(PROBLEMS[b])
                steps.append(beam + [f"{c} (depth {depth})"])
        got = cached.score(problems, steps)
        want = [plain.score([p], [s])[0] for p, s in zip(problems, steps, strict=True)]
        _close(got, want)
        beams = [beam + [f"{candidates[depth]} (depth {depth})"] for beam in beams]
    assert cached.prefix_cache.stats.reused_tokens > 0


def test_detection_picks_each_format(dirs: dict[str, Path]) -> None:
    assert detect_format(dirs["math-shepherd"]) == "math-shepherd"
    assert detect_format(dirs["qwen-prm"]) == "qwen-prm"
    assert detect_format(dirs["qwen-prm-mlp"]) == "qwen-prm"
    assert detect_format(dirs["rlhflow"]) == "rlhflow"
    assert detect_format(dirs["orm-seqcls"]) == "orm-seqcls"
    # Detected, then scored as with the format named.
    named = load_scorer(dirs["qwen-prm"], scorer_format="qwen-prm", device="cpu")
    detected = load_scorer(dirs["qwen-prm"], device="cpu")
    assert detected.score(PROBLEMS, STEPS) == named.score(PROBLEMS, STEPS)


def test_an_anonymous_causal_lm_or_plain_directory_is_refused(
    dirs: dict[str, Path], tmp_path: Path
) -> None:
    anonymous = tmp_path / "some-model"
    shutil.copytree(dirs["rlhflow"], anonymous)
    with pytest.raises(MathverifyError, match="--scorer-format") as caught:
        load_scorer(anonymous)
    message = str(caught.value)
    assert "\n" not in message
    assert all(fmt in message for fmt in PUBLIC_FORMATS)
    # Named, it loads.
    assert load_scorer(anonymous, scorer_format="rlhflow", device="cpu").score(
        PROBLEMS[:1], STEPS[:1]
    )
    config = json.loads((anonymous / "config.json").read_text())
    config["architectures"] = ["LlamaForQuestionAnswering"]
    (anonymous / "config.json").write_text(json.dumps(config))
    with pytest.raises(MathverifyError, match="no known scorer format"):
        load_scorer(anonymous)
    with pytest.raises(MathverifyError, match="choose one of"):
        load_scorer(anonymous, scorer_format="llama")


def test_cli_unknown_format_is_one_line_exit_2(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"architectures": ["BertModel"]}))
    problems = tmp_path / "p.jsonl"
    problems.write_text(json.dumps({"id": "p0", "problem": PROBLEMS[0], "answer": "5"}) + "\n")
    solutions = tmp_path / "s.jsonl"
    solutions.write_text(json.dumps({"problem_id": "p0", "sample_id": 0, "steps": STEPS[0]}) + "\n")
    result = CliRunner().invoke(
        app, ["score", "--scorer", str(model), "-p", str(problems), "-i", str(solutions)]
    )
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "math-shepherd" in lines[0] and "orm-seqcls" in lines[0]


def test_cli_scores_with_a_named_format(dirs: dict[str, Path], tmp_path: Path) -> None:
    problems = tmp_path / "p.jsonl"
    problems.write_text(
        "".join(
            json.dumps({"id": f"p{i}", "problem": p, "answer": "0"}) + "\n"
            for i, p in enumerate(PROBLEMS)
        )
    )
    solutions = tmp_path / "s.jsonl"
    solutions.write_text(
        "".join(
            json.dumps({"problem_id": f"p{i}", "sample_id": 0, "steps": s}) + "\n"
            for i, s in enumerate(STEPS)
        )
    )
    out = tmp_path / "scored.jsonl"
    args = ["score", "--scorer", str(dirs["math-shepherd"]), "--scorer-format", "math-shepherd"]
    result = CliRunner().invoke(
        app, [*args, "-p", str(problems), "-i", str(solutions), "-o", str(out), "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    _close([r["step_scores"] for r in rows], math_shepherd_reference(dirs["math-shepherd"]))


def _inputs(tmp_path: Path) -> tuple[Path, Path]:
    problems = tmp_path / "p.jsonl"
    problems.write_text(
        "".join(
            json.dumps({"id": f"p{i}", "problem": p, "answer": "0"}) + "\n"
            for i, p in enumerate(PROBLEMS)
        )
    )
    solutions = tmp_path / "s.jsonl"
    solutions.write_text(
        "".join(
            json.dumps({"problem_id": f"p{i}", "sample_id": 0, "steps": s}) + "\n"
            for i, s in enumerate(STEPS)
        )
    )
    return problems, solutions


def test_cli_label_supervisor_with_a_public_prm(
    dirs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # label takes the default device, which on a GPU machine is CUDA in bfloat16; the
    # reference is float32 on the CPU, so keep the command there too.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    problems, solutions = _inputs(tmp_path)
    out = tmp_path / "labeled.jsonl"
    args = ["label", "--method", "supervisor", "-p", str(problems), "-i", str(solutions)]
    args += ["--scorer", str(dirs["rlhflow"]), "--scorer-format", "rlhflow", "-o", str(out)]
    result = CliRunner().invoke(app, [*args, "--soft"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    _close([r["step_labels"] for r in rows], rlhflow_reference(dirs["rlhflow"]))


def test_cli_search_best_of_n_with_a_public_prm(dirs: dict[str, Path], tmp_path: Path) -> None:
    from mathverify.models.tiny import save_random_policy

    policy = save_random_policy(tmp_path / "policy", hidden_size=64, num_layers=2, num_heads=2)
    problems, _ = _inputs(tmp_path)
    out = tmp_path / "results.jsonl"
    args = ["search", "--method", "best-of-n", "--policy", str(policy), "-p", str(problems)]
    args += ["--scorer", str(dirs["qwen-prm"]), "--n", "2", "--max-depth", "2"]
    args += ["--max-step-tokens", "6", "--limit", "1", "--device", "cpu", "-o", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    scorer = load_scorer(dirs["qwen-prm"], device="cpu")
    for candidate in record["candidates"]:
        expected = scorer.score([PROBLEMS[0]], [candidate["steps"]])[0]
        _close([candidate["step_scores"]], [expected])
