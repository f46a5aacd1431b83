# vLLM targets, included from the Makefile (`include mk/vllm.mk`).
#
#   make test-vllm    build build/venv-vllm (vLLM's CPU wheel in its own environment), then run
#                     the tests marked vllm there: hf/vllm/openai parity on the synthetic task
#                     (-rP prints the passed tests' reports: how many texts agree)
#   make bench-vllm   tokens/s of generate with hf, vllm and openai; vllm vs bare vLLM
#
# vLLM stays an optional extra: the main environment never gets it (the CPU wheel pins
# transformers < 5.20 and would pull CUDA builds of torchvision/torchaudio/torchcodec).
# On a GPU machine: pip install 'mathverify[vllm]' and run `pytest -m vllm` directly.

VLLM_VENV ?= build/venv-vllm
VLLM_PYTHON := $(VLLM_VENV)/bin/python

.PHONY: test-vllm bench-vllm

$(VLLM_VENV)/.ready: scripts/setup_vllm_venv.sh pyproject.toml
	rm -f $@
	PYTHON=$(PYTHON) bash scripts/setup_vllm_venv.sh $(VLLM_VENV)

test-vllm: $(VLLM_VENV)/.ready
	VLLM_CPU_KVCACHE_SPACE=1 $(VLLM_PYTHON) -m pytest -q -m vllm -rsP tests/test_vllm.py

bench-vllm: $(VLLM_VENV)/.ready
	VLLM_CPU_KVCACHE_SPACE=1 $(VLLM_PYTHON) benchmarks/bench_backends.py --append-results
