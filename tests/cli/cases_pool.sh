# CLI cases of the pool (sourced by tests/cli/run.sh: t, ok, $P, $TMP).

# ---- one array as both operands: the worker cache keeps both mappings ----
t "create xa" 0 '' '' -- "$SHARR" create "$P.xa" --shape 4x1000 --fill ones
t "axpy with X = Y" 0 '' '' -- "$SHARR" axpy 2 "$P.xa" "$P.xa" -j 2
t "axpy X = Y result" 0 '^3 \.\.\.$' '' -- "$SHARR" dump "$P.xa" --rows 3 --limit 1
t "axpy X = Y again" 0 '' '' -- "$SHARR" axpy 2 "$P.xa" "$P.xa" -j 2
t "axpy X = Y result again" 0 '^9 \.\.\.$' '' -- "$SHARR" dump "$P.xa" --rows 3 --limit 1
t "rm xa" 0 '' '' -- "$SHARR" rm "$P.xa"
