#!/bin/bash
# tests/mpi/bench.sh TOP - make bench-mpi: sanity ratios of sharr-mpi with
# 1 and 2 ranks against the fork pool's -j 1 and -j 2, for load, apply
# (square) and save of one c128 array of SHARR_BENCH_MB MiB (default 256),
# contiguous HDF5 in and out, in the same run.  On one 2-core machine only
# the ratio means something: pool time / sharr-mpi time, >= 0.85 is the
# target.  sharr-mpi's times are its own (SHARR_MPI_TIMES: all ranks done,
# without mpirun's start-up); the pool's are each command's wall time.
set -eu
TOP=${1:?usage: bench.sh TOP}
S=$TOP/tools/sharr
M=$TOP/tools/sharr-mpi
MB=${SHARR_BENCH_MB:-256}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_rmaps_base_oversubscribe=1
unset SHARR_MPI_RANKS_PER_NODE
P=t.$$.bench
MADE=""
[ -n "${SHARR_BENCH_DIR:-}" ] || MADE=$(mktemp -d)
DIR=${SHARR_BENCH_DIR:-$MADE}
cleanup() {
    rm -f /dev/shm/sharr."$P".* "$DIR"/"$P".*.h5 "$DIR/$P.script"
    [ -z "$MADE" ] || rmdir "$MADE"
}
trap cleanup EXIT

cols=4096
rows=$((MB * 1024 * 1024 / 16 / cols)); [ "$rows" -ge 1 ] || rows=1
echo "sharr-mpi vs the fork pool: c128 ${rows}x${cols} ($MB MiB), $DIR"
"$S" create "$P.src" --shape "${rows}x${cols}" --dtype c128 --fill random:1
"$S" save "$P.src" "$DIR/$P.in.h5:/x"
"$S" rm "$P.src"

now() { date +%s.%N; }
declare -A T
# The fastest of ROUNDS rounds (the pool and sharr-mpi alternate): one run
# of each on this shared VM varied by 2-3x.
keep() { # keep KEY SECONDS: the smaller
    if [ -z "${T[$1]:-}" ] || [ "$(echo "$2 < ${T[$1]}" | bc)" = 1 ]; then
        T[$1]=$2
    fi
}
ROUNDS=${BENCH_MPI_ROUNDS:-5}
for round in $(seq "$ROUNDS"); do
    rm -f "$DIR"/"$P".p*.h5 "$DIR"/"$P".m*.h5
    for j in 1 2; do
        t=$(now); "$S" load "$DIR/$P.in.h5:/x" "$P.p$j" -j $j >/dev/null
        keep pool$j.load "$(echo "$(now) - $t" | bc)"
        t=$(now); "$S" apply "$P.p$j" square -j $j
        keep pool$j.apply "$(echo "$(now) - $t" | bc)"
        t=$(now); "$S" save "$P.p$j" "$DIR/$P.p$j.h5:/x" -j $j
        keep pool$j.save "$(echo "$(now) - $t" | bc)"
        "$S" rm "$P.p$j"
    done
    for n in 1 2; do
        printf 'load %s %s\napply %s square\nsave %s %s\nrm %s\n' \
            "$DIR/$P.in.h5:/x" "$P.m$n" "$P.m$n" "$P.m$n" \
            "$DIR/$P.m$n.h5:/x" "$P.m$n" > "$DIR/$P.script"
        out=$(SHARR_MPI_TIMES=1 timeout 600 mpirun -np $n --oversubscribe \
              "$M" run "$DIR/$P.script" 2>&1 >/dev/null)
        for op in load apply save; do
            v=$(awk -v op=$op '$1 == "time" && $2 == op {print $3}' <<<"$out")
            [ -n "$v" ] && keep mpi$n.$op "$v"
        done
        rm -f "$DIR/$P.script"
    done
done
echo "(the fastest of $ROUNDS rounds each)"
printf '%-6s %10s %10s %7s   %10s %10s %7s\n' op "pool -j1" "mpi -np1" \
    ratio "pool -j2" "mpi -np2" ratio
for op in load apply save; do
    printf '%-6s' $op
    for n in 1 2; do
        p=${T[pool$n.$op]} m=${T[mpi$n.$op]:-nan}
        printf ' %9.3fs %9.3fs %7.2f  ' "$p" "$m" \
            "$(echo "scale=3; $p / $m" | bc 2>/dev/null || echo nan)"
    done
    echo
done
echo "(ratio = pool time / sharr-mpi time; target >= 0.85)"
