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
#   make ch3-echo     build one chapter (same as make -C ch3-echo)
#   make clean
# Knobs passed down to every sub-make: WERROR=1, SANITIZE=..., V=1.

# In course order (tutorial sections), not alphabetical: ch4-shm-stats
# (4.1) comes before ch4-mq (4.2-4.5).
CHAPTERS := ch3-echo ch3-timeout ch4-shm-stats ch4-mq ch5-cache
DEPS_PKGS := libevent-dev check pkg-config libssl-dev python3-websockets

all: $(CHAPTERS)

common: deps-quiet
	$(MAKE) -C common

# Chapters build after common/, so parallel sub-makes never race on it.
$(CHAPTERS): common
	$(MAKE) -C $@

# One check target per directory, all after the build. Each records its
# result in CHECK_RESULTS (so do the exercise proofs), and make check
# ends with one line counting them.
CHECKS := $(addprefix check-,common $(CHAPTERS))
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
MEMCHECKS := $(addprefix memcheck-,common $(CHAPTERS))
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

# Chapters with a bench/ directory have a `bench` target.
BENCHES := $(patsubst %/bench/,bench-%,$(sort $(wildcard ch*/bench/)))
bench: $(BENCHES)
$(BENCHES): bench-%: all
	$(MAKE) -C $* bench

# `make deps WITH=chromium` also installs Chromium, which the tests of
# exercises/ch4-websocket use as a real browser when it is there (CI does).
ifneq ($(filter chromium,$(WITH)),)
deps: deps-chromium
endif
deps-chromium:
	@./scripts/deps.sh optional-command chromium chromium
.PHONY: deps-chromium

clean:
	$(MAKE) -C common clean
	$(MAKE) -C fuzz clean
	$(MAKE) -C soak clean
	for c in $(CHAPTERS); do $(MAKE) -C $$c clean || exit 1; done

.PHONY: all common check check-tools demo deps deps-quiet deps-fuzz \
        deps-valgrind bench clean fuzz memcheck soak \
        $(CHAPTERS) $(CHECKS) $(MEMCHECKS) $(BENCHES)

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
