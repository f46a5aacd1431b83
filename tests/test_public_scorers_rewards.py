"""Public scorers keep the numbers their authors' recipes give (issue #34).

- ``orm-seqcls``: the score is ``sigmoid(reward)`` in float64 from a float32 head, so
  rewards the size of Skywork's (its card's example is 23.0) keep distinct, ordered scores
  and the raw reward comes back from the record (:func:`orm_reward`). In float32 the
  sigmoid is exactly 1.0 above 16.7, and a bfloat16 head rounds rewards to 1/8.
- ``rlhflow``: steps are stripped as RLHFlow's ``math-rm/prm_evaluate.py`` (line 50) does.

The reward-model checkpoints are the tiny ``orm-seqcls`` model of ``tests/public_models.py``
with its head solved so that two given solutions get two given rewards.
"""

from __future__ import annotations

import json
from pathlib import Path

import public_models as pm
import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
from typer.testing import CliRunner

from mathverify.cli import app
from mathverify.errors import MathverifyError
from mathverify.scoring import aggregate, load_scorer
from mathverify.scoring.public import ORM_REWARD_LIMIT, orm_reward

PROBLEMS = ["What is the sum of 2 and 3?", "Compute (12+7)*3-5."]
STEPS = [
    ["We add the numbers: 2 + 3 = 5.", "So the answer is $\\boxed{5}$."],
    ["= 19*3-5", "= 57-5", "= 52\nThe answer is \\boxed{52}"],
]


def _orm_with_rewards(
    directory: Path, rewards: list[float], *, num_labels: int = 1, dtype: torch.dtype
) -> Path:
    """An orm-seqcls checkpoint whose reward for ``PROBLEMS[i], STEPS[i]`` is ``rewards[i]``
    (two logits: ``l1 - l0``): the head solved from the decoder's hidden states in ``dtype``
    at the pooled token."""
    pm.save_orm_seqcls(directory, num_labels=num_labels)
    scorer = load_scorer(
        directory, scorer_format="orm-seqcls", device="cpu", dtype=dtype, batch_size=1
    )
    hidden = []
    for problem, steps in zip(PROBLEMS, STEPS, strict=True):
        encoded = scorer.tokenize(problem, steps)
        ids = torch.tensor([encoded["input_ids"]])
        with torch.no_grad():
            states = scorer.model.backbone.base_model(
                input_ids=ids, attention_mask=torch.ones_like(ids)
            ).last_hidden_state
        hidden.append(states[0, encoded["score_positions"][-1]].double())
    weight = torch.linalg.pinv(torch.stack(hidden)) @ torch.tensor(rewards, dtype=torch.float64)
    state = load_file(str(directory / "model.safetensors"))
    head = weight[None].float()
    if num_labels == 2:
        head = torch.cat([torch.zeros_like(head), head])
    state["score.weight"] = head
    save_file({k: v.contiguous() for k, v in state.items()}, str(directory / "model.safetensors"))
    return directory


def _transformers_rewards(directory: Path) -> list[float]:
    """The raw rewards by Skywork's card recipe (transformers' pooling, float32)."""
    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = AutoModelForSequenceClassification.from_pretrained(directory).eval()
    out = []
    for problem, steps in zip(PROBLEMS, STEPS, strict=True):
        conv = [
            {"role": "user", "content": problem},
            {"role": "assistant", "content": "\n\n".join(steps)},
        ]
        text = tokenizer.apply_chat_template(conv, tokenize=False)
        text = text.removeprefix(tokenizer.bos_token)
        with torch.no_grad():
            logits = model(**tokenizer(text, return_tensors="pt")).logits[0].double()
        out.append(float(logits[0] if logits.numel() == 1 else logits[1] - logits[0]))
    return out


@pytest.mark.parametrize("num_labels", [1, 2])
def test_skywork_size_rewards_keep_their_order(tmp_path: Path, num_labels: int) -> None:
    """Rewards 20 and 23 both scored exactly 1.0 (float32 sigmoid), so best-of-n tied them."""
    directory = _orm_with_rewards(
        tmp_path / "orm", [23.0, 20.0], num_labels=num_labels, dtype=torch.float32
    )
    rewards = _transformers_rewards(directory)
    assert rewards == pytest.approx([23.0, 20.0], abs=1e-3)
    scorer = load_scorer(directory, scorer_format="orm-seqcls", device="cpu")
    scores = scorer.score(PROBLEMS, STEPS)
    assert all(s is None for row in scores for s in row[:-1])
    last = [row[-1] for row in scores]
    assert last[0] > last[1]
    assert [aggregate(row, "min") for row in scores] == last
    assert [orm_reward(s) for s in last] == pytest.approx(rewards, abs=1e-4)


def test_the_score_record_keeps_the_reward(tmp_path: Path) -> None:
    directory = _orm_with_rewards(tmp_path / "orm", [20.0, 23.0], dtype=torch.float32)
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
    args = ["score", "--scorer", str(directory), "-p", str(problems), "-i", str(solutions)]
    result = CliRunner().invoke(app, [*args, "-o", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    scores = [row["meta"]["score"] for row in rows]
    assert scores == [row["step_scores"][-1] for row in rows]
    assert scores[1] > scores[0]
    assert [orm_reward(s) for s in scores] == pytest.approx([20.0, 23.0], abs=1e-3)
    assert [row["meta"]["reward"] for row in rows] == pytest.approx([20.0, 23.0], abs=1e-3)


def test_a_bfloat16_decoder_reads_its_reward_in_float32(tmp_path: Path) -> None:
    """A bfloat16 head rounds 20.0 and 20.05 to the same 20.0 (its step there is 1/8)."""
    directory = _orm_with_rewards(tmp_path / "orm", [20.05, 20.0], dtype=torch.bfloat16)
    scorer = load_scorer(directory, scorer_format="orm-seqcls", device="cpu", dtype=torch.bfloat16)
    last = [row[-1] for row in scorer.score(PROBLEMS, STEPS)]
    assert last[0] > last[1]
    # Batched with padding, the bfloat16 hidden states differ from the design's a little.
    assert [orm_reward(s) for s in last] == pytest.approx([20.05, 20.0], abs=1e-2)


@pytest.mark.parametrize("rewards", [[40.0, 41.0], [33.0, 33.01]])
def test_a_reward_past_the_limit_is_refused(tmp_path: Path, rewards: list[float]) -> None:
    """sigmoid(40) and sigmoid(41) are both 1.0 even in float64, and sigmoid(33) and
    sigmoid(33.01) one float64 number: they would tie silently."""
    directory = _orm_with_rewards(tmp_path / "orm", rewards, dtype=torch.float32)
    scorer = load_scorer(directory, scorer_format="orm-seqcls", device="cpu")
    with pytest.raises(MathverifyError, match=f"above {ORM_REWARD_LIMIT:g}") as caught:
        scorer.score(PROBLEMS, STEPS)
    assert "\n" not in str(caught.value)


def test_rewards_up_to_the_limit_keep_their_order(tmp_path: Path) -> None:
    """Rewards 0.01 apart below the limit get two ordered scores."""
    top = ORM_REWARD_LIMIT - 0.5
    directory = _orm_with_rewards(tmp_path / "orm", [top, top + 0.01], dtype=torch.float32)
    scorer = load_scorer(directory, scorer_format="orm-seqcls", device="cpu")
    last = [row[-1] for row in scorer.score(PROBLEMS, STEPS)]
    assert last[0] < last[1]
    assert [orm_reward(s) for s in last] == pytest.approx([top, top + 0.01], abs=2e-3)


def test_orm_reward_inverts_the_sigmoid() -> None:
    # float64 keeps 1 - score to about 1e-16: the reward to 1e-6 at 23, 1e-3 at 30.
    for reward, tolerance in ((-30.0, 1e-9), (0.0, 1e-9), (3.59, 1e-9), (23.0, 1e-5), (30, 1e-2)):
        score = float(torch.sigmoid(torch.tensor(reward, dtype=torch.float64)))
        assert orm_reward(score) == pytest.approx(reward, abs=tolerance)
    with pytest.raises(MathverifyError):
        orm_reward(1.0)


# --- rlhflow strips its steps -----------------------------------------------------------


def rlhflow_stripped_reference(path: Path, problem: str, steps: list[str]) -> list[float]:
    """RLHFlow/RLHF-Reward-Modeling math-rm/prm_evaluate.py: ``ans_list = [j.strip() for j
    in ans_list]`` (line 50), ``prompt + " " + ans_list[0]`` (line 53), logits at -3 (61)."""
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    candidate_tokens = [tokenizer.encode("+")[-1], tokenizer.encode("-")[-1]]
    conversation, scores = [], []
    for k, step in enumerate(j.strip() for j in steps):
        text = problem + " " + step if k == 0 else step
        conversation.append({"content": text, "role": "user"})
        conversation.append({"content": "+", "role": "assistant"})
        input_ids = tokenizer.apply_chat_template(conversation, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            logits = model(input_ids).logits[:, -3, candidate_tokens]
        scores.append(logits.softmax(dim=-1)[:, 0][0].item())
    return scores


def test_rlhflow_strips_steps_as_its_authors_do(tmp_path: Path) -> None:
    """A first step with leading whitespace scored 0.18 away from the authors' recipe."""
    directory = pm.save_rlhflow(tmp_path / "rlhflow-prm", seed=1)
    problem = PROBLEMS[0]
    spaced = ["   We add the numbers: 2 + 3 = 5.  ", "\n So the answer is $\\boxed{5}$.\n"]
    expected = rlhflow_stripped_reference(directory, problem, spaced)
    scorer = load_scorer(directory, scorer_format="rlhflow", device="cpu")
    (got,) = scorer.score([problem], [spaced])
    assert got == pytest.approx(expected, abs=1e-5)
    # Stripped, the steps are the plain ones: the same scores.
    assert scorer.score([problem], [[s.strip() for s in spaced]])[0] == pytest.approx(got)


# --- solutions longer than the model's context ------------------------------------------


@pytest.mark.parametrize("fmt", ["math-shepherd", "qwen-prm", "rlhflow", "orm-seqcls"])
def test_a_solution_past_max_length_is_scored_in_part_and_counted(tmp_path: Path, fmt: str) -> None:
    """Steps that fit keep the scores of the whole encoding (a causal model reads no later
    token); steps past the limit, and an ORM's whole solution, get None; the scorer counts
    the solutions cut, so that a caller can warn with the count."""
    saver = {
        "math-shepherd": pm.save_math_shepherd,
        "qwen-prm": pm.save_qwen_prm,
        "rlhflow": pm.save_rlhflow,
        "orm-seqcls": pm.save_orm_seqcls,
    }[fmt]
    directory = saver(tmp_path / fmt)
    scorer = load_scorer(directory, scorer_format=fmt, device="cpu")
    problem, steps = PROBLEMS[1], STEPS[1]
    (whole,) = scorer.score([problem], [steps])
    assert scorer.n_truncated == 0
    encoded = scorer.tokenize(problem, steps)
    scorer.n_truncated = 0
    # Cut just after the second step's score position: the third step does not fit.
    scorer.max_length = encoded["score_positions"][-1] if fmt != "orm-seqcls" else 10
    (cut,) = scorer.score([problem], [steps])
    assert scorer.n_truncated == 1
    if fmt == "orm-seqcls":
        assert cut == [None, None, None]
    else:
        assert cut[:2] == pytest.approx(whole[:2], abs=1e-5)
        assert cut[2] is None


def test_score_warns_with_the_count_of_solutions_past_max_length(tmp_path: Path) -> None:
    """A cut solution's aggregate covers part of it: ``score`` says how many were cut."""
    directory = pm.save_math_shepherd(tmp_path / "ms")
    config = json.loads((directory / "config.json").read_text())
    config["max_position_embeddings"] = 12
    (directory / "config.json").write_text(json.dumps(config))
    problems, solutions = tmp_path / "p.jsonl", tmp_path / "s.jsonl"
    problems.write_text(json.dumps({"id": "p0", "problem": PROBLEMS[1], "answer": "0"}) + "\n")
    solutions.write_text(json.dumps({"problem_id": "p0", "sample_id": 0, "steps": STEPS[1]}) + "\n")
    args = ["score", "-s", str(directory), "--scorer-format", "math-shepherd"]
    args += ["-p", str(problems), "-i", str(solutions), "-o", str(tmp_path / "out.jsonl")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "1 solutions longer than the scorer's max length" in result.output
