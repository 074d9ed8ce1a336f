# exercises.mk -- the learner's and the instructor's targets, included by
# the top-level Makefile. The work is done by scripts/exercise.sh.
#
#   make check-exercise EX=<id>   build and test one exercise, with hints
#   make progress                 every exercise, its state, the next one
#   make grade [GRADE_DIR=.]      points per test case; grade.tap, grade.json
#   make handout [HANDOUT=...]    student tarball without solutions/, checked
#   make diff FROM=<dir> TO=<dir> what changed between two chapters
#   make check-exercises          (part of make check) every solution passes,
#                                 every skeleton builds and fails
EXERCISE_SH := ./scripts/exercise.sh
EXERCISES   := $(patsubst exercises/%/META,%,$(wildcard exercises/*/META))
GRADE_DIR   ?= .
HANDOUT     ?= svrtut-handout.tar.gz

# The + hands make's job server to the builds the script starts.
check-exercise: deps-quiet
	+@MAKE='$(MAKE)' $(EXERCISE_SH) check '$(EX)'
progress: deps-quiet
	+@MAKE='$(MAKE)' $(EXERCISE_SH) progress
grade: deps-quiet
	+@MAKE='$(MAKE)' $(EXERCISE_SH) grade '$(GRADE_DIR)'
handout:
	+@$(EXERCISE_SH) handout '$(HANDOUT)'
diff:
	@$(EXERCISE_SH) diff '$(FROM)' '$(TO)'

# One proof per exercise, so make -j2 check runs two at a time.
PROVES := $(addprefix prove-,$(EXERCISES))
check-exercises: $(PROVES)
$(PROVES): prove-%: deps-quiet
	+@MAKE='$(MAKE)' $(EXERCISE_SH) prove $*

clean-exercises:
	rm -rf exercises/.proof
	for e in $(EXERCISES); do $(MAKE) -C exercises/$$e clean || exit 1; done

.PHONY: check-exercise progress grade handout diff check-exercises \
        clean-exercises $(PROVES)
clean: clean-exercises

# `make deps WITH=gperftools` also installs gperftools' CPU profiler, used
# by `make profile` (ch3-echo, exercises/ch3-profile) instead of perf.
ifneq ($(filter gperftools,$(WITH)),)
deps: deps-gperftools
endif
deps-gperftools:
	@./scripts/deps.sh optional libprofiler google-perftools \
	    libgoogle-perftools-dev
.PHONY: deps-gperftools
