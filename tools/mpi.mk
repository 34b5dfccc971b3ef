# tools/mpi.mk - the MPI flavour of sharr (included by the Makefile): the
# library libsharr-mpi (lib/mpi/ and MPI builds of lib/io/h5common.c and
# h5sources.c), the header include/sharr_mpi.h and the tool tools/sharr-mpi,
# built with mpicc against Debian's parallel HDF5 (pkg-config hdf5-openmpi).
# Nothing of it is part of `make` / `make all`: the default build never
# needs MPI, and never picks up hdf5-openmpi (see HDF5_CFLAGS).

MPICC       ?= mpicc
MPIRUN      ?= mpirun
HDF5_MPI_PC ?= hdf5-openmpi
HDF5_MPI_CFLAGS ?= $(eval HDF5_MPI_CFLAGS := $$(shell $(PKG_CONFIG) --cflags $(HDF5_MPI_PC) 2>/dev/null || echo -I/usr/include/hdf5/openmpi))$(HDF5_MPI_CFLAGS)
HDF5_MPI_LIBS   ?= $(eval HDF5_MPI_LIBS := $$(shell $(PKG_CONFIG) --libs $(HDF5_MPI_PC) 2>/dev/null || echo -L/usr/lib/x86_64-linux-gnu/hdf5/openmpi -lhdf5))$(HDF5_MPI_LIBS)
# Install the MPI parts with `make install` when they were built (no:
# never; the install test of the serial build sets it).
INSTALL_MPI ?= auto

M := $(B)/mpi
MPI_LIB_SRC := $(wildcard lib/mpi/*.c) lib/io/h5common.c lib/io/h5sources.c
MPI_LIB_OBJ := $(MPI_LIB_SRC:lib/%.c=$(M)/lib/%.o)
MPI_SO_REAL := lib/libsharr-mpi.so.$(VERSION)
MPI_SO_NAME := libsharr-mpi.so.$(SOMAJOR)
MPI_STATIC  := lib/libsharr-mpi.a
SHARR_MPI   := tools/sharr-mpi

.PHONY: mpi deps-mpi test-mpi bench-mpi install-mpi uninstall-mpi clean-mpi

## mpi: build lib/libsharr-mpi.{so,a} and tools/sharr-mpi with mpicc against hdf5-openmpi
mpi: $(MPI_SO_REAL) lib/libsharr-mpi.so $(MPI_STATIC) $(SHARR_MPI)

## deps-mpi: install openmpi-bin libopenmpi-dev libhdf5-openmpi-dev (only the missing ones)
deps-mpi:
	$(Q)SHARR_DEPS="openmpi-bin libopenmpi-dev libhdf5-openmpi-dev" \
	    sh tools/install-deps-mpi.sh

$(MPI_LIB_OBJ) $(M)/tools/sharr_mpi.o $(M)/tools/statfmt.o $(M)/tools/cli.o: | deps deps-mpi

$(M)/lib/%.o: lib/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  MPICC   $<")
	$(Q)$(MPICC) $(ALL_CFLAGS) -fPIC -fvisibility=hidden -DSHARR_BUILDING \
	    $(HDF5_MPI_CFLAGS) -c $< -o $@

$(M)/tools/%.o: tools/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  MPICC   $<")
	$(Q)$(MPICC) $(ALL_CFLAGS) -c $< -o $@

$(MPI_STATIC): $(MPI_LIB_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

# Like libsharr-h5.so: the MPI part, calling libsharr.so's exported
# internals (lib/exports.h, lib/ops/ops_rows.h).
$(MPI_SO_REAL): $(MPI_LIB_OBJ) $(SO_REAL)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(MPICC) -shared -Wl,-soname,$(MPI_SO_NAME) -Wl,-z,defs $(LDFLAGS) \
	    -o $@ $(MPI_LIB_OBJ) $(SO_REAL) $(HDF5_MPI_LIBS) -lz $(CORE_LIBS)

lib/libsharr-mpi.so: $(MPI_SO_REAL)
	$(Q)ln -sf libsharr-mpi.so.$(VERSION) lib/$(MPI_SO_NAME)
	$(Q)ln -sf $(MPI_SO_NAME) $@

$(SHARR_MPI): $(M)/tools/sharr_mpi.o $(M)/tools/statfmt.o $(M)/tools/cli.o \
	    $(MPI_STATIC) $(STATIC)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(MPICC) $(CFLAGS) $(LDFLAGS) -o $@ $(M)/tools/sharr_mpi.o \
	    $(M)/tools/statfmt.o $(M)/tools/cli.o \
	    $(MPI_STATIC) $(STATIC) $(HDF5_MPI_LIBS) -lz $(CORE_LIBS)

## test-mpi: build the MPI flavour and run its tests (1-4 ranks, 1 and 2 simulated nodes)
test-mpi: deps-mpi mpi all
	$(Q)bash tests/mpi/run.sh $(CURDIR)

## bench-mpi: sanity ratios of sharr-mpi (1, 2 ranks) against the fork pool (-j 1, -j 2); SHARR_BENCH_MB sets the size (256)
bench-mpi: deps-mpi mpi all
	$(Q)bash tests/mpi/bench.sh $(CURDIR)

# make install adds the MPI parts when they were built.
MPI_INSTALLED = $(BINDIR)/sharr-mpi $(INCLUDEDIR)/sharr_mpi.h \
    $(LIBDIR)/libsharr-mpi.so.$(VERSION) $(LIBDIR)/$(MPI_SO_NAME) \
    $(LIBDIR)/libsharr-mpi.so $(LIBDIR)/libsharr-mpi.a \
    $(PKGCONFIGDIR)/sharr-mpi.pc
install: install-mpi-if-built
uninstall: uninstall-mpi

.PHONY: install-mpi-if-built
install-mpi-if-built: all
	$(Q)if [ "$(INSTALL_MPI)" != no ] && [ -x $(SHARR_MPI) ] && \
	    [ -f $(MPI_SO_REAL) ]; then $(MAKE) --no-print-directory install-mpi; fi

## install-mpi: install tools/sharr-mpi, sharr_mpi.h, libsharr-mpi and sharr-mpi.pc (make install does it when they are built)
install-mpi: mpi
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(INCLUDEDIR) \
	    $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 755 $(SHARR_MPI) $(DESTDIR)$(BINDIR)/
	install -m 644 include/sharr_mpi.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 755 $(MPI_SO_REAL) $(DESTDIR)$(LIBDIR)/
	ln -sf libsharr-mpi.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(MPI_SO_NAME)
	ln -sf $(MPI_SO_NAME) $(DESTDIR)$(LIBDIR)/libsharr-mpi.so
	install -m 644 $(MPI_STATIC) $(DESTDIR)$(LIBDIR)/
	$(SUBST) -e 's|@HDF5_MPI_PC@|$(HDF5_MPI_PC)|g' lib/sharr-mpi.pc.in \
	    > $(DESTDIR)$(PKGCONFIGDIR)/sharr-mpi.pc

uninstall-mpi:
	rm -f $(addprefix $(DESTDIR),$(MPI_INSTALLED))

clean: clean-mpi
clean-mpi:
	rm -rf $(M) lib/libsharr-mpi.so* $(MPI_STATIC) $(SHARR_MPI)

-include $(wildcard $(M)/lib/*/*.d $(M)/tools/*.d)
