"""The KV-cache keyword across the supported transformers releases (issue #34).

transformers 5.25 renamed a decoder's ``past_key_values`` to ``cache``: the old name prints a
FutureWarning at every forward (into the progress bar) and goes in 5.40, and releases before
5.25 drop a ``cache`` keyword silently. :func:`cache_keyword` picks the one the model reads;
the hf backend's decoding loop and the PRM's shared-prefix scoring must run without the
warning on the installed release (``make test-oldest`` runs these on the oldest one).
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
import transformers
from packaging.version import Version
from transformers.utils.deprecation import deprecate_kwarg
from typer.testing import CliRunner

from mathverify.backends.hf import HFPolicy
from mathverify.cli import app
from mathverify.errors import MathverifyError
from mathverify.models.card import ModelCard
from mathverify.models.compat import cache_keyword
from mathverify.models.tiny import build_tokenizer, save_random_policy
from mathverify.models.verifier import (
    VerifierModel,
    load_backbone,
    load_tokenizer,
    save_verifier,
)
from mathverify.scoring import load_scorer

# The first release whose decoders take ``cache`` (and warn on ``past_key_values``).
CACHE_RENAMED_IN = Version("5.25.0")


class NewForward(torch.nn.Module):
    def forward(self, input_ids: Any = None, cache: Any = None, **kwargs: Any) -> None: ...


class OldForward(torch.nn.Module):
    def forward(
        self, input_ids: Any = None, past_key_values: Any = None, **kwargs: Any
    ) -> None: ...


class KwargsForward(torch.nn.Module):
    """Remote code that takes everything by ``**kwargs`` reads the old name."""

    def forward(self, input_ids: Any = None, **kwargs: Any) -> None: ...


class DeprecatedForward(torch.nn.Module):
    """What transformers 5.25 does to every decoder's forward."""

    @deprecate_kwarg("past_key_values", "5.40.0", new_name="cache")
    def forward(self, input_ids: Any = None, cache: Any = None, **kwargs: Any) -> None: ...


@pytest.mark.parametrize(
    ("model", "keyword"),
    [
        (NewForward(), "cache"),
        (OldForward(), "past_key_values"),
        (KwargsForward(), "past_key_values"),
        (DeprecatedForward(), "cache"),
    ],
)
def test_cache_keyword_follows_the_forward_signature(model: torch.nn.Module, keyword: str) -> None:
    assert cache_keyword(model) == keyword


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_policy(
        tmp_path_factory.mktemp("compat_policy"), hidden_size=64, num_layers=2, num_heads=2
    )


def test_the_installed_release_takes_the_keyword_we_pass(policy_dir: Path) -> None:
    model = load_backbone(policy_dir)
    expected = (
        "cache" if Version(transformers.__version__) >= CACHE_RENAMED_IN else "past_key_values"
    )
    assert cache_keyword(model) == expected
    assert cache_keyword(model.base_model) == expected


def test_cached_decoding_loop_raises_no_future_warning(policy_dir: Path) -> None:
    policy = HFPolicy.load(str(policy_dir), device="cpu", dtype="float32")
    assert not policy.use_generate  # the loop that passes the cache itself
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        rows = policy.complete(["Compute 1+2.\n"] * 2, n=2, temperature=0.7, max_tokens=6)
    assert [len(row) for row in rows] == [2, 2]


def test_shared_prefix_scoring_raises_no_future_warning(policy_dir: Path, tmp_path: Path) -> None:
    model = VerifierModel(load_backbone(policy_dir), 1)
    save_verifier(model, tmp_path, build_tokenizer(), ModelCard(kind="prm", label_scheme="hard"))
    scorer = load_scorer(tmp_path, device="cpu")
    problems = ["Compute 2+3*4."] * 3
    steps = [["= 2+12", "= 14"], ["= 2+12", "= 15"], ["= 2+12", "= 16"]]  # one shared prefix
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        scores = scorer.score(problems, steps)
    assert [len(s) for s in scores] == [2, 2, 2]


# --- load errors --------------------------------------------------------------------------
# A folder without tokenizer files raises ValueError with a multi-line message in 5.25 and
# ImportError (the sentencepiece route wants protobuf) in 5.4; either must be one line.


def _without_tokenizer(policy_dir: Path, directory: Path) -> Path:
    directory.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(policy_dir / name, directory / name)
    return directory


def test_a_folder_without_tokenizer_files_is_a_one_line_error(
    policy_dir: Path, tmp_path: Path
) -> None:
    folder = _without_tokenizer(policy_dir, tmp_path / "weights-only")
    with pytest.raises(MathverifyError) as info:
        load_tokenizer(folder)
    message = str(info.value)
    assert message.startswith(f"{folder}: cannot load a tokenizer (")
    assert "\n" not in message


def test_train_prm_from_weights_without_a_tokenizer_exits_2_with_one_line(
    policy_dir: Path, tmp_path: Path
) -> None:
    problems, solutions = tmp_path / "problems.jsonl", tmp_path / "labeled.jsonl"
    problems.write_text('{"id": "p0", "problem": "Compute 1+2.", "answer": "3"}\n')
    solutions.write_text(
        '{"problem_id": "p0", "sample_id": 0, "steps": ["= 3"], "step_labels": [1]}\n'
    )
    init = _without_tokenizer(policy_dir, tmp_path / "weights-only")
    result = CliRunner().invoke(
        app,
        ["train-prm", "-i", str(solutions), "-p", str(problems), "-o", str(tmp_path / "out"),
         "--init", str(init)],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot load a tokenizer" in lines[0], lines


def test_a_policy_folder_without_tokenizer_files_is_refused(
    policy_dir: Path, tmp_path: Path
) -> None:
    folder = _without_tokenizer(policy_dir, tmp_path / "weights-only")
    (folder / "mathverify.json").write_text((policy_dir / "mathverify.json").read_text())
    with pytest.raises(MathverifyError, match="no tokenizer files"):
        HFPolicy.load(str(folder), device="cpu", dtype="float32")
