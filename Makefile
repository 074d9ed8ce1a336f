# svrtut -- top-level Makefile. See README.md.
#
#   make              build every chapter (and common/)
#   make check        run every test suite and exercise proof; exits
#                     non-zero on any failure, ends with a one-line count
#   make demo         build, then run each chapter's servers for a moment
#   make deps         install libevent, Check and pkg-config if missing
#   make fuzz         run each libFuzzer target FUZZ_SECONDS (fuzz/)
#   make memcheck     every Check suite under valgrind, the exercises'
#                     on their solutions
#   make soak         echosvr_v5 and echosvr_v6 under mixed load for
#                     SECONDS (60), md killed at random (soak/)
#   make bench        every benchmark, a report in bench/results/ (QUICK=1)
#   make bench-c10k   (bench-c100k, bench-c1m) 10,000 (100,000, 1,000,000)
#                     paced connections held, every echo checked
#   make ch3-echo     build one chapter (same as make -C ch3-echo)
#   make clean
# Knobs passed down to every sub-make: WERROR=1, SANITIZE=..., V=1.

# In course order (tutorial sections), not alphabetical: ch4-shm-stats
# (4.1) comes before ch4-mq (4.2-4.5).
CHAPTERS := ch3-echo ch3-timeout ch4-shm-stats ch4-mq ch5-cache
# Built and tested like a chapter: the baselines `make bench` measures
# the chapters' servers against (bench/README.md).
DIRS := $(CHAPTERS) bench
DEPS_PKGS := libevent-dev check pkg-config libssl-dev python3-websockets

all: $(CHAPTERS) build-bench

common: deps-quiet
	$(MAKE) -C common

# Chapters build after common/, so parallel sub-makes never race on it.
# (bench/ is built by `make all` or `make -C bench`: `make bench` runs
# the benchmarks.)
$(CHAPTERS) build-bench: common
$(CHAPTERS):
	$(MAKE) -C $@
build-bench:
	$(MAKE) -C bench

# One check target per directory, all after the build. Each records its
# result in CHECK_RESULTS (so do the exercise proofs), and make check
# ends with one line counting them.
CHECKS := $(addprefix check-,common $(DIRS))
export CHECK_RESULTS := $(CURDIR)/.check-results
# -k: one failing suite does not hide the results of the others.
check: deps
	$(MAKE) all
	@rm -rf $(CHECK_RESULTS) && mkdir -p $(CHECK_RESULTS)
	@$(MAKE) -k $(CHECKS) check-exercises check-tools; rc=$$?; \
	    ./scripts/check-summary.sh $(CHECK_RESULTS); exit $$rc
$(CHECKS): check-%:
	@mkdir -p $(CHECK_RESULTS)
	$(MAKE) -C $* check; rc=$$?; \
	    echo "$$([ $$rc -eq 0 ] && echo pass || echo fail) $*" \
	        >$(CHECK_RESULTS)/suite-$(subst /,-,$*); exit $$rc
# The scripts' own tests: grading, handout, diff, reset (scripts/test-tools.sh).
check-tools: deps-quiet
	@mkdir -p $(CHECK_RESULTS)
	+./scripts/test-tools.sh

demo: deps
	$(MAKE) all
	./scripts/demo.sh $(CHAPTERS)

# deps: silent when everything is there; otherwise installs (as root) or
# prints the exact command. A plain build only checks (deps-quiet).
deps:
	@./scripts/deps.sh install $(DEPS_PKGS)
deps-quiet:
	@./scripts/deps.sh check $(DEPS_PKGS)

# Reliability (SECURITY.md). fuzz: clang's libFuzzer over every parser of
# untrusted bytes; memcheck: every Check suite under valgrind. Each
# installs its tool first when it can (deps.sh optional-tool).
FUZZ_SECONDS ?= 30
FUZZ_PROBE := echo 'int LLVMFuzzerTestOneInput(void){return 0;}' | \
    clang -fsanitize=fuzzer -x c -o /dev/null -
fuzz: deps deps-fuzz
	$(MAKE) -C fuzz run FUZZ_SECONDS=$(FUZZ_SECONDS)
# MEMCHECK=1 is a build of its own (build.mk): the knob rebuilds. After
# the chapters, each exercise's tests on its solution
# (MEMCHECK_SOLUTIONS, exercises/exercises.mk).
MEMCHECKS := $(addprefix memcheck-,common $(DIRS))
memcheck: deps deps-valgrind
	$(MAKE) MEMCHECK=1 all
	$(MAKE) -k MEMCHECK=1 $(MEMCHECKS) $(MEMCHECK_SOLUTIONS)
$(MEMCHECKS): memcheck-%:
	$(MAKE) -C $* MEMCHECK=1 memcheck

# soak: the two-process servers side by side under mixed load while md
# is killed at random, then every byte, their memory and what they left
# checked (soak/soak.c). Not part of make check or CI: it loads the
# machine for SECONDS.
SECONDS ?= 60
soak: all
	$(MAKE) -C soak run SECONDS=$(SECONDS)

# `make deps WITH=fuzz` (or WITH=valgrind) also installs those tools.
ifneq ($(filter fuzz,$(WITH)),)
deps: deps-fuzz
endif
ifneq ($(filter valgrind,$(WITH)),)
deps: deps-valgrind
endif
deps-fuzz:
	@./scripts/deps.sh optional-tool "$(FUZZ_PROBE)" clang libclang-rt-dev
deps-valgrind:
	@./scripts/deps.sh optional-tool "valgrind --version" valgrind

# Every benchmark in one run, each figure beside its baseline, as a
# report in bench/results/<time>/ (bench/README.md). QUICK=1: a smoke run
# of under a minute. FIGURES=bench/figures also copies the charts there
# (the ones the READMEs show).
bench: all
	QUICK=$(QUICK) FIGURES=$(FIGURES) ./bench/run.sh

# The connection-scale benchmarks (ch4-mq/README.md, "Measure it"): each
# checks the limits it needs first and takes the benchmark lock per run.
SCALE_BENCHES := bench-c10k bench-c100k bench-c1m
$(SCALE_BENCHES): all
	$(MAKE) -C ch4-mq $@
.PHONY: $(SCALE_BENCHES)

# `make deps WITH=chromium` also installs Chromium, which the tests of
# exercises/ch4-websocket use as a real browser when it is there (CI does).
ifneq ($(filter chromium,$(WITH)),)
deps: deps-chromium
endif
deps-chromium:
	@./scripts/deps.sh optional-command chromium chromium
.PHONY: deps-chromium

# `make deps WITH=gnuplot` also installs gnuplot, which `make bench` uses
# to draw its charts (without it the report has the tables only).
ifneq ($(filter gnuplot,$(WITH)),)
deps: deps-gnuplot
endif
deps-gnuplot:
	@./scripts/deps.sh optional-command gnuplot gnuplot-nox
.PHONY: deps-gnuplot

clean:
	$(MAKE) -C common clean
	$(MAKE) -C fuzz clean
	$(MAKE) -C soak clean
	for c in $(DIRS); do $(MAKE) -C $$c clean || exit 1; done

.PHONY: all common build-bench check check-tools demo deps deps-quiet deps-fuzz \
        deps-valgrind bench clean fuzz memcheck soak \
        $(CHAPTERS) $(CHECKS) $(MEMCHECKS)

# The code follows .clang-format (STYLE.md).
SOURCES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	clang-format -i $(SOURCES)
format-check:
	@clang-format --dry-run --Werror $(SOURCES) && \
	    echo "$(words $(SOURCES)) files follow .clang-format"
.PHONY: format format-check

# Exercises: check-exercise, progress, grade, handout, diff, check-exercises.
include exercises/exercises.mk

print-chapters:
	@echo $(CHAPTERS)
.PHONY: print-chapters
