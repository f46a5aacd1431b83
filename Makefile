# mathverify: setup, tests, and the end-to-end demo on the synthetic task.
#
#   make demo        install, then data -> policy -> samples -> labels -> eval (runs/demo)
#   make demo SEEDS="0 1 2"   the same per seed, then mean and spread (runs/demo-seeds.md)
#   make test        install, then the default (fast) test suite
#   make test-slow   tests marked slow (training, multi-process)
#   make test-oldest the default suite on the oldest releases pyproject supports (mk/oldest.mk)
#   make lint        ruff check + format check

PYTHON ?= python3
PIP := $(PYTHON) -m pip
MV := $(PYTHON) -m mathverify
STAMP := build/.installed

.PHONY: install test test-slow lint demo demo-clean bench

# torch first, pinned to the CPU wheel that ships on this machine's disk: a plain
# `pip install torch` (or a dependency asking for it) would pull a multi-GB CUDA build.
# The installer is uv (fetched with pip when missing; the same versions as pip, 22 s with
# bytecode against pip's 51 s in a fresh environment: benchmarks/RESULTS.md), else pip. PIP_FIND_LINKS (the
# local wheel folder) is passed on to uv.
# --compile-bytecode writes the .pyc files at install, as pip does: uv skips them, and where
# PYTHONDONTWRITEBYTECODE is set (as on the project's machines) every later command would
# compile torch and transformers again (about 5 s each; the demo runs a dozen).
UV_INSTALL = $(PYTHON) -m uv pip install -q --compile-bytecode --python $(PYTHON) \
	$(foreach d,$(PIP_FIND_LINKS),--find-links $(d))
$(STAMP): pyproject.toml
	@$(PYTHON) -m uv --version >/dev/null 2>&1 || $(PIP) install -q uv 2>/dev/null || true
	@if $(PYTHON) -m uv --version >/dev/null 2>&1; then install="$(UV_INSTALL)"; \
	else install="$(PIP) install -q"; fi; \
	$(PYTHON) -c "import torch" 2>/dev/null || $$install torch==2.13.0; \
	$$install -e ".[dev]"
	@mkdir -p build && touch $(STAMP)

# The console script lands in the interpreter's scripts folder. A pyenv Python reaches it
# through a shim that exists only after `pyenv rehash` (uv does not run it, pip's pyenv hook
# does), so run it; if `mathverify` is still not on PATH, say where it is and what works.
install: $(STAMP)
	@if command -v pyenv >/dev/null 2>&1; then pyenv rehash 2>/dev/null || true; fi
	@command -v mathverify >/dev/null 2>&1 || { \
	scripts=$$($(PYTHON) -c 'import sysconfig; print(sysconfig.get_path("scripts"))'); \
	echo "note: mathverify is installed in $$scripts, which is not on PATH:" \
	"add it to PATH, or run it as '$(PYTHON) -m mathverify'"; }

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
# Sizes were chosen so the whole run fits in about 10 minutes on 2 CPU cores.
DEMO ?= runs/demo
SEED ?= 0
N_TRAIN ?= 60000
N_TEST ?= 1000
SAMPLES ?= 16
TEMPERATURE ?= 0.7
TRAIN_STEPS ?= 900
PRM_LR ?= 3e-3
# Runs diverge where float sums round differently, and 900 training steps amplify a last-bit
# difference into different numbers (README, "Numbers across machines"). So the demo pins
# the thread count (torch's default is one per core; 2 on the reference machine) and MKL's
# code branch (MKL_CBWR=AVX2: the same bits as MKL's default on the reference AMD machine,
# and keeps an Intel AVX-512 machine off MKL's AVX-512 branch). ATen's own kernels follow
# the CPU (AVX-512 here); DEMO_ENV=ATEN_CPU_CAPABILITY=avx2 would pin them too, at the price
# of numbers other than README's.
DEMO_THREADS ?= 2
DEMO_ENV ?=
DEMO_VARS = OMP_NUM_THREADS=$(DEMO_THREADS) MKL_NUM_THREADS=$(DEMO_THREADS) MKL_CBWR=AVX2 $(DEMO_ENV)
DEMO_MV = env $(DEMO_VARS) $(MV)

# SEEDS="0 1 2": one demo per seed (seed 0 in $(DEMO), seed s in $(DEMO)-seed<s>: its own
# data, policy, samples and PRM), then the mean and spread of the headline numbers over the
# seeds in $(DEMO)-seeds.md and .json. Empty (the default): one demo with SEED, as before.
SEEDS ?=
seed_dir = $(if $(filter 0,$(1)),$(DEMO),$(DEMO)-seed$(1))

ifeq ($(strip $(SEEDS)),)
demo: install $(DEMO)/eval.json $(DEMO)/verifier.json
	@echo "demo artifacts in $(DEMO)/ (eval numbers in $(DEMO)/eval.json and $(DEMO)/verifier.json)"
	@env $(DEMO_VARS) $(PYTHON) -c "import torch; print('demo ran with: kernels', \
		torch.backends.cpu.get_cpu_capability(), '| threads', torch.get_num_threads(), \
		'| torch', torch.__version__)"; grep -m1 'model name' /proc/cpuinfo 2>/dev/null || true
else
demo: install
	@set -e; for s in $(SEEDS); do \
		$(MAKE) --no-print-directory demo SEEDS= SEED=$$s \
			DEMO=$$( [ $$s = 0 ] && echo $(DEMO) || echo $(DEMO)-seed$$s ); \
	done
	$(MV) summarize-seeds $(foreach s,$(SEEDS),$(call seed_dir,$(s))) --n $(SAMPLES) \
		--json $(DEMO)-seeds.json --markdown $(DEMO)-seeds.md
endif

$(DEMO)/data/test.jsonl:
	$(DEMO_MV) data synth -o $(DEMO)/data --train-size $(N_TRAIN) --test-size $(N_TEST) --seed $(SEED)

$(DEMO)/policy/mathverify.json: $(DEMO)/data/test.jsonl
	$(DEMO_MV) train-policy -i $(DEMO)/data/train.jsonl -o $(DEMO)/policy --from-scratch tiny \
		--template '{problem}\n' --max-steps $(TRAIN_STEPS) --batch-size 64 --lr 3e-3 --seed $(SEED)

$(DEMO)/greedy.jsonl: $(DEMO)/policy/mathverify.json
	$(DEMO_MV) generate --policy $(DEMO)/policy -p $(DEMO)/data/test.jsonl -n 1 --temperature 0 \
		--seed $(SEED) -o $@.part --resume
	mv $@.part $@

$(DEMO)/samples.jsonl: $(DEMO)/policy/mathverify.json
	$(DEMO_MV) generate --policy $(DEMO)/policy -p $(DEMO)/data/test.jsonl -n $(SAMPLES) \
		--temperature $(TEMPERATURE) --seed $(SEED) -o $@.part --resume
	mv $@.part $@

# Exact labels: the synthetic checker gives the outcome and every step's gold label.
$(DEMO)/%.labeled.jsonl: $(DEMO)/%.jsonl
	$(DEMO_MV) label --method exact -p $(DEMO)/data/test.jsonl -i $< -o $@

$(DEMO)/eval.json: $(DEMO)/greedy.labeled.jsonl $(DEMO)/samples.labeled.jsonl
	$(DEMO_MV) eval $^ --names greedy,sampled -p $(DEMO)/data/test.jsonl --json $@

# The verifier: a PRM on the policy's backbone, trained on exact step labels of policy
# samples for training problems (cut after the first wrong step), then best-of-16 on the
# test samples by the lowest step score. Its head reads the hidden state at each separator
# plus the step's token log-probabilities under the (frozen) policy, through a small MLP:
# fine-tuned on these few thousand solutions, a PRM that reads the hidden state alone
# learns how hard a problem is but ranks the samples of one problem at chance (README).
# Steps and learning rate were chosen by the trainer's held-out validation loss.
# This is train-prm's default recipe, frozen-likelihood, spelled out (tests/test_recipes.py
# checks they agree); PRM_OPTS='--recipe finetune' trains the usual fine-tuned PRM instead.
VERIFIER_PROBLEMS ?= 2000
VERIFIER_SAMPLES ?= 4
PRM_STEPS ?= 1000
PRM_OPTS ?= --step-features likelihood --head mlp --freeze-backbone

$(DEMO)/verifier/train.jsonl: $(DEMO)/policy/mathverify.json
	$(DEMO_MV) generate --policy $(DEMO)/policy -p $(DEMO)/data/train.jsonl --limit $(VERIFIER_PROBLEMS) \
		-n $(VERIFIER_SAMPLES) --temperature $(TEMPERATURE) --seed $(SEED) -o $@.part --resume
	mv $@.part $@

$(DEMO)/verifier/train.labeled.jsonl: $(DEMO)/verifier/train.jsonl
	$(DEMO_MV) label --method exact -p $(DEMO)/data/train.jsonl -i $< -o $@

$(DEMO)/prm/mathverify.json: $(DEMO)/verifier/train.labeled.jsonl
	$(DEMO_MV) train-prm -i $< -p $(DEMO)/data/train.jsonl -o $(DEMO)/prm --init $(DEMO)/policy \
		--max-steps $(PRM_STEPS) --batch-size 32 --lr $(PRM_LR) --seed $(SEED) $(PRM_OPTS)

$(DEMO)/samples.prm.jsonl: $(DEMO)/prm/mathverify.json $(DEMO)/samples.labeled.jsonl
	$(DEMO_MV) score -s $(DEMO)/prm -p $(DEMO)/data/test.jsonl -i $(DEMO)/samples.labeled.jsonl \
		-a min -o $@.part --resume
	mv $@.part $@

$(DEMO)/verifier.json: $(DEMO)/samples.prm.jsonl
	$(DEMO_MV) eval $< --names prm-min -p $(DEMO)/data/test.jsonl --plot $(DEMO)/plots --json $@

demo-clean:
	rm -rf $(DEMO) $(DEMO)-seed* $(DEMO)-seeds.*

bench: install
	$(PYTHON) benchmarks/bench_grading.py

include mk/vllm.mk
include mk/oldest.mk
