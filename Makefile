# sharr - named shared-memory arrays, a forked worker pool, HDF5 in and out.
# `make help` lists the targets.  V=1 shows the commands.

VERSION  := 0.1.0
SOMAJOR  := 0

CC       ?= cc
CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wvla -Wformat=2
WERROR   ?= -Werror
PKG_CONFIG ?= pkg-config
PYTHON   ?= /usr/bin/python3

# Installation directories (GNU names, upper case).  Any of them may be
# given to `make install`, e.g. Debian's LIBDIR=$(PREFIX)/lib/x86_64-linux-gnu;
# sharr.pc, sharr-h5.pc and the CMake files are written at install time
# from the values given then.  The one value compiled into the tool (where
# it finds its HDF5 helper) is rebuilt when it changes: see build/dirs.h.
PREFIX   ?= /usr/local
DESTDIR  ?=
EXEC_PREFIX ?= $(PREFIX)
BINDIR   ?= $(EXEC_PREFIX)/bin
LIBDIR   ?= $(EXEC_PREFIX)/lib
LIBEXECDIR ?= $(EXEC_PREFIX)/libexec
INCLUDEDIR ?= $(PREFIX)/include
DATAROOTDIR ?= $(PREFIX)/share
MANDIR   ?= $(DATAROOTDIR)/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CMAKEDIR ?= $(LIBDIR)/cmake/sharr
# bash-completion loads completions from $XDG_DATA_DIRS/bash-completion/
# completions, /usr/local/share and /usr/share by default: for another
# PREFIX add PREFIX/share to XDG_DATA_DIRS, or source the file.
BASHCOMPDIR ?= $(DATAROOTDIR)/bash-completion/completions
PKGLIBEXECDIR = $(LIBEXECDIR)/sharr
# The Python module: Debian's python3 searches /usr/lib/python3/dist-packages
# and /usr/local/lib/python3/dist-packages (PREFIX /usr and /usr/local).
PYTHONDIR ?= $(PREFIX)/lib/python3/dist-packages

# OpenBLAS is loaded at run time (lib/ops/blas.c), by this name.
BLAS_SONAME ?= libopenblas.so.0

# Flags of the dependencies, from pkg-config once they are installed.
# HDF5 is named hdf5-serial: installing libhdf5-openmpi-dev (make deps-mpi)
# repoints the bare hdf5.pc to the MPI flavour, which the default build
# must never pick up.  The
# `$(eval X := ...)` idiom runs pkg-config once, on first use, which is after
# `deps` has installed it on a fresh machine.
HDF5_CFLAGS ?= $(eval HDF5_CFLAGS := $$(shell $(PKG_CONFIG) --cflags hdf5-serial 2>/dev/null || $(PKG_CONFIG) --cflags hdf5 2>/dev/null || echo -I/usr/include/hdf5/serial))$(HDF5_CFLAGS)
HDF5_LIBS   ?= $(eval HDF5_LIBS := $$(shell $(PKG_CONFIG) --libs hdf5-serial 2>/dev/null || $(PKG_CONFIG) --libs hdf5 2>/dev/null || echo -L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5))$(HDF5_LIBS)
BLAS_CFLAGS ?= $(eval BLAS_CFLAGS := $$(shell $(PKG_CONFIG) --cflags openblas 2>/dev/null))$(BLAS_CFLAGS)
BLAS_LIBS   ?= $(eval BLAS_LIBS := $$(shell $(PKG_CONFIG) --libs openblas 2>/dev/null || echo -lopenblas))$(BLAS_LIBS)
CRIT_LIBS   ?= $(eval CRIT_LIBS := $$(shell $(PKG_CONFIG) --libs criterion 2>/dev/null || echo -lcriterion))$(CRIT_LIBS)

# The pkg-config module of HDF5 that sharr-h5.pc requires: Debian's serial
# build is hdf5-serial (hdf5 is an alias of it).
HDF5_PC ?= $(eval HDF5_PC := $$(shell $(PKG_CONFIG) --exists hdf5-serial 2>/dev/null && echo hdf5-serial || echo hdf5))$(HDF5_PC)

# libsharr needs only libc (OpenBLAS is loaded on first use); libsharr-h5
# adds HDF5, libdeflate, liblz4 and zlib.  Tests and benchmarks link OpenBLAS too: they call it.
CORE_LIBS = -lpthread -lm -ldl
H5_LIBS   = $(HDF5_LIBS) -ldeflate -llz4 -lz
DEP_LIBS  = $(H5_LIBS) $(BLAS_LIBS) $(CORE_LIBS)
ALL_CFLAGS = -std=c11 $(CPPFLAGS) $(CFLAGS) $(WARN) $(WERROR) -Iinclude -Ilib -MMD -MP

Q := $(if $(V),,@)
B := build

# Two libraries: libsharr (every layer but HDF5) and libsharr-h5 (the
# HDF5 files of lib/io), so that only what uses HDF5 loads it.
# lib/mpi/ and tools/sharr_mpi.c are the MPI flavour: tools/mpi.mk builds them.
LIB_SRC  := $(filter-out lib/mpi/%,$(wildcard lib/*/*.c))
H5_SRC   := $(filter lib/io/h5%.c,$(LIB_SRC))
CORE_SRC := $(filter-out $(H5_SRC),$(LIB_SRC))
TOOL_SRC := $(filter-out tools/sharr_mpi.c,$(wildcard tools/*.c))
# The tool: `sharr` without HDF5, and its HDF5 helper `sharr-h5`.
TOOL_H5_SRC   := tools/h5main.c tools/cmd_h5.c tools/cli.c
TOOL_CORE_SRC := $(filter-out tools/h5main.c tools/cmd_h5.c,$(TOOL_SRC))
TEST_SRC := $(wildcard tests/test_*.c)
BENCH_SRC := $(wildcard tests/bench/*.c)
EXAMPLE_SRC := $(wildcard tests/examples/*.c)

LIB_OBJ  := $(LIB_SRC:lib/%.c=$(B)/lib/%.o)
CORE_OBJ := $(CORE_SRC:lib/%.c=$(B)/lib/%.o)
H5_OBJ   := $(H5_SRC:lib/%.c=$(B)/lib/%.o)
TOOL_OBJ := $(TOOL_SRC:tools/%.c=$(B)/tools/%.o)
TOOL_CORE_OBJ := $(TOOL_CORE_SRC:tools/%.c=$(B)/tools/%.o)
TOOL_H5_OBJ   := $(TOOL_H5_SRC:tools/%.c=$(B)/tools/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(B)/tests/%)
EXAMPLES := $(EXAMPLE_SRC:tests/examples/%.c=$(B)/examples/%)

SO_REAL  := lib/libsharr.so.$(VERSION)
SO_NAME  := libsharr.so.$(SOMAJOR)
STATIC   := lib/libsharr.a
H5_SO_REAL := lib/libsharr-h5.so.$(VERSION)
H5_SO_NAME := libsharr-h5.so.$(SOMAJOR)
H5_STATIC  := lib/libsharr-h5.a
# Everything a program that uses both parts links, in link order.
STATICS  := $(H5_STATIC) $(STATIC)
SHARR    := tools/sharr
SHARR_H5 := tools/sharr-h5

# Sanitizer build: its own objects, unit tests, tool and fuzz driver.
ASAN     := -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=undefined
A := $(B)/asan
ASAN_LIB_OBJ  := $(LIB_SRC:lib/%.c=$(A)/lib/%.o)
ASAN_CORE_OBJ := $(CORE_SRC:lib/%.c=$(A)/lib/%.o)
ASAN_H5_OBJ   := $(H5_SRC:lib/%.c=$(A)/lib/%.o)
ASAN_TOOL_OBJ := $(TOOL_SRC:tools/%.c=$(A)/tools/%.o)
ASAN_TESTS    := $(TEST_SRC:tests/%.c=$(A)/tests/%)
ASAN_EXAMPLES := $(EXAMPLE_SRC:tests/examples/%.c=$(A)/examples/%)

FUZZ_SECONDS ?= 5

.PHONY: all deps test unit cli interop corpus readme docs install-check fuzz \
        check-asan demo bench install uninstall clean help leftovers FORCE \
        examples
.DEFAULT_GOAL := all

## all: build lib/libsharr{,-h5}.{so,a}, tools/sharr and tools/sharr-h5 (default)
all: $(SO_REAL) lib/libsharr.so $(STATIC) $(H5_SO_REAL) lib/libsharr-h5.so \
     $(H5_STATIC) $(SHARR) $(SHARR_H5)

## deps: install the Debian packages sharr needs (only the missing ones)
deps:
	$(Q)sh tools/install-deps.sh

# Everything that compiles waits for `deps`, without being rebuilt by it.
$(LIB_OBJ) $(TOOL_OBJ) $(ASAN_LIB_OBJ) $(ASAN_TOOL_OBJ): | deps

# ops.c writes complex arithmetic out by hand; the flag covers the rest.
$(B)/lib/ops/ops.o $(A)/lib/ops/ops.o: EXTRA_CFLAGS := -fcx-limited-range

# The expression engine rounds as NumPy does: no fused multiply-adds.  Its
# loops are vectorized (-O3; errno is never read, so sqrt need not set it).
$(B)/lib/ops/expr_loops.o $(A)/lib/ops/expr_loops.o: \
    EXTRA_CFLAGS := -O3 -ffp-contract=off -fno-math-errno

$(B)/lib/ops/blas.o $(A)/lib/ops/blas.o: \
    EXTRA_CFLAGS := -DSHARR_BLAS_SONAME='"$(BLAS_SONAME)"'

$(B)/lib/%.o: lib/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) $(EXTRA_CFLAGS) -fPIC -fvisibility=hidden \
	    -DSHARR_BUILDING $(HDF5_CFLAGS) $(BLAS_CFLAGS) -c $< -o $@

$(B)/tools/%.o: tools/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -I$(B) -c $< -o $@

# Where the tool looks for its HDF5 helper, relative to itself (BINDIR to
# PKGLIBEXECDIR): rewritten only when that changes, so `make install
# PREFIX=...` after `make` rebuilds nothing, and BINDIR=... only helper.o.
HELPER_REL = $(shell realpath -m --relative-to='$(BINDIR)' '$(PKGLIBEXECDIR)')
$(B)/dirs.h: FORCE
	@mkdir -p $(@D)
	@printf '#define SHARR_HELPER_REL "%s"\n' '$(HELPER_REL)' > $@.new
	@cmp -s $@.new $@ 2>/dev/null && rm -f $@.new || mv $@.new $@
$(B)/tools/helper.o $(A)/tools/helper.o: $(B)/dirs.h

$(B)/libsharr.map: lib/libsharr.map.in Makefile
	@mkdir -p $(@D)
	$(Q)sed 's|@VERSION@|$(VERSION)|' $< > $@

# -z defs: every symbol resolved at link time, so a CBLAS or HDF5 call that
# slipped into the wrong library fails the build, not a user's program.
$(SO_REAL): $(CORE_OBJ) $(B)/libsharr.map
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -Wl,-soname,$(SO_NAME) -Wl,-z,defs \
	    -Wl,--version-script=$(B)/libsharr.map $(LDFLAGS) -o $@ \
	    $(CORE_OBJ) $(CORE_LIBS)

lib/libsharr.so: $(SO_REAL)
	$(Q)ln -sf libsharr.so.$(VERSION) lib/$(SO_NAME)
	$(Q)ln -sf $(SO_NAME) $@

$(H5_SO_REAL): $(H5_OBJ) $(SO_REAL)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -Wl,-soname,$(H5_SO_NAME) -Wl,-z,defs $(LDFLAGS) \
	    -o $@ $(H5_OBJ) $(SO_REAL) $(H5_LIBS) $(CORE_LIBS)

lib/libsharr-h5.so: $(H5_SO_REAL)
	$(Q)ln -sf libsharr-h5.so.$(VERSION) lib/$(H5_SO_NAME)
	$(Q)ln -sf $(H5_SO_NAME) $@

$(STATIC): $(CORE_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(H5_STATIC): $(H5_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(SHARR): $(TOOL_CORE_OBJ) $(STATIC)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(TOOL_CORE_OBJ) $(STATIC) \
	    $(CORE_LIBS)

$(SHARR_H5): $(TOOL_H5_OBJ) $(STATICS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(TOOL_H5_OBJ) $(STATICS) \
	    $(H5_LIBS) $(CORE_LIBS)

$(B)/tests/%: tests/%.c tests/testutil.h tests/suite_pool.h $(STATICS) | deps
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) $(HDF5_CFLAGS) $(BLAS_CFLAGS) -o $@ $< \
	    $(STATICS) $(CRIT_LIBS) $(DEP_LIBS)

# ---- tests ----

## test: build with -Werror and run unit, CLI, interop, corpus, docs, install and fuzz tests
# The steps run one after another even under `make -j`: `sharr gc` in the
# CLI tests would take segments the unit tests are checking, and leftovers
# must come last.  Building before them may go in parallel.
test: all $(TESTS) $(EXAMPLES) $(B)/fuzz_segment $(B)/fuzz_chunk
	$(Q)$(MAKE) --no-print-directory -j1 unit cli interop corpus readme \
	    docs install-check examples fuzz leftovers

unit: $(TESTS)
	$(Q)sh tests/run-unit.sh $(TESTS)

cli: $(SHARR) $(SHARR_H5)
	$(Q)bash tests/cli/run.sh $(CURDIR)/$(SHARR)

interop: $(SHARR) $(SHARR_H5) lib/libsharr.so
	$(Q)$(PYTHON) tests/interop/test_numpy.py $(CURDIR)/$(SHARR)
	$(Q)$(PYTHON) tests/interop/test_edges.py $(CURDIR)/$(SHARR)
	$(Q)$(PYTHON) tests/interop/test_jobs.py $(CURDIR)/$(SHARR)
	$(Q)$(PYTHON) tests/interop/test_h5py.py $(CURDIR)/$(SHARR)
	$(Q)$(PYTHON) tests/interop/test_empty.py $(CURDIR)/$(SHARR)
	$(Q)$(PYTHON) tests/interop/test_chunks.py $(CURDIR)/$(SHARR)
	$(Q)$(PYTHON) tests/interop/test_interrupted_save.py $(CURDIR)/$(SHARR)
	$(Q)$(PYTHON) tests/interop/test_save_target.py $(CURDIR)/$(SHARR)
	$(Q)$(PYTHON) tests/interop/test_pymodule.py $(CURDIR)/$(SHARR)
	$(Q)$(PYTHON) tests/interop/test_eval.py $(CURDIR)/$(SHARR)

# The tutorials' programs ported to C (tests/examples/*.c), each checking
# its own answer.
examples: $(EXAMPLES)
	$(Q)sh tests/examples/run.sh $(B)/examples

$(B)/examples/%: tests/examples/%.c $(STATIC) | deps
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(STATIC) $(CORE_LIBS)

$(A)/examples/%: tests/examples/%.c $(A)/libsharr.a | deps
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(ASAN) -o $@ $< $(A)/libsharr.a $(CORE_LIBS)

# The external HDF5 corpus, when ../shared/corpus/hdf5 is there.
corpus: $(SHARR) $(SHARR_H5)
	$(Q)$(PYTHON) tests/interop/test_corpus.py $(CURDIR)/$(SHARR)

# The README's in-tree build lines, run as written.
readme: $(STATICS)
	$(Q)sh tests/readme_example.sh "$(CC)"

# The man page renders cleanly and lists what --help lists; the bash
# completion offers subcommands, options, dtypes and array names.
docs: $(SHARR) $(SHARR_H5)
	$(Q)bash tests/docs.sh $(CURDIR)/$(SHARR)

# make install into temporary prefixes (and DESTDIR), programs built
# against them with pkg-config (shared, --static) and CMake, make uninstall.
install-check: all
	$(Q)INSTALL_MPI=no bash tests/install.sh "$(MAKE)" "$(CC)"

$(B)/fuzz_segment: tests/fuzz/fuzz_segment.c tests/fuzz/fuzzutil.h $(A)/libsharr.a
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(ASAN) -o $@ $< $(A)/libsharr.a $(CORE_LIBS)

# The chunk decoder of HDF5 loads (lib/io/h5chunk.c) needs no HDF5.
$(B)/fuzz_chunk: tests/fuzz/fuzz_chunk.c tests/fuzz/fuzzutil.h $(A)/libsharr-h5.a $(A)/libsharr.a
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(ASAN) -o $@ $< $(A)/libsharr-h5.a \
	    $(A)/libsharr.a -ldeflate -llz4 -lz $(CORE_LIBS)

## fuzz: run the segment-validation and chunk-decoder fuzz drivers (FUZZ_SECONDS each, default 5)
fuzz: $(B)/fuzz_segment $(B)/fuzz_chunk
	$(Q)$(B)/fuzz_segment $(FUZZ_SECONDS)
	$(Q)$(B)/fuzz_chunk $(FUZZ_SECONDS)

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
	$(Q)$(CC) $(ALL_CFLAGS) $(ASAN) -I$(B) -c $< -o $@

$(A)/libsharr.a: $(ASAN_CORE_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

$(A)/libsharr-h5.a: $(ASAN_H5_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

$(A)/sharr: $(TOOL_CORE_SRC:tools/%.c=$(A)/tools/%.o) $(A)/libsharr.a
	$(Q)$(CC) $(CFLAGS) $(ASAN) -o $@ $^ $(CORE_LIBS)

$(A)/sharr-h5: $(TOOL_H5_SRC:tools/%.c=$(A)/tools/%.o) $(A)/libsharr-h5.a \
               $(A)/libsharr.a
	$(Q)$(CC) $(CFLAGS) $(ASAN) -o $@ $^ $(H5_LIBS) $(CORE_LIBS)

$(A)/tests/%: tests/%.c tests/testutil.h tests/suite_pool.h $(A)/libsharr.a $(A)/libsharr-h5.a | deps
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC ASAN $<")
	$(Q)$(CC) $(ALL_CFLAGS) $(HDF5_CFLAGS) $(BLAS_CFLAGS) $(ASAN) -o $@ $< \
	    $(A)/libsharr-h5.a $(A)/libsharr.a $(CRIT_LIBS) $(DEP_LIBS)

## check-asan: run the unit, CLI, corpus, eval and Python-module tests again under ASan + UBSan
# The Python module's tests run with the ASan tool as their C side; the
# module itself loads the plain lib/libsharr.so (an ASan library loads into
# a Python that is not built with ASan only with LD_PRELOAD of libasan, and
# the ASan objects are not built -fPIC).
check-asan: $(ASAN_TESTS) $(ASAN_EXAMPLES) $(A)/sharr $(A)/sharr-h5 \
            lib/libsharr.so
	$(Q)ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    sh tests/run-unit.sh $(ASAN_TESTS)
	$(Q)ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1 \
	    sh tests/examples/run.sh $(A)/examples
	$(Q)ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1 \
	    bash tests/cli/run.sh $(CURDIR)/$(A)/sharr
	$(Q)ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1 \
	    $(PYTHON) tests/interop/test_corpus.py $(CURDIR)/$(A)/sharr
	$(Q)ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1 \
	    $(PYTHON) tests/interop/test_pymodule.py $(CURDIR)/$(A)/sharr
	$(Q)ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1 \
	    SHARR_EVAL_CASES=300 \
	    $(PYTHON) tests/interop/test_eval.py $(CURDIR)/$(A)/sharr
	$(Q)sh tests/leftovers.sh

# ---- the demo and benchmarks ----

## demo: run the main job on the sample data in data/
demo: all
	$(Q)sh tools/demo.sh $(CURDIR)/$(SHARR)

BENCHES := $(BENCH_SRC:tests/bench/%.c=$(B)/bench/%)

$(B)/bench/%: tests/bench/%.c tests/bench/benchutil.h $(STATICS) | deps
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -fopenmp $(BLAS_CFLAGS) -o $@ $< $(STATICS) \
	    $(DEP_LIBS)

## bench: run the benchmarks and print ratios against their baselines
bench: all $(BENCHES)
	$(Q)for b in $(BENCHES); do SHARR=$(CURDIR)/$(SHARR) $$b || exit 1; \
	    echo; done

# ---- install ----

# What install puts in place (without DESTDIR); uninstall removes exactly
# this, and the two directories that are sharr's own.
INSTALLED = $(BINDIR)/sharr $(PKGLIBEXECDIR)/sharr-h5 \
    $(INCLUDEDIR)/sharr.h \
    $(LIBDIR)/libsharr.so.$(VERSION) $(LIBDIR)/$(SO_NAME) \
    $(LIBDIR)/libsharr.so $(LIBDIR)/libsharr.a \
    $(LIBDIR)/libsharr-h5.so.$(VERSION) $(LIBDIR)/$(H5_SO_NAME) \
    $(LIBDIR)/libsharr-h5.so $(LIBDIR)/libsharr-h5.a \
    $(PKGCONFIGDIR)/sharr.pc $(PKGCONFIGDIR)/sharr-h5.pc \
    $(CMAKEDIR)/sharrConfig.cmake $(CMAKEDIR)/sharrConfigVersion.cmake \
    $(MANDIR)/man1/sharr.1 $(BASHCOMPDIR)/sharr $(PYTHONDIR)/sharr.py

# sharr.pc and sharr-h5.pc name their directories relative to ${prefix}
# where they lie inside it (so pkg-config --define-prefix can relocate
# the default layout, PREFIX/lib/pkgconfig; not a LIBDIR two levels deeper);
# the CMake files find theirs relative to their own location.
PC_EXEC_PREFIX = $(if $(filter $(PREFIX),$(EXEC_PREFIX)),$${prefix},$(EXEC_PREFIX))
PC_LIBDIR = $(patsubst $(EXEC_PREFIX)/%,$${exec_prefix}/%,$(LIBDIR))
PC_INCLUDEDIR = $(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))
REL_FROM_CMAKE = $(shell realpath -m --relative-to='$(CMAKEDIR)' '$(1)')
SUBST = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@EXEC_PREFIX@|$(PC_EXEC_PREFIX)|g' \
    -e 's|@LIBDIR@|$(PC_LIBDIR)|g' -e 's|@INCLUDEDIR@|$(PC_INCLUDEDIR)|g' \
    -e 's|@VERSION@|$(VERSION)|g' -e 's|@SOMAJOR@|$(SOMAJOR)|g' \
    -e 's|@HDF5_PC@|$(HDF5_PC)|g' -e 's|@BLAS_SONAME@|$(BLAS_SONAME)|g' \
    -e 's|@CMAKE_REL_LIBDIR@|$(call REL_FROM_CMAKE,$(LIBDIR))|g' \
    -e 's|@CMAKE_REL_INCLUDEDIR@|$(call REL_FROM_CMAKE,$(INCLUDEDIR))|g' \
    -e 's|@SHARR_LIBRARY@|$(LIBDIR)/$(SO_NAME)|g'

## install: install the tool, its HDF5 helper, man page, bash completion, header, libraries, sharr.pc, sharr-h5.pc, CMake files and the Python module under DESTDIR (PREFIX, BINDIR, LIBDIR, INCLUDEDIR, MANDIR, PYTHONDIR ...)
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(PKGLIBEXECDIR) \
	    $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR) \
	    $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(CMAKEDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(BASHCOMPDIR) \
	    $(DESTDIR)$(PYTHONDIR)
	install -m 755 $(SHARR) $(DESTDIR)$(BINDIR)/
	install -m 755 $(SHARR_H5) $(DESTDIR)$(PKGLIBEXECDIR)/
	install -m 644 include/sharr.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 755 $(SO_REAL) $(H5_SO_REAL) $(DESTDIR)$(LIBDIR)/
	ln -sf libsharr.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SO_NAME)
	ln -sf $(SO_NAME) $(DESTDIR)$(LIBDIR)/libsharr.so
	ln -sf libsharr-h5.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(H5_SO_NAME)
	ln -sf $(H5_SO_NAME) $(DESTDIR)$(LIBDIR)/libsharr-h5.so
	install -m 644 $(STATIC) $(H5_STATIC) $(DESTDIR)$(LIBDIR)/
	$(SUBST) lib/sharr.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/sharr.pc
	$(SUBST) lib/sharr-h5.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/sharr-h5.pc
	$(SUBST) lib/sharrConfig.cmake.in > $(DESTDIR)$(CMAKEDIR)/sharrConfig.cmake
	$(SUBST) lib/sharrConfigVersion.cmake.in \
	    > $(DESTDIR)$(CMAKEDIR)/sharrConfigVersion.cmake
	install -m 644 tools/sharr.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 tools/sharr.bash $(DESTDIR)$(BASHCOMPDIR)/sharr
	$(SUBST) tools/python/sharr.py > $(DESTDIR)$(PYTHONDIR)/sharr.py
	chmod 644 $(DESTDIR)$(PYTHONDIR)/sharr.py

## uninstall: remove what install put in place (same variables as install)
# Importing the module as root leaves its byte code in __pycache__: it goes
# too, and the directory if nothing else is in it.
uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED)) \
	    $(DESTDIR)$(PYTHONDIR)/__pycache__/sharr.*.pyc
	-rmdir $(DESTDIR)$(PKGLIBEXECDIR) $(DESTDIR)$(CMAKEDIR) \
	    $(DESTDIR)$(PYTHONDIR)/__pycache__ 2>/dev/null

## clean: remove everything the build made
clean:
	rm -rf $(B) lib/libsharr.so* lib/libsharr-h5.so* $(STATICS) $(SHARR) \
	    $(SHARR_H5)

# The MPI flavour: make deps-mpi, mpi, test-mpi, bench-mpi (tools/mpi.mk).
include tools/mpi.mk

## help: list the targets
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)

-include $(LIB_OBJ:.o=.d) $(TOOL_OBJ:.o=.d) $(ASAN_LIB_OBJ:.o=.d) \
         $(ASAN_TOOL_OBJ:.o=.d) $(wildcard $(B)/tests/*.d $(A)/tests/*.d $(B)/bench/*.d) \
         $(wildcard $(B)/examples/*.d $(A)/examples/*.d)
