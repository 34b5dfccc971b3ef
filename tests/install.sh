#!/bin/bash
# make install, as a packager and a C user would use it:
#   1. PREFIX=<tmp>/prefix: every file in place, sharr.pc and sharr-h5.pc
#      naming that prefix; two outside programs (arrays only; HDF5 save and
#      load) built and run against it with pkg-config (shared, and
#      --static), and with CMake's find_package(sharr); the installed tool
#      and its HDF5 helper, man page and completion work; the Python module
#      imports with /usr/bin/python3 from the prefix and loads the
#      installed libsharr.so.0 (not the tree's); make uninstall leaves
#      nothing, not even the module's byte code.
#   2. DESTDIR=<tmp>/stage with Debian's multiarch LIBDIR and other BINDIR,
#      LIBEXECDIR, MANDIR: the files land there, the .pc files say the final
#      paths, pkg-config with PKG_CONFIG_SYSROOT_DIR and CMake build from
#      the staged tree, the staged tool finds its helper, bash-completion's
#      loader finds the completion, the staged Python module (another
#      PYTHONDIR) names the final library path and works with
#      SHARR_LIBRARY, make uninstall leaves nothing.
# Usage: tests/install.sh MAKE CC   (run from the source tree, after make)
# Segments are named tc.<pid>.* and removed on exit, whatever happened.

MAKE=${1:-make}
CC=${2:-cc}
TOP=$(pwd)
P="tc.$$"
TMP=$(mktemp -d)
pass=0
fail=0

cleanup() {
    rm -f /dev/shm/sharr."$P".*
    rm -rf "$TMP"
    # The BINDIR/LIBEXECDIR of part 2 rebuilt the tool's helper path: put
    # the tree's tool back as a plain `make` builds it.
    $MAKE --no-print-directory -s -C "$TOP" all >/dev/null 2>&1
}
trap cleanup EXIT

ok() {
    local what=$1
    shift
    if "$@" >"$TMP/ok.log" 2>&1; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL: $what"
        sed 's/^/  /' "$TMP/ok.log" | head -15
    fi
}

same() {
    local what=$1 a=$2 b=$3
    if [ "$a" = "$b" ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL: $what"
        diff <(echo "$a") <(echo "$b") | sed 's/^/  /' | head -20
    fi
}

# ---- the outside programs ----
mkdir -p "$TMP/src"
cat >"$TMP/src/core.c" <<'EOF'
/* Uses libsharr only: an array made, written, read, removed. */
#include <sharr.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    size_t shape[1] = {4};
    sharr_array *a;

    if (argc != 2 || sharr_array_create(argv[1], SHARR_I32, 1, shape, NULL,
                                        &a) < 0) {
        fprintf(stderr, "create: %s\n", sharr_errmsg());
        return 1;
    }
    ((int *)sharr_array_data(a))[3] = 42;
    printf("core %s %s %d\n", sharr_version_string(),
           sharr_dtype_name(sharr_array_dtype(a)),
           ((int *)sharr_array_data(a))[3]);
    sharr_array_close(a);
    return sharr_unlink(argv[1]) < 0;
}
EOF
cat >"$TMP/src/h5.c" <<'EOF'
/* Uses libsharr-h5: an array saved as an HDF5 dataset and loaded back. */
#include <sharr.h>
#include <stdio.h>
#include <string.h>

static int fail(const char *what)
{
    fprintf(stderr, "%s: %s\n", what, sharr_errmsg());
    return 1;
}

int main(int argc, char **argv)
{
    size_t shape[2] = {3, 2};
    char back[256];
    sharr_array *a, *b;
    sharr_fill_spec range;

    if (argc != 3)
        return 1;
    snprintf(back, sizeof back, "%s.back", argv[1]);
    if (sharr_array_create(argv[1], SHARR_F64, 2, shape, NULL, &a) < 0)
        return fail("create");
    if (sharr_fill_parse(SHARR_F64, "range", &range) < 0 ||
        sharr_fill(NULL, a, &range, NULL) < 0)
        return fail("fill");
    if (sharr_h5_save(NULL, a, argv[2], "/d", NULL) < 0)
        return fail("save");
    if (sharr_h5_load(NULL, argv[2], "/d", back, NULL, &b) < 0)
        return fail("load");
    int same = memcmp(sharr_array_data(a), sharr_array_data(b),
                      sharr_array_nbytes(a)) == 0;
    printf("h5 %s\n", same ? "round trip ok" : "round trip differs");
    sharr_array_close(a);
    sharr_array_close(b);
    sharr_unlink(argv[1]);
    sharr_unlink(back);
    return !same;
}
EOF
cat >"$TMP/src/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.13)
project(outside C)
find_package(sharr 0.1 REQUIRED)
add_executable(core core.c)
target_link_libraries(core PRIVATE sharr::sharr)
add_executable(h5 h5.c)
target_link_libraries(h5 PRIVATE sharr::h5)
add_executable(core_static core.c)
target_link_libraries(core_static PRIVATE sharr::sharr_static)
EOF

# needs PROG LIB: the program's dynamic dependencies name LIB.
needs() { ldd "$1" | grep -q "$2"; }
lacks() { ! ldd "$1" | grep -q "$2"; }
runs_core() { out=$("$@" "$P.core") && [ "$out" = "core 0.1.0 i32 42" ]; }
runs_h5() {
    rm -f "$TMP/out.h5" /dev/shm/sharr."$P".h5*
    out=$("$@" "$P.h5" "$TMP/out.h5") && [ "$out" = "h5 round trip ok" ]
}

# ---- 1. PREFIX ----
PREFIX=$TMP/prefix
ok "make install PREFIX=$PREFIX" $MAKE --no-print-directory -C "$TOP" install PREFIX="$PREFIX"
expected="bin/sharr
include/sharr.h
lib/cmake/sharr/sharrConfig.cmake
lib/cmake/sharr/sharrConfigVersion.cmake
lib/libsharr-h5.a
lib/libsharr-h5.so
lib/libsharr-h5.so.0
lib/libsharr-h5.so.0.1.0
lib/libsharr.a
lib/libsharr.so
lib/libsharr.so.0
lib/libsharr.so.0.1.0
lib/pkgconfig/sharr-h5.pc
lib/pkgconfig/sharr.pc
lib/python3/dist-packages/sharr.py
libexec/sharr/sharr-h5
share/bash-completion/completions/sharr
share/man/man1/sharr.1"
same "install puts exactly these files in the prefix" "$expected" \
    "$(cd "$PREFIX" && find . \( -type f -o -type l \) | sed 's|^\./||' | sort)"

export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
same "pkg-config --cflags --libs sharr names the prefix" \
    "-I$PREFIX/include -L$PREFIX/lib -lsharr" \
    "$(pkg-config --cflags --libs sharr | sed 's/ *$//')"
same "pkg-config --static --libs sharr adds libsharr's own needs" \
    "-L$PREFIX/lib -lsharr -lpthread -lm -ldl" \
    "$(pkg-config --static --libs sharr | sed 's/ *$//')"
ok "sharr-h5.pc requires sharr of the same version and HDF5's module" \
    grep -Eq '^Requires: sharr = 0\.1\.0$' "$PKG_CONFIG_PATH/sharr-h5.pc"
ok "sharr-h5.pc's Requires.private names modules, not flags" \
    grep -Eq '^Requires.private: hdf5(-serial)? libdeflate liblz4 zlib$' "$PKG_CONFIG_PATH/sharr-h5.pc"
ok "pkg-config --modversion sharr-h5" test "$(pkg-config --modversion sharr-h5)" = 0.1.0

cd "$TMP/src" || exit 1
# Shared, found through the rpath the README gives.
ok "pkg-config, shared: build a libsharr program with an rpath" \
    $CC core.c -o core-shared $(pkg-config --cflags --libs sharr) \
    -Wl,-rpath,"$(pkg-config --variable=libdir sharr)"
ok "the shared program runs (rpath)" runs_core ./core-shared
ok "it loads the installed libsharr.so" needs ./core-shared "$PREFIX/lib/libsharr.so.0"
ok "it loads neither HDF5 nor OpenBLAS" sh -c "! ldd ./core-shared | grep -Eq 'hdf5|openblas'"
ok "pkg-config, shared: build an HDF5 program" \
    $CC h5.c -o h5-shared $(pkg-config --cflags --libs sharr-h5)
ok "the HDF5 program runs (LD_LIBRARY_PATH)" \
    env LD_LIBRARY_PATH="$PREFIX/lib" sh -c "$(declare -f runs_h5); P=$P TMP=$TMP runs_h5 ./h5-shared"
# Static: libsharr alone links fully static; with HDF5 (whose Debian .pc
# has no static flags) the sharr archives are static, the rest shared.
ok "pkg-config --static: a fully static libsharr program" \
    $CC core.c -o core-static $(pkg-config --static --cflags --libs sharr) -static
ok "the static program runs" runs_core ./core-static
ok "the static program needs no shared library" sh -c "! ldd ./core-static 2>/dev/null | grep -q '=>'"
libdir=$(pkg-config --variable=libdir sharr)
ok "pkg-config --static: an HDF5 program with the sharr archives" \
    $CC h5.c -o h5-static -Wl,--as-needed $(pkg-config --cflags sharr-h5) \
    "$libdir/libsharr-h5.a" "$libdir/libsharr.a" $(pkg-config --static --libs sharr-h5)
ok "the static HDF5 program runs" runs_h5 ./h5-static
ok "it needs no libsharr*.so" lacks ./h5-static libsharr
# CMake
ok "cmake: find_package(sharr 0.1) configures" \
    cmake -S . -B build -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_C_COMPILER="$CC"
ok "cmake: the programs build" cmake --build build
ok "cmake: sharr::sharr program runs" runs_core ./build/core
ok "cmake: sharr::h5 program runs" runs_h5 ./build/h5
ok "cmake: sharr::sharr_static program runs" runs_core ./build/core_static
ok "cmake: sharr::sharr_static program needs no libsharr.so" lacks ./build/core_static libsharr
mkdir -p "$TMP/v2"
sed 's/find_package(sharr 0.1 REQUIRED)/find_package(sharr 0.2 REQUIRED)/' \
    CMakeLists.txt >"$TMP/v2/CMakeLists.txt"
cp core.c h5.c "$TMP/v2/"
ok "cmake: find_package(sharr 0.2) refuses 0.1.0" \
    sh -c "! cmake -S '$TMP/v2' -B '$TMP/v2/build' -DCMAKE_PREFIX_PATH='$PREFIX'"
cd "$TOP" || exit 1

# The installed tool, away from the source tree.
ok "installed sharr runs" sh -c "cd / && '$PREFIX/bin/sharr' --version | grep -qx 'sharr 0.1.0'"
ok "installed sharr links no HDF5" sh -c "! ldd '$PREFIX/bin/sharr' | grep -q hdf5"
ok "installed sharr runs HDF5 commands through its helper" \
    sh -c "cd / && '$PREFIX/bin/sharr' h5ls '$TOP/data/sample.h5' | grep -q '^/matrix '"
warnings=$(MANWIDTH=80 man -l "$PREFIX/share/man/man1/sharr.1" 2>&1 >/dev/null)
ok "the installed man page renders without warnings: $warnings" test -z "$warnings"
ok "man finds the page under MANDIR" \
    sh -c "MANPATH='$PREFIX/share/man' man -w sharr | grep -qx '$PREFIX/share/man/man1/sharr.1'"

# The Python module, as Debian's python3 finds it under /usr/local (here
# through PYTHONPATH), away from the tree and without its environment.
PYDIR=$PREFIX/lib/python3/dist-packages
ok "the installed module is readable by everyone, whatever the umask" \
    test "$(stat -c %a "$PYDIR/sharr.py")" = 644
ok "the installed module names the installed library" \
    grep -qx "_INSTALLED = \"$PREFIX/lib/libsharr.so.0\" .*" "$PYDIR/sharr.py"
pyrun() {
    (cd / && env -u SHARR_LIBRARY -u LD_LIBRARY_PATH -u PYTHONDONTWRITEBYTECODE \
        PYTHONPATH="$PYDIR" /usr/bin/python3 -c "$1")
}
same "/usr/bin/python3 imports it and it loads the installed libsharr.so.0" \
    "$PYDIR/sharr.py $PREFIX/lib/libsharr.so.0 0.1.0" \
    "$(pyrun 'import sharr; print(sharr.__file__, sharr.library_path, sharr.__version__)')"
same "the process maps the installed library, not the tree's" \
    "$PREFIX/lib/libsharr.so.0.1.0" \
    "$(pyrun 'import sharr
for l in open("/proc/self/maps"):
    if "libsharr" in l: print(l.split()[-1]); break')"
ok "the installed module makes an array" \
    pyrun "import sharr; sharr.create('$P.py', (1, 3), 'i16').array[:] = [4, -5, 6]"
same "the installed tool reads what it wrote" "4 -5 6" \
    "$("$PREFIX/bin/sharr" dump "$P.py" 2>&1)"
ok "the installed module removes it" pyrun "import sharr; sharr.unlink('$P.py')"
ok "importing it left its byte code (which uninstall must remove)" \
    sh -c "ls '$PYDIR'/__pycache__/sharr.*.pyc"

ok "make uninstall PREFIX=$PREFIX" $MAKE --no-print-directory -C "$TOP" uninstall PREFIX="$PREFIX"
same "make uninstall leaves no file" "" \
    "$(find "$PREFIX" \( -type f -o -type l \) 2>/dev/null)"
ok "make uninstall removes sharr's own directories" \
    test ! -e "$PREFIX/libexec/sharr" -a ! -e "$PREFIX/lib/cmake/sharr"

# ---- 2. DESTDIR, Debian's multiarch LIBDIR, other BINDIR and MANDIR ----
STAGE=$TMP/stage
DIRS=(PREFIX=/opt/sharr LIBDIR=/opt/sharr/lib/x86_64-linux-gnu
      BINDIR=/opt/sharr/sbin LIBEXECDIR=/opt/sharr/lib MANDIR=/opt/sharr/man
      PYTHONDIR=/opt/sharr/python)
ok "make install DESTDIR=$STAGE ${DIRS[*]}" \
    $MAKE --no-print-directory -C "$TOP" install DESTDIR="$STAGE" "${DIRS[@]}"
expected="opt/sharr/include/sharr.h
opt/sharr/lib/sharr/sharr-h5
opt/sharr/lib/x86_64-linux-gnu/cmake/sharr/sharrConfig.cmake
opt/sharr/lib/x86_64-linux-gnu/cmake/sharr/sharrConfigVersion.cmake
opt/sharr/lib/x86_64-linux-gnu/libsharr-h5.a
opt/sharr/lib/x86_64-linux-gnu/libsharr-h5.so
opt/sharr/lib/x86_64-linux-gnu/libsharr-h5.so.0
opt/sharr/lib/x86_64-linux-gnu/libsharr-h5.so.0.1.0
opt/sharr/lib/x86_64-linux-gnu/libsharr.a
opt/sharr/lib/x86_64-linux-gnu/libsharr.so
opt/sharr/lib/x86_64-linux-gnu/libsharr.so.0
opt/sharr/lib/x86_64-linux-gnu/libsharr.so.0.1.0
opt/sharr/lib/x86_64-linux-gnu/pkgconfig/sharr-h5.pc
opt/sharr/lib/x86_64-linux-gnu/pkgconfig/sharr.pc
opt/sharr/man/man1/sharr.1
opt/sharr/python/sharr.py
opt/sharr/sbin/sharr
opt/sharr/share/bash-completion/completions/sharr"
same "DESTDIR install puts exactly these files under DESTDIR" "$expected" \
    "$(cd "$STAGE" && find . \( -type f -o -type l \) | sed 's|^\./||' | sort)"
PC=$STAGE/opt/sharr/lib/x86_64-linux-gnu/pkgconfig
ok "sharr.pc says the final prefix, not DESTDIR" grep -qx 'prefix=/opt/sharr' "$PC/sharr.pc"
ok "sharr.pc's libdir is the multiarch one" \
    grep -qx 'libdir=${exec_prefix}/lib/x86_64-linux-gnu' "$PC/sharr.pc"
ok "no installed file mentions DESTDIR" sh -c "! grep -rl '$STAGE' '$STAGE'"
same "pkg-config with PKG_CONFIG_SYSROOT_DIR finds the staged tree" \
    "-I$STAGE/opt/sharr/include -L$STAGE/opt/sharr/lib/x86_64-linux-gnu -lsharr" \
    "$(PKG_CONFIG_SYSROOT_DIR=$STAGE PKG_CONFIG_LIBDIR=$PC pkg-config --cflags --libs sharr | sed 's/ *$//')"
cd "$TMP/src" || exit 1
ok "build against the staged tree with pkg-config" \
    $CC core.c -o core-staged $(PKG_CONFIG_SYSROOT_DIR=$STAGE PKG_CONFIG_LIBDIR=$PC pkg-config --cflags --libs sharr)
ok "the program runs with LD_LIBRARY_PATH" \
    env LD_LIBRARY_PATH="$STAGE/opt/sharr/lib/x86_64-linux-gnu" sh -c "$(declare -f runs_core); P=$P runs_core ./core-staged"
ok "cmake: find_package(sharr) in the staged multiarch tree" \
    cmake -S . -B build-staged -DCMAKE_PREFIX_PATH="$STAGE/opt/sharr" -DCMAKE_C_COMPILER="$CC"
ok "cmake: the staged programs build" cmake --build build-staged --target core
ok "cmake: the staged program runs" runs_core ./build-staged/core
cd "$TOP" || exit 1
ok "the staged tool finds its helper (BINDIR/../lib/sharr)" \
    sh -c "cd / && '$STAGE/opt/sharr/sbin/sharr' h5ls '$TOP/data/sample.h5' | grep -q '^/signal '"
ok "bash-completion's loader finds the installed completion" bash --norc --noprofile -c "
    source /usr/share/bash-completion/bash_completion
    XDG_DATA_DIRS='$STAGE/opt/sharr/share' __load_completion sharr &&
        complete -p sharr | grep -q '_sharr sharr'"
SLIB=$STAGE/opt/sharr/lib/x86_64-linux-gnu/libsharr.so.0
ok "the staged module names the final library path" \
    grep -qx '_INSTALLED = "/opt/sharr/lib/x86_64-linux-gnu/libsharr.so.0" .*' \
    "$STAGE/opt/sharr/python/sharr.py"
same "the staged module works with SHARR_LIBRARY naming the staged library" \
    "$SLIB 0.1.0" \
    "$(cd / && PYTHONPATH=$STAGE/opt/sharr/python SHARR_LIBRARY=$SLIB \
        /usr/bin/python3 -B -c 'import sharr; print(sharr.library_path, sharr.__version__)')"
if [ "$(/usr/bin/python3 -c 'import ctypes.util; print(ctypes.util.find_library("sharr"))')" = None ]; then
    ok "without it, the ImportError names the final path it tried" sh -c "
        cd / && PYTHONPATH=$STAGE/opt/sharr/python /usr/bin/python3 -B \
            -c 'import sharr' 2>&1 | grep -q 'ImportError.*/opt/sharr/lib/x86_64-linux-gnu/libsharr.so.0'"
fi
ok "make uninstall with the same variables" \
    $MAKE --no-print-directory -C "$TOP" uninstall DESTDIR="$STAGE" "${DIRS[@]}"
same "make uninstall leaves no file under DESTDIR" "" \
    "$(find "$STAGE" \( -type f -o -type l \) 2>/dev/null)"

echo "install: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
