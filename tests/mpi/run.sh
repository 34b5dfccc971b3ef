#!/bin/bash
# tests/mpi/run.sh TOP - the tests of sharr-mpi (make test-mpi).
#
#  1. The default build keeps hdf5-serial when the bare hdf5.pc names the
#     MPI HDF5 (as installing libhdf5-openmpi-dev makes it).
#  2. The same steps (load, apply, axpy, stat, gemm, save; every dtype,
#     1-d to 4-d, rows that do not divide by the ranks, fewer rows than
#     ranks, statistics blocks straddling nodes) with 1-4 ranks on 1 and 2
#     (simulated) nodes print the same statistics as the single-process
#     sharr, and save files h5py reads with bit-identical elements,
#     contiguous and chunked+gzip+shuffle.
#  2c. eval (tests/mpi/gen_eval.py: c128, f64, abs c128->f64, u16 frames
#     minus an f32 vector broadcast along the rows, mixed dtypes, integer
#     division by zero, fewer rows than ranks, per-row and nested
#     reductions, a chunked load with a created operand, --dtype, --force,
#     OUT in place) with 1-4 ranks on 1 and 2 nodes, and with every
#     operand's rows received from their owners (SHARR_MPI_EVAL_FETCH=1),
#     saves bit-identical results to the single-process sharr eval's and
#     counts the same divisions by zero.
#  2d. A bad statement (syntax, unknown name, shapes, OUT of another
#     dtype, OUT's name taken on one node at publish time) fails on every
#     rank with the message, and leaves no slab and OUT unchanged.
#  3. A later launch with another rank or node count is refused clearly.
#  4. An error on one rank fails the command on all, with its message;
#     output that cannot be written (a full disk) fails the command.
#  5. A rank killed mid-job fails the launch within a bound; sharr-mpi rm
#     then leaves no slab.
#  6. make install puts sharr-mpi, libsharr-mpi and sharr-mpi.pc in place;
#     a program built with pkg-config sharr-mpi runs under mpirun.
# Every name is t.<pid>.*, removed at exit even on failure.
set -u
TOP=${1:?usage: run.sh TOP}
S=$TOP/tools/sharr
M=$TOP/tools/sharr-mpi
PY=/usr/bin/python3
HERE=$TOP/tests/mpi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_rmaps_base_oversubscribe=1
unset SHARR_MPI_RANKS_PER_NODE
P=t.$$.m
TMP=$(mktemp -d)
MPIRUN_PID=
cleanup() {
    [ -n "$MPIRUN_PID" ] && kill -9 "$MPIRUN_PID" 2>/dev/null
    rm -f /dev/shm/sharr."$P".* /dev/shm/sharr..new.*."$P"* 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

pass=0 nfail=0
ok() { pass=$((pass + 1)); echo "  ok    $1"; }
bad() { nfail=$((nfail + 1)); echo "  FAIL  $1"; [ -n "${2:-}" ] && sed 's/^/        /' <<<"$2" | head -20; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
# mpirun bounded: a hang fails the case instead of the whole CI.
mpi() { local n=$1; shift; timeout -k 5 120 mpirun -np "$n" --oversubscribe "$@"; }

echo "sharr-mpi tests ($(mpirun --version | head -1))"

# ---- 1. the default build and hdf5.pc ----
mkdir -p "$TMP/pc"
ln -s /usr/lib/x86_64-linux-gnu/pkgconfig/hdf5-openmpi.pc "$TMP/pc/hdf5.pc"
flags=$(PKG_CONFIG_PATH=$TMP/pc make -s -C "$TOP" -n -B build/lib/io/h5load.o 2>&1)
check "default build uses hdf5-serial even when hdf5.pc is the MPI one" \
    eval 'grep -q "hdf5/serial" <<<"$flags" && ! grep -q openmpi <<<"$flags"'

# ---- 2. the matrix against the single-process sharr ----
$PY "$HERE/gen.py" "$TMP" || { bad "gen.py"; exit 1; }
mkdir -p "$TMP/ref"
(cd "$TMP" && sed -e "s|@|$P.s.|g" -e "s|IN:|$TMP/in.h5:|" \
    -e "s|OUT/|$TMP/ref/|" serial.txt | while read -r line; do
    # shellcheck disable=SC2086
    "$S" $line || echo "serial step failed: $line" >&2
done) > "$TMP/ref.out" 2> "$TMP/ref.err"
check "the serial reference ran" test ! -s "$TMP/ref.err" || cat "$TMP/ref.err"
sed "s|$P.s.|@|g" "$TMP/ref.out" > "$TMP/ref.txt"

run_config() { # ranks, ranks per node ("" for one node), label
    local n=$1 k=$2 label=$3 out
    out=$TMP/out.$label
    mkdir -p "$out"
    sed -e "s|@|$P.$label.|g" -e "s|IN:|$TMP/in.h5:|" -e "s|OUT/|$out/|" \
        "$TMP/mpi.txt" > "$TMP/mpi.$label.txt"
    local t0=$SECONDS
    if [ -n "$k" ]; then
        SHARR_MPI_RANKS_PER_NODE=$k mpi "$n" -x SHARR_MPI_RANKS_PER_NODE \
            "$M" run "$TMP/mpi.$label.txt" > "$out.txt" 2> "$out.err"
    else
        mpi "$n" "$M" run "$TMP/mpi.$label.txt" > "$out.txt" 2> "$out.err"
    fi
    local rc=$?
    sed -i "s|$P.$label.|@|g" "$out.txt"
    if [ $rc -ne 0 ]; then
        bad "$label: sharr-mpi run exits 0" "$(cat "$out.err")"
        return
    fi
    if cmp -s "$TMP/ref.txt" "$out.txt"; then
        ok "$label: statistics identical to sharr's ($(grep -c count "$out.txt") stat lines, $((SECONDS - t0)) s)"
    else
        bad "$label: statistics identical to sharr's" \
            "$(diff "$TMP/ref.txt" "$out.txt")"
    fi
    local res
    if res=$($PY "$HERE/check.py" "$TMP/ref" "$out" 2>&1); then
        ok "$label: h5py reads the saves bit-identical ($(tail -1 <<<"$res"))"
    else
        bad "$label: h5py reads the saves bit-identical" "$res"
    fi
    check "$label: no slab left after rm" \
        eval "! ls /dev/shm | grep -q '^sharr\.$P\.$label\.'"
}
run_config 1 "" np1
run_config 2 "" np2
run_config 3 "" np3
run_config 4 "" np4
run_config 2 1 np2.nodes2
run_config 3 2 np3.nodes2
run_config 4 2 np4.nodes2
# The slabs are ordinary sharr arrays: two nodes, two slabs of the rows.
SHARR_MPI_RANKS_PER_NODE=2 mpi 4 -x SHARR_MPI_RANKS_PER_NODE "$M" load \
    "$TMP/in.h5:/f64" "$P.two" > /dev/null 2>&1
check "2 simulated nodes hold 2 slabs plus descriptors" \
    test "$(ls /dev/shm | grep -c "^sharr\.$P\.two\.")" -eq 4
# 1001 rows in units of 251 (a quarter) over 4 ranks: node 0 holds rows
# 0..501.
check "NumPy attaches to node 1's slab: rows 502..1000 of the dataset" \
    $PY -c "import sys, h5py, numpy as np
a = np.load('/dev/shm/sharr.$P.two.1', mmap_mode='r')
b = h5py.File('$TMP/in.h5')['f64'][502:]
sys.exit(not (a.shape == b.shape and a.tobytes() == b.tobytes()))"

# ---- 2b. sharr-mpi never forks (Open MPI's advice after MPI_Init) ----
printf '%s\n' "load $TMP/in.h5:/c128 $P.fk" "apply $P.fk square" \
    "stat $P.fk" "load $TMP/in.h5:/Bf8 $P.fb" "load $TMP/in.h5:/Af8 $P.fa" \
    "gemm $P.fa $P.fb $P.fc" "save $P.fk $TMP/fork.h5:/x --gzip 1" \
    "rm $P.fk $P.fa $P.fb $P.fc" > "$TMP/fork.txt"
if mpi 2 sh -c 'exec strace -f -qq -e trace=fork,vfork,clone,clone3 \
        -o "$0.$OMPI_COMM_WORLD_RANK" "$@"' "$TMP/strace" "$M" run \
        "$TMP/fork.txt" > /dev/null 2>&1; then
    forks=$(cat "$TMP"/strace.* | grep -E '(fork|clone3?)\(' |
            grep -v CLONE_THREAD)
    check "no process is forked by 2 ranks loading, computing, saving ($(cat "$TMP"/strace.* | grep -c CLONE_THREAD) threads, 0 forks)" \
        test -z "$forks"
else
    bad "sharr-mpi run under strace"
fi

# ---- 2c. eval against the single-process sharr eval ----
$PY "$HERE/gen_eval.py" "$TMP" || { bad "gen_eval.py"; exit 1; }
mkdir -p "$TMP/eref"
sed -e "s|@|$P.s.|g" -e "s|IN:|$TMP/ev.h5:|" -e "s|OUT/|$TMP/eref/|" \
    "$TMP/eval_serial.sh" > "$TMP/eval_serial.run.sh"
S=$S bash -e "$TMP/eval_serial.run.sh" > /dev/null 2> "$TMP/eref.err"
zdiv=$(grep -o '[0-9]* integer divisions by zero' "$TMP/eref.err")
check "the serial eval reference ran (${zdiv:-no} count)" \
    eval 'test -n "$zdiv" && test "$(grep -vc "integer divisions" "$TMP/eref.err")" -eq 0' \
    || cat "$TMP/eref.err"
eval_config() { # ranks, ranks per node ("" for one node), label, fetch
    local n=$1 k=$2 label=$3 fetch=${4:-} out=$TMP/eout.$3 res got
    mkdir -p "$out"
    sed -e "s|@|$P.$label.|g" -e "s|IN:|$TMP/ev.h5:|" -e "s|OUT/|$out/|" \
        "$TMP/eval_mpi.txt" > "$TMP/eval.$label.txt"
    SHARR_MPI_RANKS_PER_NODE=$k SHARR_MPI_EVAL_FETCH=$fetch mpi "$n" \
        -x SHARR_MPI_RANKS_PER_NODE -x SHARR_MPI_EVAL_FETCH \
        "$M" run "$TMP/eval.$label.txt" > /dev/null 2> "$out.err"
    local rc=$?
    if [ $rc -ne 0 ]; then
        bad "eval $label: sharr-mpi run exits 0" "$(cat "$out.err")"
        return
    fi
    if res=$($PY "$HERE/check.py" "$TMP/eref" "$out" 2>&1); then
        ok "eval $label: results bit-identical to sharr eval's ($(tail -1 <<<"$res"))"
    else
        bad "eval $label: results bit-identical to sharr eval's" "$res"
    fi
    got=$(grep -o '[0-9]* integer divisions by zero' "$out.err")
    check "eval $label: the same ${got:-no} count, summed over ranks" \
        test "$got" = "$zdiv"
    check "eval $label: no slab, staged or not, left after rm" \
        eval "! ls /dev/shm | grep -q '$P\.$label\.'"
}
eval_config 1 "" np1
eval_config 2 "" np2
eval_config 3 "" np3
eval_config 4 "" np4
eval_config 2 1 np2.nodes2
eval_config 3 2 np3.nodes2
eval_config 4 2 np4.nodes2
eval_config 3 "" np3.fetch 1
eval_config 4 2 np4.nodes2.fetch 1

# ---- 2d. a bad statement fails on every rank and leaves nothing ----
E=$P.e
evm() { SHARR_MPI_RANKS_PER_NODE=2 mpi 4 -x SHARR_MPI_RANKS_PER_NODE "$M" "$@"; }
shm_of() { ls /dev/shm | grep "$E\." | sort; }
printf '%s\n' "load $TMP/ev.h5:/x $E.x" "load $TMP/ev.h5:/sq $E.sq" \
    "load $TMP/ev.h5:/za $E.za" "eval '$E.z' = '$E.za' * 2" > "$TMP/ev_setup.txt"
evm run "$TMP/ev_setup.txt" > /dev/null 2>&1
before=$(shm_of)
zstat=$(evm stat "$E.z" 2>&1)
eval_fails() { # label, exit status, message, statement words...
    local label=$1 want=$2 msg=$3 err rc
    shift 3
    err=$(evm eval "$@" 2>&1 >/dev/null); rc=$?
    check "eval $label fails on every rank (exit $rc): $(head -1 <<<"$err" | cut -c1-100)" \
        eval 'test $rc -eq $want && test "$(grep -cF -- "$msg" <<<"$err")" -eq 1'
    check "  ... and leaves no slab behind, OUT unchanged" \
        eval 'test "$(shm_of)" = "$before" && test "$(evm stat "$E.z" 2>&1)" = "$zstat"'
}
eval_fails "of a syntax error" 2 "sharr-mpi: eval: syntax error at column" \
    "'$E.bad' = '$E.x' +* 2"
eval_fails "of an unknown name" 1 \
    "sharr-mpi: eval: unknown name '$E.nosuch': no such array" \
    "'$E.bad' = '$E.nosuch' + 1"
eval_fails "of shapes that do not broadcast" 1 \
    "sharr-mpi: eval: shapes (1001, 5) and (64, 64) do not broadcast" \
    "'$E.bad' = '$E.x' + '$E.sq'"
eval_fails "into an OUT of another dtype" 1 \
    "sharr-mpi: eval: '$E.z' exists as c128 (301, 7) but the result is f64 (301, 7): remove it, or pass --force to replace it" \
    "'$E.z' = abs('$E.za')"
# Node 1's slab name of a new OUT taken (by a plain sharr array) between
# the check and the publish: node 0 renames its slab back, both staged
# slabs go.
"$S" create "$E.new.1" --shape 3 > /dev/null
before=$(shm_of)
eval_fails "whose OUT name is taken on node 1 at publish" 1 \
    "sharr-mpi: eval: rank 2: '$E.new.1' already exists: it is an array" \
    "'$E.new' = '$E.x' * 2"
"$S" rm "$E.new.1"
evm rm "$E.x" "$E.sq" "$E.za" "$E.z" > /dev/null 2>&1
check "eval errors: nothing of $E left" test -z "$(shm_of)"

# ---- 3. a launch with another layout is refused ----
err=$(mpi 3 "$M" stat "$P.two" 2>&1 >/dev/null); rc=$?
check "3 ranks on 1 node refuse an array of 2 nodes of 2+2 ranks (exit 1)" \
    test $rc -eq 1
check "  ... and say so: $(head -1 <<<"$err" | cut -c1-110)..." \
    eval 'grep -q "was laid out over 2 nodes of 2+2 ranks (4 in all); this launch has 1 node of 3 ranks" <<<"$err"'
err=$(mpi 4 "$M" stat "$P.two" 2>&1 >/dev/null); rc=$?
check "the same 4 ranks as 1 node are refused too (exit $rc)" \
    eval 'test $rc -eq 1 && grep -q "1 node of 4 ranks" <<<"$err"'
out=$(SHARR_MPI_RANKS_PER_NODE=2 mpi 4 -x SHARR_MPI_RANKS_PER_NODE "$M" \
      stat "$P.two" 2>&1)
check "the layout that made it opens it" grep -q '^count  37037' <<<"$out"
check "sharr-mpi rm with any layout removes every slab" \
    eval "mpi 1 '$M' rm '$P.two' && ! ls /dev/shm | grep -q '^sharr\.$P\.two'"
err=$(mpi 2 "$M" rm "$P.two" 2>&1); rc=$?
check "rm of a missing array fails (exit $rc): $err" \
    eval 'test $rc -eq 1 && grep -q "no slab" <<<"$err"'

# ---- 4. an error on one rank fails every rank ----
# 4 ranks as 2 nodes; negative elements only in node 1's slab (ranks 2,
# 3): 20000 rows in units of 256, node 1 holds rows 10240..
mpi2() { SHARR_MPI_RANKS_PER_NODE=2 mpi 4 -x SHARR_MPI_RANKS_PER_NODE "$M" "$@"; }
mpi2 load "$TMP/in.h5:/tall" "$P.neg" > /dev/null 2>&1
mpi2 apply "$P.neg" abs > /dev/null 2>&1
"$S" apply "$P.neg.1" scale -1
before=$(mpi2 stat "$P.neg" 2>&1)
err=$(mpi2 apply "$P.neg" log 2>&1 >/dev/null); rc=$?
check "log of a negative number on rank 2 fails the launch (exit $rc)" \
    test $rc -eq 1
check "  ... with that rank's message, printed once: $(head -1 <<<"$err" | cut -c1-90)..." \
    eval 'test "$(grep -c "sharr-mpi: apply: rank 2: log of a negative number: element 40960 (row 10240)" <<<"$err")" -eq 1'
check "  ... and leaves the array unchanged" \
    test "$before" = "$(mpi2 stat "$P.neg" 2>&1)"
err=$(mpi2 save "$P.neg" "$TMP/ref/f64.h5:/x" 2>&1); rc=$?
check "save over an existing file fails on every rank (exit $rc)" \
    eval 'test $rc -eq 1 && grep -q "exists" <<<"$err"'
mpi2 rm "$P.neg" > /dev/null 2>&1

# ---- 4b. output that cannot be written ----
# A singleton launch writes stdout itself (under mpirun, mpirun does).
err=$(timeout 60 "$M" --version 2>&1 >/dev/full); rc=$?
check "sharr-mpi --version into a full disk fails (exit $rc): $err" \
    eval 'test $rc -eq 1 && grep -q "cannot write the output" <<<"$err"'

# ---- 5. a rank killed mid-job ----
mpi 2 "$M" create "$P.big" f64 4000x1000 && mpi 2 "$M" fill "$P.big" random:1
for i in $(seq 400); do echo "apply $P.big exp"; echo "apply $P.big log"; done \
    > "$TMP/long.txt"
t0=$(date +%s.%N)
mpirun -np 2 --oversubscribe "$M" run "$TMP/long.txt" > /dev/null 2> "$TMP/kill.err" &
MPIRUN_PID=$!
sleep 1.5
victim=""
for c in $(pgrep -P "$MPIRUN_PID"); do
    [ "$(cat /proc/"$c"/comm 2>/dev/null)" = sharr-mpi ] && victim=$c
done
[ -n "$victim" ] && kill -9 "$victim"
for _ in $(seq 300); do kill -0 "$MPIRUN_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$MPIRUN_PID" 2>/dev/null; then
    kill -9 "$MPIRUN_PID"; wait "$MPIRUN_PID" 2>/dev/null
    bad "a rank killed mid-job ends the launch within 30 s (it hung)"
else
    wait "$MPIRUN_PID"; rc=$?
    el=$(echo "$(date +%s.%N) - $t0" | bc)
    check "a rank killed mid-job (pid ${victim:-none}) fails the launch (exit $rc, ${el%???????} s after start)" \
        eval 'test -n "$victim" && test $rc -ne 0'
fi
MPIRUN_PID=
check "sharr-mpi rm then leaves no slab" \
    eval "mpi 1 '$M' rm '$P.big' >/dev/null && ! ls /dev/shm | grep -q '^sharr\.$P\.big'"

# ---- 6. make install of the MPI parts ----
PFX=$TMP/prefix
if make -s -C "$TOP" install PREFIX="$PFX" > "$TMP/install.log" 2>&1; then
    ok "make install PREFIX=... with the MPI flavour built"
else
    bad "make install PREFIX=..." "$(cat "$TMP/install.log")"
fi
check "it installs bin/sharr-mpi, sharr_mpi.h, libsharr-mpi and sharr-mpi.pc" \
    test -x "$PFX/bin/sharr-mpi" -a -f "$PFX/include/sharr_mpi.h" \
         -a -f "$PFX/lib/libsharr-mpi.so.0" -a -f "$PFX/lib/libsharr-mpi.a" \
         -a -f "$PFX/lib/pkgconfig/sharr-mpi.pc"
cat > "$TMP/prog.c" <<'EOF'
#include <sharr_mpi.h>
#include <stdio.h>
int main(int argc, char **argv)
{
    sharr_dist *d;
    sharr_fill_spec f;
    sharr_stats st;
    size_t shape[2] = {1000, 3};
    int rank, err;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if ((err = sharr_dist_create(MPI_COMM_WORLD, argv[1], SHARR_F64, 2,
                                 shape, &d)) == 0) {
        sharr_fill_parse(SHARR_F64, "range", &f);
        if ((err = sharr_dist_fill(d, &f)) == 0)
            err = sharr_dist_stats(d, &st);
        if (err == 0 && rank == 0)
            printf("%zu %.17g\n", st.count, st.sum[0]);
        sharr_dist_close(d);
        sharr_dist_unlink(MPI_COMM_WORLD, argv[1]);
    }
    if (err && rank == 0)
        fprintf(stderr, "%s\n", sharr_errmsg());
    MPI_Finalize();
    return err != 0;
}
EOF
export PKG_CONFIG_PATH=$PFX/lib/pkgconfig
if mpicc -std=c11 -Wall -Werror -o "$TMP/prog" "$TMP/prog.c" \
        $(pkg-config --cflags --libs sharr-mpi) 2> "$TMP/cc.err"; then
    out=$(LD_LIBRARY_PATH=$PFX/lib mpi 3 "$TMP/prog" "$P.prog" 2>&1)
    check "a program built with pkg-config sharr-mpi runs on 3 ranks: $out" \
        test "$out" = "3000 4498500"
else
    bad "mpicc \$(pkg-config --cflags --libs sharr-mpi)" "$(cat "$TMP/cc.err")"
fi
make -s -C "$TOP" uninstall PREFIX="$PFX" > /dev/null 2>&1
check "make uninstall leaves no file" \
    test -z "$(find "$PFX" \( -type f -o -type l \) 2>/dev/null)"

echo "sharr-mpi: $pass passed, $nfail failed"
[ $nfail -eq 0 ]
