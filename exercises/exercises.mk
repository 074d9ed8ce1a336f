# exercises.mk -- the learner's and the instructor's targets, included by
# the top-level Makefile. Each is a short script in scripts/.
#
#   make check-exercise EX=<id>   build and test one exercise, with hints
#   make watch EX=<id>            the same, again whenever a file is saved
#   make reset EX=<id>            back up the learner's files, restore the skeleton
#   make progress                 every exercise, its size, its state, the next one
#   make grade [SUBMISSION=<dir or tarball>] [STUDENT=name] [GRADE_DIR=out]
#   make grade-all SUBMISSIONS=<dir> [GRADE_DIR=out]   a roster
#                                 (EX=<id> grades that exercise only)
#   make handout [HANDOUT=...]    student tarball of HEAD without solutions/
#   make diff FROM=<dir> TO=<dir> what changed between two chapters
#   make check-exercises          (part of make check) every solution passes,
#                                 every skeleton and wrong answer fails
EXERCISES   := $(patsubst exercises/%/META,%,$(wildcard exercises/*/META))
GRADE_DIR   ?= grade
HANDOUT     ?= svrtut-handout.tar.gz

# The + hands make's job server to the builds the scripts start.
check-exercise: deps-quiet
	+@MAKE='$(MAKE)' ./scripts/check-exercise.sh '$(EX)'
watch: deps-quiet
	+@MAKE='$(MAKE)' ./scripts/watch.sh '$(EX)'
reset:
	@./scripts/reset.sh '$(EX)'
progress: deps-quiet
	+@MAKE='$(MAKE)' ./scripts/progress.sh
grade: deps-quiet
	+@MAKE='$(MAKE)' ./scripts/grade.py grade --out '$(GRADE_DIR)' \
	    $(if $(SUBMISSION),--submission '$(SUBMISSION)') \
	    $(if $(STUDENT),--student '$(STUDENT)') $(if $(EX),--only '$(EX)')
grade-all: deps-quiet
	+@MAKE='$(MAKE)' ./scripts/grade.py grade-all --out '$(GRADE_DIR)' \
	    $(if $(EX),--only '$(EX)') '$(SUBMISSIONS)'
handout:
	+@./scripts/handout.sh '$(HANDOUT)'
diff:
	@./scripts/diff.sh '$(FROM)' '$(TO)'

# One proof per exercise, so make -j2 check runs two at a time.
PROVES := $(addprefix prove-,$(EXERCISES))
check-exercises: $(PROVES)
$(PROVES): prove-%: deps-quiet
	@mkdir -p $(CHECK_RESULTS)
	+@MAKE='$(MAKE)' ./scripts/prove.sh $*

# make memcheck (the top Makefile) also runs each exercise's tests on its
# solution under valgrind, one target per exercise.
MEMCHECK_SOLUTIONS := $(addprefix memcheck-solution-,$(EXERCISES))
$(MEMCHECK_SOLUTIONS): memcheck-solution-%: deps-quiet
	+@MAKE='$(MAKE)' ./scripts/memcheck-solution.sh $*

clean-exercises:
	rm -rf exercises/.proof
	for e in $(EXERCISES); do $(MAKE) -C exercises/$$e clean || exit 1; done

.PHONY: check-exercise watch reset progress grade grade-all handout diff \
        check-exercises clean-exercises $(PROVES) $(MEMCHECK_SOLUTIONS)
clean: clean-exercises

# Optional extras, installed by `make deps WITH="..."` (scripts/deps.sh):
#   gperftools  its CPU profiler, for `make profile` (ch3-echo, ch3-profile)
#   inotify     inotifywait, so `make watch` reacts at once instead of polling
#   bear        for `make compile_commands.json` (clangd, editors)
ifneq ($(filter gperftools,$(WITH)),)
deps: deps-gperftools
endif
ifneq ($(filter inotify,$(WITH)),)
deps: deps-inotify
endif
ifneq ($(filter bear,$(WITH)),)
deps: deps-bear
endif
deps-gperftools:
	@./scripts/deps.sh optional libprofiler google-perftools \
	    libgoogle-perftools-dev
deps-inotify:
	@./scripts/deps.sh optional-command inotifywait inotify-tools
deps-bear:
	@./scripts/deps.sh optional-command bear bear
.PHONY: deps-gperftools deps-inotify deps-bear

# compile_commands.json for clangd: common/, every chapter and exercise,
# programs and test runners, built from clean under Bear, which records
# each compiler command.
RUNNERS := $(addprefix runner-,common $(CHAPTERS) $(addprefix exercises/,$(EXERCISES)))
compile_commands.json: deps-quiet
	@command -v bear >/dev/null 2>&1 || { \
	    echo "make compile_commands.json needs Bear: make deps WITH=bear" >&2; \
	    exit 1; }
	$(MAKE) clean >/dev/null
	bear --output $(CURDIR)/$@ -- $(MAKE) $(RUNNERS)
	@echo "wrote $@: $$(grep '"file"' $@ | sort -u | wc -l) source files"
$(RUNNERS): runner-%: common
	$(MAKE) -C $* all tests/runner
.PHONY: compile_commands.json $(RUNNERS)
