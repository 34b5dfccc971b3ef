# sharr - named shared-memory arrays, a forked worker pool, HDF5 in and out.
# `make help` lists the targets.  V=1 shows the commands.

VERSION  := 0.1.0
SOMAJOR  := 0

CC       ?= cc
CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wvla -Wformat=2
WERROR   ?= -Werror
PREFIX   ?= /usr/local
DESTDIR  ?=
PKG_CONFIG ?= pkg-config
PYTHON   ?= /usr/bin/python3

# Flags of the dependencies, from pkg-config once they are installed.  The
# `$(eval X := ...)` idiom runs pkg-config once, on first use, which is after
# `deps` has installed it on a fresh machine.
HDF5_CFLAGS ?= $(eval HDF5_CFLAGS := $$(shell $(PKG_CONFIG) --cflags hdf5 2>/dev/null || echo -I/usr/include/hdf5/serial))$(HDF5_CFLAGS)
HDF5_LIBS   ?= $(eval HDF5_LIBS := $$(shell $(PKG_CONFIG) --libs hdf5 2>/dev/null || echo -L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5))$(HDF5_LIBS)
BLAS_CFLAGS ?= $(eval BLAS_CFLAGS := $$(shell $(PKG_CONFIG) --cflags openblas 2>/dev/null))$(BLAS_CFLAGS)
BLAS_LIBS   ?= $(eval BLAS_LIBS := $$(shell $(PKG_CONFIG) --libs openblas 2>/dev/null || echo -lopenblas))$(BLAS_LIBS)
CRIT_LIBS   ?= $(eval CRIT_LIBS := $$(shell $(PKG_CONFIG) --libs criterion 2>/dev/null || echo -lcriterion))$(CRIT_LIBS)

DEP_LIBS  = $(HDF5_LIBS) $(BLAS_LIBS) -lz -lpthread -lm
ALL_CFLAGS = -std=c11 $(CFLAGS) $(WARN) $(WERROR) -Iinclude -Ilib -MMD -MP

Q := $(if $(V),,@)
B := build

LIB_SRC  := $(wildcard lib/*/*.c)
TOOL_SRC := $(wildcard tools/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
BENCH_SRC := $(wildcard tests/bench/*.c)
EXAMPLE_SRC := $(wildcard tests/examples/*.c)

LIB_OBJ  := $(LIB_SRC:lib/%.c=$(B)/lib/%.o)
TOOL_OBJ := $(TOOL_SRC:tools/%.c=$(B)/tools/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(B)/tests/%)
EXAMPLES := $(EXAMPLE_SRC:tests/examples/%.c=$(B)/examples/%)

SO_REAL  := lib/libsharr.so.$(VERSION)
SO_NAME  := libsharr.so.$(SOMAJOR)
STATIC   := lib/libsharr.a
SHARR    := tools/sharr

# Sanitizer build: its own objects, unit tests, tool and fuzz driver.
ASAN     := -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=undefined
A := $(B)/asan
ASAN_LIB_OBJ  := $(LIB_SRC:lib/%.c=$(A)/lib/%.o)
ASAN_TOOL_OBJ := $(TOOL_SRC:tools/%.c=$(A)/tools/%.o)
ASAN_TESTS    := $(TEST_SRC:tests/%.c=$(A)/tests/%)
ASAN_EXAMPLES := $(EXAMPLE_SRC:tests/examples/%.c=$(A)/examples/%)

FUZZ_SECONDS ?= 5

.PHONY: all deps test unit cli interop corpus readme fuzz check-asan demo bench install \
        uninstall clean help leftovers examples
.DEFAULT_GOAL := all

## all: build lib/libsharr.so, lib/libsharr.a and tools/sharr (default)
all: $(SO_REAL) lib/libsharr.so $(STATIC) $(SHARR) $(B)/sharr.pc

## deps: install the Debian packages sharr needs (only the missing ones)
deps:
	$(Q)sh tools/install-deps.sh

# Everything that compiles waits for `deps`, without being rebuilt by it.
$(LIB_OBJ) $(TOOL_OBJ) $(ASAN_LIB_OBJ) $(ASAN_TOOL_OBJ): | deps

# ops.c writes complex arithmetic out by hand; the flag covers the rest.
$(B)/lib/ops/ops.o $(A)/lib/ops/ops.o: EXTRA_CFLAGS := -fcx-limited-range

$(B)/lib/%.o: lib/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) $(EXTRA_CFLAGS) -fPIC -fvisibility=hidden \
	    -DSHARR_BUILDING $(HDF5_CFLAGS) $(BLAS_CFLAGS) -c $< -o $@

$(B)/tools/%.o: tools/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(SO_REAL): $(LIB_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -Wl,-soname,$(SO_NAME) $(LDFLAGS) -o $@ $^ $(DEP_LIBS)

lib/libsharr.so: $(SO_REAL)
	$(Q)ln -sf libsharr.so.$(VERSION) lib/$(SO_NAME)
	$(Q)ln -sf $(SO_NAME) $@

$(STATIC): $(LIB_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(SHARR): $(TOOL_OBJ) $(STATIC)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(TOOL_OBJ) $(STATIC) $(DEP_LIBS)

$(B)/sharr.pc: lib/sharr.pc.in Makefile
	@mkdir -p $(@D)
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@PRIVATE_LIBS@|$(DEP_LIBS)|' $< > $@

$(B)/tests/%: tests/%.c tests/testutil.h $(STATIC) | deps
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) $(HDF5_CFLAGS) $(BLAS_CFLAGS) -o $@ $< $(STATIC) \
	    $(CRIT_LIBS) $(DEP_LIBS)

# ---- tests ----

## test: build with -Werror and run unit, CLI, interop, corpus and fuzz tests
# The steps run one after another even under `make -j`: `sharr gc` in the
# CLI tests would take segments the unit tests are checking, and leftovers
# must come last.  Building before them may go in parallel.
test: all $(TESTS) $(EXAMPLES) $(B)/fuzz_segment
	$(Q)$(MAKE) --no-print-directory -j1 unit cli interop corpus readme \
	    examples fuzz leftovers

unit: $(TESTS)
	$(Q)sh tests/run-unit.sh $(TESTS)

cli: $(SHARR)
	$(Q)bash tests/cli/run.sh $(CURDIR)/$(SHARR)

interop: $(SHARR)
	$(Q)$(PYTHON) tests/interop/test_numpy.py $(CURDIR)/$(SHARR)
	$(Q)$(PYTHON) tests/interop/test_h5py.py $(CURDIR)/$(SHARR)
	$(Q)$(PYTHON) tests/interop/test_interrupted_save.py $(CURDIR)/$(SHARR)
	$(Q)$(PYTHON) tests/interop/test_save_target.py $(CURDIR)/$(SHARR)

# The tutorials' programs ported to C (tests/examples/*.c), each checking
# its own answer.
examples: $(EXAMPLES)
	$(Q)sh tests/examples/run.sh $(B)/examples

$(B)/examples/%: tests/examples/%.c $(STATIC) | deps
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(STATIC) $(DEP_LIBS)

$(A)/examples/%: tests/examples/%.c $(A)/libsharr.a | deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(ASAN) -o $@ $< $(A)/libsharr.a $(DEP_LIBS)

# The external HDF5 corpus, when ../shared/corpus/hdf5 is there.
corpus: $(SHARR)
	$(Q)$(PYTHON) tests/interop/test_corpus.py $(CURDIR)/$(SHARR)

readme: $(STATIC)
	$(Q)sh tests/readme_example.sh "$(CC)" $(STATIC) $(DEP_LIBS)

$(B)/fuzz_segment: tests/fuzz/fuzz_segment.c $(A)/libsharr.a
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(ASAN) -o $@ $< $(A)/libsharr.a $(DEP_LIBS)

## fuzz: run the segment-validation fuzz driver (FUZZ_SECONDS, default 5)
fuzz: $(B)/fuzz_segment
	$(Q)$(B)/fuzz_segment $(FUZZ_SECONDS)

# Every test names its segments t.<pid>.*: none may survive the run.
leftovers:
	$(Q)sh tests/leftovers.sh

$(A)/lib/%.o: lib/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC ASAN $<")
	$(Q)$(CC) $(ALL_CFLAGS) $(EXTRA_CFLAGS) $(ASAN) -DSHARR_BUILDING \
	    $(HDF5_CFLAGS) $(BLAS_CFLAGS) -c $< -o $@

$(A)/tools/%.o: tools/%.c
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(ASAN) -c $< -o $@

$(A)/libsharr.a: $(ASAN_LIB_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

$(A)/sharr: $(ASAN_TOOL_OBJ) $(A)/libsharr.a
	$(Q)$(CC) $(CFLAGS) $(ASAN) -o $@ $^ $(DEP_LIBS)

$(A)/tests/%: tests/%.c tests/testutil.h $(A)/libsharr.a | deps
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC ASAN $<")
	$(Q)$(CC) $(ALL_CFLAGS) $(HDF5_CFLAGS) $(BLAS_CFLAGS) $(ASAN) -o $@ $< \
	    $(A)/libsharr.a $(CRIT_LIBS) $(DEP_LIBS)

## check-asan: run the unit, CLI and corpus tests again under ASan + UBSan
check-asan: $(ASAN_TESTS) $(ASAN_EXAMPLES) $(A)/sharr
	$(Q)ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    sh tests/run-unit.sh $(ASAN_TESTS)
	$(Q)ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1 \
	    sh tests/examples/run.sh $(A)/examples
	$(Q)ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1 \
	    bash tests/cli/run.sh $(CURDIR)/$(A)/sharr
	$(Q)ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1 \
	    $(PYTHON) tests/interop/test_corpus.py $(CURDIR)/$(A)/sharr
	$(Q)sh tests/leftovers.sh

# ---- the demo and benchmarks ----

## demo: run the main job on the sample data in data/
demo: all
	$(Q)sh tools/demo.sh $(CURDIR)/$(SHARR)

BENCHES := $(BENCH_SRC:tests/bench/%.c=$(B)/bench/%)

$(B)/bench/%: tests/bench/%.c tests/bench/benchutil.h $(STATIC) | deps
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -fopenmp $(BLAS_CFLAGS) -o $@ $< $(STATIC) \
	    $(DEP_LIBS)

## bench: run the benchmarks and print ratios against their baselines
bench: all $(BENCHES)
	$(Q)for b in $(BENCHES); do $$b || exit 1; echo; done

# ---- install ----

## install: install header, libraries, tool and sharr.pc under DESTDIR/PREFIX
install: all
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib \
	    $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/sharr.h $(DESTDIR)$(PREFIX)/include/
	install -m 755 $(SO_REAL) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libsharr.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/$(SO_NAME)
	ln -sf $(SO_NAME) $(DESTDIR)$(PREFIX)/lib/libsharr.so
	install -m 644 $(STATIC) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(SHARR) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(B)/sharr.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/

## uninstall: remove what install put in place
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/sharr.h \
	    $(DESTDIR)$(PREFIX)/lib/libsharr.so* $(DESTDIR)$(PREFIX)/lib/libsharr.a \
	    $(DESTDIR)$(PREFIX)/bin/sharr $(DESTDIR)$(PREFIX)/lib/pkgconfig/sharr.pc

## clean: remove everything the build made
clean:
	rm -rf $(B) lib/libsharr.so* $(STATIC) $(SHARR)

## help: list the targets
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)

-include $(LIB_OBJ:.o=.d) $(TOOL_OBJ:.o=.d) $(ASAN_LIB_OBJ:.o=.d) \
         $(ASAN_TOOL_OBJ:.o=.d) $(wildcard $(B)/tests/*.d $(A)/tests/*.d $(B)/bench/*.d) \
         $(wildcard $(B)/examples/*.d $(A)/examples/*.d)
