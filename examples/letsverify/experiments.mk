# The three "Let's Verify Step by Step" experiments the main Makefile does not run (issue #10),
# on the synthetic task: active learning (convincing wrong-answer selection against uniform),
# a large PRM as the supervisor of small verifiers, and out-of-distribution problems (longer
# expressions). Only the `mathverify` CLI trains, labels, selects and scores; experiments.py
# prepares problem files, picks the supervisor's threshold, and writes EXPERIMENTS.md and one
# PNG per experiment. Outputs go to $(OUT)/experiments/ (XOUT), run times to XOUT/seconds/.
#
# Included from Makefile (it uses that file's settings and rules); run once the main run's
# verifiers exist (runs/letsverify/orm, budget/exact.jsonl, budget/prm-exact, budget/orm and
# their test scores):
#
#   make -C examples/letsverify experiments     (or: active, supervisor, ood)
#
# Sizes aim at about 30 minutes on 2 busy CPU cores.

XOUT ?= $(OUT)/experiments
EXPERIMENTS := $(PYTHON) examples/letsverify/experiments.py
# Judged on the demo's test samples (16 per problem, exact labels), as the main budget table.
XTEST := $(DEMO)/samples.labeled.jsonl
# Active learning, at two scales, each in XOUT/DIR/ with the same file names: seed.jsonl (the
# seed PRM's exact-labeled solutions), seed/ (the seed PRM), pool.jsonl (the solutions to pick
# from, 4 per problem), all.jsonl (seed + the whole pool) and test.*.jsonl (scores of the test
# samples). ACTIVE_K solutions per pool problem are picked by each strategy; K = 4 takes the
# whole pool under both (the all point).
# - active: seed = the main run's budget PRM (its BUDGET_PROBLEMS problems), pool = the other
#   verifier training problems, all = the demo PRM (linked, not retrained).
# - active-small: seed = the first ACTIVE_SMALL_SEED problems, pool = the next
#   ACTIVE_SMALL_POOL problems (where a PRM still gains from more labels).
ACTIVE_K ?= 1 2
ACTIVE_STRATEGIES ?= convincing-wrong uniform
ACTIVE_DIRS ?= active active-small
ACTIVE_SMALL_SEED ?= 25
ACTIVE_SMALL_POOL ?= 250
RANDOM_SHARE ?= 0
# Supervisor: a PRM trained with exact labels on the large-scale pool (all but the budget set's
# problems: 7x its labels) labels the budget solutions; threshold chosen on its own training
# solutions.
# OOD: OOD_PROBLEMS new problems of OOD_OPS operations (the demo trains on 3-4), OOD_N samples.
OOD_OPS ?= 5
OOD_SYNTH ?= 400
OOD_PROBLEMS ?= 300
OOD_N ?= 16
OOD_SEED ?= 1

# $(call xtimed,NAME,COMMAND): as the main Makefile's `timed`, into XOUT/seconds/NAME.txt.
xtimed = cd $(ROOT) && mkdir -p $(XOUT)/seconds && start=$$(date +%s.%N) && $(2) && \
	echo "$$(date +%s.%N) $$start $$(cut -d' ' -f1 /proc/loadavg)" \
	| awk '{printf "%.1f %s\n", $$1 - $$2, $$3}' > $(XOUT)/seconds/$(1).txt

.PHONY: experiments active supervisor ood

# $(call xscore,OUTPUT,MODEL_DIR,AGGREGATION,INPUT,PROBLEMS): XOUT/OUTPUT.jsonl
define xscore
$(ROOT)/$(XOUT)/$(1).jsonl: $(ROOT)/$(2)/mathverify.json $(ROOT)/$(4)
	mkdir -p $$(dir $$@)
	$$(call xtimed,score-$(subst /,-,$(1)),$(MATHVERIFY) score -s $(2) -p $(5) -i $(4) -a $(3) \
		-b 64 -o $$(target).part --resume)
	mv $$@.part $$@
endef

# $(call xtrain,DIR,COMMAND,LABELS,OPTIONS): XOUT/DIR/, trained on LABELS (repo-relative)
define xtrain
$(ROOT)/$(XOUT)/$(1)/mathverify.json: $(ROOT)/$(3)
	$$(call xtimed,train-$(subst /,-,$(1)),$(TRAIN_ENV) $(MATHVERIFY) $(2) -i $(3) -p $(TRAIN) \
		-o $(XOUT)/$(1) $(4))
endef

# ---------------------------------------------------------------------------------------
# 1. Active learning.
$(ROOT)/$(XOUT)/active/pool.jsonl: $(ROOT)/$(VERIFIER_TRAIN)
	mkdir -p $(dir $@)
	cd $(ROOT) && $(EXPERIMENTS) slice -i $(VERIFIER_TRAIN) --start $(BUDGET_PROBLEMS) -o $(target)

# The large scale reuses the main run's budget PRM and the demo PRM: links, not copies.
$(ROOT)/$(XOUT)/active/seed.jsonl: $(ROOT)/$(OUT)/budget/exact.jsonl
$(ROOT)/$(XOUT)/active/seed/mathverify.json: $(ROOT)/$(OUT)/budget/prm-exact/mathverify.json
$(ROOT)/$(XOUT)/active/test.seed.jsonl: $(ROOT)/$(OUT)/budget/test.prm-exact.jsonl
$(ROOT)/$(XOUT)/active/all.jsonl: $(ROOT)/$(VERIFIER_TRAIN)
$(ROOT)/$(XOUT)/active/test.all.jsonl: $(ROOT)/$(DEMO)/samples.prm.jsonl
$(addprefix $(ROOT)/$(XOUT)/active/,seed.jsonl test.seed.jsonl all.jsonl test.all.jsonl):
	mkdir -p $(dir $@)
	ln -sfr $< $@
$(ROOT)/$(XOUT)/active/seed/mathverify.json:
	mkdir -p $(dir $(@D))
	ln -sfnr $(<D) $(@D)

$(ROOT)/$(XOUT)/active-small/seed.jsonl: $(ROOT)/$(VERIFIER_TRAIN)
	mkdir -p $(dir $@)
	cd $(ROOT) && $(EXPERIMENTS) slice -i $(VERIFIER_TRAIN) --stop $(ACTIVE_SMALL_SEED) -o $(target)
$(ROOT)/$(XOUT)/active-small/pool.jsonl: $(ROOT)/$(VERIFIER_TRAIN)
	mkdir -p $(dir $@)
	cd $(ROOT) && $(EXPERIMENTS) slice -i $(VERIFIER_TRAIN) --start $(ACTIVE_SMALL_SEED) \
		--stop $(shell echo $$(($(ACTIVE_SMALL_SEED) + $(ACTIVE_SMALL_POOL)))) -o $(target)
$(ROOT)/$(XOUT)/active-small/all.jsonl: $(ROOT)/$(XOUT)/active-small/seed.jsonl $(ROOT)/$(XOUT)/active-small/pool.jsonl
	cat $^ > $@.part
	mv $@.part $@
$(eval $(call xtrain,active-small/seed,train-prm,$(XOUT)/active-small/seed.jsonl,$(PRM_TRAIN_OPTS)))
$(eval $(call xtrain,active-small/all,train-prm,$(XOUT)/active-small/all.jsonl,$(PRM_TRAIN_OPTS)))
$(eval $(call xscore,active-small/test.seed,$(XOUT)/active-small/seed,min,$(XTEST),$(TEST)))
$(eval $(call xscore,active-small/test.all,$(XOUT)/active-small/all,min,$(XTEST),$(TEST)))

# $(call active_rule,DIR,STRATEGY,K): seed solutions + K picks per pool problem, a PRM, its scores
define active_rule
$(ROOT)/$(XOUT)/$(1)/$(2)-k$(3).jsonl: $(ROOT)/$(XOUT)/$(1)/pool.seed.jsonl $(ROOT)/$(XOUT)/$(1)/seed.jsonl
	cd $(ROOT) && $(MATHVERIFY) select -i $(XOUT)/$(1)/pool.seed.jsonl --strategy $(2) -k $(3) \
		--random-share $(RANDOM_SHARE) --seed $(SEED) -o $$(target).picked
	cd $(ROOT) && cat $(XOUT)/$(1)/seed.jsonl $$(target).picked > $$(target).part
	rm $$@.picked
	mv $$@.part $$@
$(call xtrain,$(1)/$(2)-k$(3),train-prm,$(XOUT)/$(1)/$(2)-k$(3).jsonl,$(PRM_TRAIN_OPTS))
$(call xscore,$(1)/test.$(2)-k$(3),$(XOUT)/$(1)/$(2)-k$(3),min,$(XTEST),$(TEST))
endef
$(foreach d,$(ACTIVE_DIRS),$(eval $(call xscore,$(d)/pool.seed,$(XOUT)/$(d)/seed,min,$(XOUT)/$(d)/pool.jsonl,$(TRAIN))))
$(foreach d,$(ACTIVE_DIRS),$(foreach s,$(ACTIVE_STRATEGIES),$(foreach k,$(ACTIVE_K),\
	$(eval $(call active_rule,$(d),$(s),$(k))))))

ACTIVE_FILES := $(foreach d,$(ACTIVE_DIRS),$(addprefix $(ROOT)/$(XOUT)/$(d)/,test.seed.jsonl \
	all.jsonl test.all.jsonl $(foreach s,$(ACTIVE_STRATEGIES),$(foreach k,$(ACTIVE_K),test.$(s)-k$(k).jsonl))))
active: $(ACTIVE_FILES)

# ---------------------------------------------------------------------------------------
# 2. Supervisor: the large PRM, its threshold, its labels, the small PRM trained on them.
$(eval $(call xtrain,supervisor/large,train-prm,$(XOUT)/active/pool.jsonl,$(PRM_TRAIN_OPTS)))
$(eval $(call xscore,supervisor/pool.large,$(XOUT)/supervisor/large,min,$(XOUT)/active/pool.jsonl,$(TRAIN)))

$(ROOT)/$(XOUT)/supervisor/threshold.txt: $(ROOT)/$(XOUT)/supervisor/pool.large.jsonl
	cd $(ROOT) && $(EXPERIMENTS) threshold -i $(XOUT)/supervisor/pool.large.jsonl > $(target).part
	mv $@.part $@

$(ROOT)/$(XOUT)/supervisor/labels.jsonl: $(ROOT)/$(XOUT)/supervisor/threshold.txt $(ROOT)/$(OUT)/budget/exact.jsonl
	$(call xtimed,label-supervisor,$(MATHVERIFY) label --method supervisor --hard \
		--scorer $(XOUT)/supervisor/large --threshold $$(cat $(XOUT)/supervisor/threshold.txt) \
		-p $(TRAIN) -i $(OUT)/budget/exact.jsonl -o $(target).part)
	mv $@.part $@

$(eval $(call xtrain,supervisor/prm,train-prm,$(XOUT)/supervisor/labels.jsonl,$(PRM_TRAIN_OPTS)))
$(eval $(call xscore,supervisor/test.prm,$(XOUT)/supervisor/prm,min,$(XTEST),$(TEST)))
$(eval $(call xscore,supervisor/test.large,$(XOUT)/supervisor/large,min,$(XTEST),$(TEST)))

supervisor: $(ROOT)/$(XOUT)/supervisor/test.prm.jsonl $(ROOT)/$(XOUT)/supervisor/test.large.jsonl \
	$(ROOT)/$(OUT)/budget/test.prm-exact.jsonl $(ROOT)/$(OUT)/budget/test.orm.jsonl

# ---------------------------------------------------------------------------------------
# 3. Out of distribution: longer expressions than any the policy and verifiers trained on.
$(ROOT)/$(XOUT)/ood/problems.jsonl:
	mkdir -p $(dir $@)/synth
	cd $(ROOT) && $(MATHVERIFY) data synth -o $(XOUT)/ood/synth --train-size 0 \
		--test-size $(OOD_SYNTH) --min-ops $(OOD_OPS) --max-ops $(OOD_OPS) --seed $(OOD_SEED)
	cd $(ROOT) && $(EXPERIMENTS) novel -i $(XOUT)/ood/synth/test.jsonl --exclude $(TRAIN) \
		--exclude $(TEST) --limit $(OOD_PROBLEMS) --prefix ood$(OOD_OPS)- -o $(target).part
	mv $@.part $@

$(ROOT)/$(XOUT)/ood/samples.jsonl: $(ROOT)/$(XOUT)/ood/problems.jsonl
	$(call xtimed,generate-ood,$(MATHVERIFY) generate --policy $(DEMO)/policy \
		-p $(XOUT)/ood/problems.jsonl -n $(OOD_N) --temperature $(TEMPERATURE) --seed $(SEED) \
		-o $(target).part --resume)
	mv $@.part $@

$(ROOT)/$(XOUT)/ood/samples.labeled.jsonl: $(ROOT)/$(XOUT)/ood/samples.jsonl
	cd $(ROOT) && $(MATHVERIFY) label --method exact -p $(XOUT)/ood/problems.jsonl \
		-i $(XOUT)/ood/samples.jsonl -o $(target).part
	mv $@.part $@

$(eval $(call xscore,ood/long.prm,$(DEMO)/prm,min,$(XOUT)/ood/samples.labeled.jsonl,$(XOUT)/ood/problems.jsonl))
$(eval $(call xscore,ood/long.orm,$(OUT)/orm,last,$(XOUT)/ood/samples.labeled.jsonl,$(XOUT)/ood/problems.jsonl))
$(eval $(call xscore,ood/short.orm,$(OUT)/orm,last,$(XTEST),$(TEST)))

ood: $(foreach f,long.prm long.orm short.orm,$(ROOT)/$(XOUT)/ood/$(f).jsonl) \
	$(ROOT)/$(DEMO)/samples.prm.jsonl

# ---------------------------------------------------------------------------------------
EXPERIMENTS.md: experiments.py active supervisor ood $(ROOT)/$(OUT)/diagnosis.md
	cd $(ROOT) && $(EXPERIMENTS) report $(OUT) --xout $(XOUT) --demo $(DEMO) \
		--section $(OUT)/diagnosis.md \
		$(foreach d,$(ACTIVE_DIRS),--active $(XOUT)/$(d)) --active-k "$(ACTIVE_K)" --random-share $(RANDOM_SHARE) --budget-problems $(BUDGET_PROBLEMS) \
		--ood-ops $(OOD_OPS) --seed $(SEED) \
		--results examples/letsverify/EXPERIMENTS.md.part --png-dir examples/letsverify \
		--json $(XOUT)/results.json
	mv $@.part $@

experiments: EXPERIMENTS.md
