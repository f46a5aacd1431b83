# The oldest supported releases, tested; included from the Makefile (`include mk/oldest.mk`).
#
#   make test-oldest   build build/venv-oldest with the floors pyproject.toml declares for
#                      transformers, tokenizers, trl, datasets and accelerate installed
#                      exactly (==), then run the default suite there
#
# The pins are read from pyproject.toml (mk/oldest_pins.py), so raising a floor there moves
# this job with it, and a floor nobody tested cannot sit in pyproject while CI passes. torch
# is OLDEST_TORCH, the CPU wheel on this machine's disk (PIP_FIND_LINKS), and goes in first,
# as in `make install`: an older torch from the registry is a multi-GB CUDA build, so
# pyproject's torch>=2.4 (the usual range for users) is not what this job tests.

OLDEST_VENV ?= build/venv-oldest
OLDEST_PYTHON := $(OLDEST_VENV)/bin/python
OLDEST_TORCH ?= torch==2.13.0
OLDEST_PACKAGES := transformers tokenizers trl datasets accelerate

.PHONY: test-oldest

$(OLDEST_VENV)/.ready: pyproject.toml mk/oldest.mk mk/oldest_pins.py
	rm -rf $(OLDEST_VENV)
	$(PYTHON) -m venv $(OLDEST_VENV)
	$(PYTHON) mk/oldest_pins.py $(OLDEST_PACKAGES) > $(OLDEST_VENV)/pins.txt
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PIP) install -q uv 2>/dev/null || true
	@if $(PYTHON) -m uv --version >/dev/null 2>&1; then \
		install="$(PYTHON) -m uv pip install -q --compile-bytecode --python $(OLDEST_PYTHON) \
			$(foreach d,$(PIP_FIND_LINKS),--find-links $(d))"; \
	else install="$(OLDEST_PYTHON) -m pip install -q"; fi; \
	$$install $(OLDEST_TORCH) && \
	$$install -e ".[dev]" -r $(OLDEST_VENV)/pins.txt
	$(OLDEST_PYTHON) -c "import importlib.metadata as m; \
		print('oldest:', ', '.join(f'{p} {m.version(p)}' for p in 'torch $(OLDEST_PACKAGES)'.split()))"
	touch $@

# pytest exits 5 when it collects nothing; that is not a failure of the suite.
test-oldest: $(OLDEST_VENV)/.ready
	$(OLDEST_PYTHON) -m pytest -q; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc
