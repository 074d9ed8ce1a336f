# testlib.mk -- included by every exercise Makefile after build.mk: links
# extest.c (failures that show the server's exit status and stderr) into
# the exercise's test runner.
EXTEST := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
CPPFLAGS += -I$(EXTEST)

tests/extest.o: $(EXTEST)/extest.c $(EXTEST)/extest.h $(FLAGS_STAMP)
	$(Q)$(CC) $(CPPFLAGS) -I$(COMMON)/tests $(ALL_CFLAGS) -c -o $@ $<
$(TEST_RUNNER): tests/extest.o
