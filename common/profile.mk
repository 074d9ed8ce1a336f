# profile.mk -- `make profile` for a chapter or exercise Makefile, included
# after build.mk. Set PROFILE_PROG (the server) and PROFILE_OBJS (its
# objects). The server is built again into prof/ with frame pointers, and
# linked with gperftools' CPU profiler when pkg-config finds libprofiler
# (package libgoogle-perftools-dev; `make deps` offers it), so the normal
# build is untouched. scripts/profile.sh then runs it under load (perf
# record when gperftools is missing) and prints the top functions.
# Knobs: OPT (e.g. OPT=-O0 to see the code as written), PROFILE_SECONDS.
PROFILER_LIBS := $(shell $(PKG_CONFIG) --libs libprofiler 2>/dev/null)
PROFILER := $(if $(PROFILER_LIBS),gperftools,perf)

prof/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p prof
	@echo "  CC      $(CURDIR:$(abspath $(TOP))/%=%)/$@ (profiling)"
	$(Q)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -fno-omit-frame-pointer -c -o $@ $<

# --no-as-needed: nothing calls the profiler, it starts itself when
# CPUPROFILE is set, so the linker must keep it anyway.
prof/$(PROFILE_PROG): $(addprefix prof/,$(PROFILE_OBJS)) $(LIBSVRTUT)
	@echo "  LINK    $(CURDIR:$(abspath $(TOP))/%=%)/$@ ($(PROFILER))"
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter %.o %.a,$^) \
	    $(if $(PROFILER_LIBS),-Wl$(,)--no-as-needed $(PROFILER_LIBS) \
	    -Wl$(,)--as-needed) $(LDLIBS)

profile: prof/$(PROFILE_PROG)
	$(Q)$(TOP)/scripts/profile.sh $(PROFILER) prof/$(PROFILE_PROG)

, := ,
CLEAN_EXTRA += -r prof
.PHONY: profile
-include $(wildcard prof/*.d)
