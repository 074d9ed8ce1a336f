# build.mk -- compiler flags and rules shared by common/ and every chapter.
#
# A chapter Makefile sets PROGS (programs built from <prog>.c plus the
# objects in <prog>_OBJS) and includes this file. Knobs:
#   WERROR=1                     add -Werror (CI does)
#   SANITIZE=address,undefined   build and test under those sanitizers
#   SANITIZE=thread              ThreadSanitizer
#   MEMCHECK=1                   a build for valgrind (make memcheck)
#   V=1                          echo full commands
# Objects depend on .build-flags, so changing a knob rebuilds everything.

COMMON := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
TOP    := $(COMMON)/..

PKG_CONFIG ?= pkg-config
EVENT_CFLAGS := $(shell $(PKG_CONFIG) --cflags libevent 2>/dev/null)
EVENT_LIBS   := $(shell $(PKG_CONFIG) --libs libevent 2>/dev/null)
CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell $(PKG_CONFIG) --libs check 2>/dev/null)

ifeq ($(filter clean,$(MAKECMDGOALS)),)
ifeq ($(EVENT_LIBS),)
$(error pkg-config cannot find libevent: run 'make deps' in the top directory)
endif
ifeq ($(CHECK_LIBS),)
$(error pkg-config cannot find check: run 'make deps' in the top directory)
endif
endif

CC     ?= cc
OPT    ?= -O2 -g
WARN   := -Wall -Wextra -Wshadow -Wpointer-arith -Wcast-qual -Wwrite-strings \
          -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wvla \
          -Wundef
CFLAGS ?= $(OPT)
CPPFLAGS += -D_GNU_SOURCE -I$(COMMON) $(EVENT_CFLAGS) $(CHECK_CFLAGS)
ALL_CFLAGS = -std=c11 $(WARN) $(CFLAGS) -MMD -MP
ifeq ($(WERROR),1)
ALL_CFLAGS += -Werror
endif
ifneq ($(SANITIZE),)
# Sanitized programs run slower: Check and the harness stretch timeouts.
export CK_TIMEOUT_MULTIPLIER ?= 3
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -DSVRTUT_DEBUG=1
LDFLAGS += -fsanitize=$(SANITIZE)
endif
# valgrind, like ASan, keeps freed memory out of reuse for a while, and
# runs programs some 20 times slower: SVRTUT_DEBUG loosens the tests'
# memory bounds (and checks every pool) as in sanitizer builds.
ifeq ($(MEMCHECK),1)
export CK_TIMEOUT_MULTIPLIER ?= 10
ALL_CFLAGS += -DSVRTUT_DEBUG=1
endif
LDLIBS += $(EVENT_LIBS) -lm

LIBSVRTUT := $(COMMON)/libsvrtut.a
HARNESS   := $(COMMON)/tests/libharness.a

ifeq ($(V),1)
Q :=
else
Q := @
endif

# Rebuild when the flags change (the idea of git's GIT-CFLAGS).
FLAGS_STAMP := .build-flags
FLAGS_NOW := $(CC) $(ALL_CFLAGS) $(CPPFLAGS) $(LDFLAGS)
ifneq ($(file <$(FLAGS_STAMP)),$(FLAGS_NOW))
$(shell printf '%s' '$(FLAGS_NOW)' > $(FLAGS_STAMP))
endif

%.o: %.c $(FLAGS_STAMP)
	@echo "  CC      $(CURDIR:$(abspath $(TOP))/%=%)/$@"
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

# --- programs ---------------------------------------------------------------
# Extra objects of a program are plain prerequisites in the chapter Makefile:
#     io_conn: flows.o
$(PROGS): %: %.o $(LIBSVRTUT)
	@echo "  LINK    $(CURDIR:$(abspath $(TOP))/%=%)/$@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^) $(LDLIBS)

ifneq ($(abspath $(COMMON)),$(CURDIR))
$(LIBSVRTUT): FORCE
	$(Q)$(MAKE) --no-print-directory -C $(COMMON) lib
$(HARNESS): FORCE
	$(Q)$(MAKE) --no-print-directory -C $(COMMON) harness
endif

# --- tests ------------------------------------------------------------------
# Every tests/check_<name>.c exports Suite *<name>_suite(void); the runner
# is generated from the file names, so adding a suite is adding a file.
TEST_SRCS   := $(wildcard tests/check_*.c)
TEST_OBJS   := $(TEST_SRCS:.c=.o) tests/runner_main.o
TEST_RUNNER := tests/runner

tests/suites.inc: $(TEST_SRCS)
	$(Q)printf 'SUITE(%s)\n' $(patsubst tests/check_%.c,%,$(TEST_SRCS)) > $@

tests/runner_main.o: $(COMMON)/tests/runner_main.c tests/suites.inc $(FLAGS_STAMP)
	$(Q)$(CC) $(CPPFLAGS) -Itests -I$(COMMON)/tests $(ALL_CFLAGS) -c -o $@ $<

# Suite constructors are found by name, not through a header.
tests/%.o: tests/%.c $(FLAGS_STAMP)
	@echo "  CC      $(CURDIR:$(abspath $(TOP))/%=%)/$@"
	$(Q)$(CC) $(CPPFLAGS) -I$(COMMON)/tests $(ALL_CFLAGS) \
	    -Wno-missing-prototypes -c -o $@ $<

$(TEST_RUNNER): $(TEST_OBJS) $(TEST_EXTRA_OBJS) $(HARNESS) $(LIBSVRTUT)
	@echo "  LINK    $(CURDIR:$(abspath $(TOP))/%=%)/$@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^) $(CHECK_LIBS) $(LDLIBS)

# Helper programs the tests start: TEST_PROGS names tests/<prog>.c files,
# linked like the runner but without Check.
TEST_PROG_BINS := $(addprefix tests/,$(TEST_PROGS))
$(TEST_PROG_BINS): tests/%: tests/%.o $(TEST_EXTRA_OBJS) $(HARNESS) $(LIBSVRTUT)
	@echo "  LINK    $(CURDIR:$(abspath $(TOP))/%=%)/$@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^) $(LDLIBS)

# Helpers from common/tests the tests start, built into this directory's
# tests/ with the runner: TEST_HELPERS := tests/badecho (a faulty echo
# server for the tests of clients).
tests/badecho: $(COMMON)/tests/badecho.c $(FLAGS_STAMP)
	@echo "  CC      $(CURDIR:$(abspath $(TOP))/%=%)/$@"
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $<
$(TEST_RUNNER): $(TEST_HELPERS)

# The runner reads CK_RUN_SUITE, CK_RUN_CASE, CK_FORK and CK_VERBOSITY.
# CHECK_UNDER runs it under a tool (memcheck below).
check: all $(TEST_RUNNER) $(TEST_PROG_BINS)
	$(Q)$(CHECK_UNDER) ./$(TEST_RUNNER)

# The suite under valgrind (make memcheck, MEMCHECK=1): check, with every
# prerequisite a chapter gives it. Check's fork mode stays on: valgrind
# follows each forked test, and the programs a test starts
# (--trace-children; system tools skipped), so a memory error or a leak
# in any of them makes that process exit 99 and its test fail.
VALGRIND ?= valgrind
VALGRIND_FLAGS := --quiet --vgdb=no --error-exitcode=99 --leak-check=full \
    --errors-for-leak-kinds=definite,indirect,possible \
    --trace-children=yes --trace-children-skip='/bin/*,/usr/*,/sbin/*'
# SVRTUT_MEMCHECK leaves out the suites' thread-race cases: valgrind runs
# one thread at a time, so a reader racing a writer thread may never see
# it move (those cases are ThreadSanitizer's, and run in every other
# build). It leaves out the descriptor-limit cases too: valgrind gives
# the programs it runs a descriptor limit of its own.
memcheck:
	$(Q)SVRTUT_MEMCHECK=1 $(MAKE) --no-print-directory check \
	    CHECK_UNDER="$(VALGRIND) $(VALGRIND_FLAGS)"

clean:
	rm -f *.o *.d tests/*.o tests/*.d $(PROGS) $(TEST_RUNNER) \
	      $(TEST_PROG_BINS) $(TEST_HELPERS) tests/suites.inc $(FLAGS_STAMP) \
	      $(CLEAN_EXTRA)

.PHONY: all check memcheck clean FORCE
FORCE:

-include $(wildcard *.d tests/*.d)
