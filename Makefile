# mathverify: setup, tests, and the end-to-end demo on the synthetic task.
#
#   make demo        install, then data -> policy -> samples -> labels -> eval (runs/demo)
#   make test        install, then the default (fast) test suite
#   make test-slow   tests marked slow (training, multi-process)
#   make lint        ruff check + format check

PYTHON ?= python3
PIP := $(PYTHON) -m pip
MV := $(PYTHON) -m mathverify
STAMP := build/.installed

.PHONY: install test test-slow lint demo demo-clean bench

# torch first, pinned to the CPU wheel that ships on this machine's disk: a plain
# `pip install torch` (or a dependency asking for it) would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[dev]"
	@mkdir -p build && touch $(STAMP)

install: $(STAMP)

# pytest exits 5 when it collects nothing; that is not a failure of the suite.
test: install
	$(PYTHON) -m pytest -q; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

test-slow: install
	$(PYTHON) -m pytest -q -m slow; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

lint: install
	ruff check mathverify tests benchmarks
	ruff format --check mathverify tests benchmarks

# ---------------------------------------------------------------------------------------
# The demo: each artifact is a file target, so a second `make demo` reuses what exists.
DEMO ?= runs/demo
SEED ?= 0
N_TRAIN ?= 20000
N_TEST ?= 1000
SAMPLES ?= 16
TEMPERATURE ?= 1.0
TRAIN_STEPS ?= 1000

demo: install $(DEMO)/eval.json
	@echo "demo artifacts in $(DEMO)/"

$(DEMO)/data/test.jsonl:
	$(MV) data synth --out-dir $(DEMO)/data --n-train $(N_TRAIN) --n-test $(N_TEST) --seed $(SEED)

$(DEMO)/policy/mathverify.json: $(DEMO)/data/test.jsonl
	$(MV) train-policy --train $(DEMO)/data/train.jsonl --output-dir $(DEMO)/policy \
		--from-scratch tiny --max-steps $(TRAIN_STEPS) --seed $(SEED)

$(DEMO)/greedy.jsonl: $(DEMO)/policy/mathverify.json
	$(MV) generate --policy $(DEMO)/policy --problems $(DEMO)/data/test.jsonl \
		--n 1 --temperature 0 --seed $(SEED) -o $@.part && mv $@.part $@

$(DEMO)/samples.jsonl: $(DEMO)/policy/mathverify.json
	$(MV) generate --policy $(DEMO)/policy --problems $(DEMO)/data/test.jsonl \
		--n $(SAMPLES) --temperature $(TEMPERATURE) --seed $(SEED) -o $@.part --resume && mv $@.part $@

$(DEMO)/samples.labeled.jsonl: $(DEMO)/samples.jsonl
	$(MV) label --method outcome --problems $(DEMO)/data/test.jsonl -i $< -o $@

$(DEMO)/eval.json: $(DEMO)/greedy.jsonl $(DEMO)/samples.labeled.jsonl
	$(MV) eval $(DEMO)/greedy.jsonl $(DEMO)/samples.labeled.jsonl --names greedy,sampled \
		--problems $(DEMO)/data/test.jsonl --json $@

demo-clean:
	rm -rf $(DEMO)

bench: install
	$(PYTHON) benchmarks/bench_grading.py
