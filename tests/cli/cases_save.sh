# CLI cases of saves and their targets (issue 7): --append, --wait, hard
# links, HDF5's file lock, `gc DIR`.  Sourced by tests/cli/run.sh.

S="$P.sv"
SD="$TMP/save"
mkdir -p "$SD"
"$SHARR" create "$S" --shape 3x4 --fill range

t "save help: --append" 0 "--append" '' -- "$SHARR" save --help
t "save help: --force-hardlinks" 0 "--force-hardlinks" '' -- "$SHARR" save --help
t "save help: --wait" 0 "--wait SECONDS" '' -- "$SHARR" save --help
t "save --wait needs seconds" 2 '' "--wait needs seconds" \
    -- "$SHARR" save "$S" "$SD/w.h5:/x" --wait soon
t "save --wait refuses negative" 2 '' "--wait needs seconds" \
    -- "$SHARR" save "$S" "$SD/w.h5:/x" --wait -1
t "save --append is HDF5 only" 2 '' "apply to HDF5 only" \
    -- "$SHARR" save "$S" "$SD/a.npy" --append

# --append into a missing file creates it; into an existing one adds.
t "append creates the file" 0 '' '' -- "$SHARR" save "$S" "$SD/ap.h5:/one" --append
t "append adds a dataset" 0 '' '' -- "$SHARR" save "$S" "$SD/ap.h5:/g/two" --append --gzip 1
t "append: both datasets" 0 "^/g/two  float" '' -- "$SHARR" h5ls "$SD/ap.h5"
t "append: the first dataset" 0 "^/one  float" '' -- "$SHARR" h5ls "$SD/ap.h5"
sum_before=$(md5sum <"$SD/ap.h5")
t "append refuses an existing dataset" 1 '' "already has /one: pass --force" \
    -- "$SHARR" save "$S" "$SD/ap.h5:/one" --append
ok "a failed append leaves the file byte for byte" test "$(md5sum <"$SD/ap.h5")" = "$sum_before"
head -c 5000 /dev/urandom >"$SD/junk.h5"
sum_before=$(md5sum <"$SD/junk.h5")
t "append to a file that is not HDF5" 1 '' "junk.h5 is not an HDF5 file" \
    -- "$SHARR" save "$S" "$SD/junk.h5:/x" --append
ok "the file that is not HDF5 is untouched" test "$(md5sum <"$SD/junk.h5")" = "$sum_before"

# HDF5's lock: flock(1) holds it as an HDF5 writer would.
flock "$SD/ap.h5" sleep 1.5 &
held=$!
sleep 0.3
t "save refuses a file locked by another process" 1 '' \
    "another process has .*ap.h5 open for writing \(HDF5 file lock\); waited 0\.[0-9] s" \
    -- "$SHARR" save "$S" "$SD/ap.h5:/three" --wait 0.2
t "save reports that it waits" 1 '' "waiting up to 0.2 s" \
    -- "$SHARR" save "$S" "$SD/ap.h5:/three" --wait 0.2
t "SHARR_LOCK_WAIT=0: no wait" 1 '' "waited 0\.0 s" \
    -- env SHARR_LOCK_WAIT=0 "$SHARR" save "$S" "$SD/ap.h5:/three"
wait "$held"
t "save after the lock is gone" 0 '' '' -- "$SHARR" save "$S" "$SD/ap.h5:/three"

# Hard links.
ln "$SD/ap.h5" "$SD/hard.h5"
t "save refuses a hard-linked file" 1 '' \
    "hard.h5 has 2 hard links: a save replaces the file under this name only" \
    -- "$SHARR" save "$S" "$SD/hard.h5:/four"
t "append through a hard link" 0 '' '' -- "$SHARR" save "$S" "$SD/hard.h5:/four" --append
t "the other name sees the append" 0 "^/four  float" '' -- "$SHARR" h5ls "$SD/ap.h5"
t "--force-hardlinks splits" 0 '' '' -- "$SHARR" save "$S" "$SD/hard.h5:/five" --force-hardlinks
ok "the other name keeps the old file" sh -c "! '$SHARR' h5ls '$SD/ap.h5' | grep -q '^/five'"

# gc DIR.
t "gc help: DIR" 0 "sharr gc \[--dry-run\] DIR" '' -- "$SHARR" gc --help
t "gc DIR with nothing to remove" 0 '' '' -- "$SHARR" gc "$SD"
t "gc of a missing DIR" 1 '' "nowhere" -- "$SHARR" gc "$SD/nowhere"
ok "no temporary left in the save directory" test -z "$(ls -A "$SD" | grep '\.sharr-')"

"$SHARR" rm "$S"
