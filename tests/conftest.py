"""Shared test setup: data location, thread limits, and a CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# The real data lives beside the checkout (../shared/data) in CI; respect an explicit setting.
os.environ.setdefault("MATHVERIFY_DATA", str(REPO_ROOT.parent / "shared" / "data"))


def pytest_configure(config: pytest.Config) -> None:
    # Two cores are shared by everything on the test machine; keep torch from oversubscribing.
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


@pytest.fixture
def data_dir() -> Path:
    from mathverify.paths import data_dir

    return data_dir()


def require_data(*relative: str) -> Path:
    """Path to a file under the data dir, or skip the test with the reason."""
    from mathverify.paths import data_dir

    path = data_dir().joinpath(*relative)
    if not path.exists():
        pytest.skip(f"{path} not found: set MATHVERIFY_DATA to a folder holding shared/data")
    return path


@pytest.fixture(scope="session")
def tiny_policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-init tiny Llama policy (width 32, one layer) with its tokenizer and card: the
    demo-sized stand-in for a trained policy, where a test needs a model but not its skill."""
    from mathverify.models.tiny import save_random_policy

    return save_random_policy(
        tmp_path_factory.mktemp("tiny_policy"), hidden_size=32, num_layers=1, num_heads=1
    )
