#!/bin/bash
# The man page and the bash completion, against the tool itself:
#   - `man -l tools/sharr.1` renders without a warning (at 80 columns, and
#     with groff's warnings on);
#   - it documents exactly the subcommands `sharr --help` lists, in order,
#     and in each subcommand's section exactly the options of its --help;
#   - the completion script registers itself and offers the subcommands,
#     options, dtypes and the names of existing arrays.
# Usage: tests/docs.sh /path/to/sharr
# Segments are named tc.<pid>.* and removed on exit, whatever happened.

SHARR=${1:?usage: docs.sh /path/to/sharr}
cd "$(dirname "$0")/.." || exit 1
MAN=tools/sharr.1
COMP=tools/sharr.bash
P="tc.$$"
TMP=$(mktemp -d)
pass=0
fail=0
trap 'rm -f /dev/shm/sharr."$P".*; rm -rf "$TMP"' EXIT

ok() {
    local what=$1
    shift
    if "$@"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL: $what"
    fi
}

# Two lists equal, else say how they differ.
same() {
    local what=$1 a=$2 b=$3
    if [ "$a" = "$b" ]; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL: $what"
        diff <(echo "$a") <(echo "$b") | sed 's/^/  /'
    fi
}

# ---- the man page ----
warnings=$(MANWIDTH=80 man -l "$MAN" 2>&1 >/dev/null)
ok "man -l renders without warnings: $warnings" test -z "$warnings"
warnings=$(MANWIDTH=80 man --warnings=w -l "$MAN" 2>&1 >/dev/null)
ok "man -l with every groff warning on is quiet: $warnings" test -z "$warnings"
ok "man renders the subcommand sections" \
    sh -c "MANWIDTH=80 man -l '$MAN' 2>/dev/null | grep -q '^   sharr save NAME'"

help_subs=$("$SHARR" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z0-9]*\) .*/\1/p')
man_subs=$(sed -n 's/^\.SS "sharr \([a-z0-9]*\).*/\1/p' "$MAN")
ok "sharr --help lists subcommands" test -n "$help_subs"
same "the man page has the subcommands of sharr --help, in order" \
    "$help_subs" "$man_subs"

# Long options of one subcommand: from its --help (option lines only),
# and from its section of the man page (roff's \- read as -).
help_opts() {
    "$SHARR" "$1" --help | grep -E '^ +(-[a-zA-Z], )?--[a-z]' |
        grep -oE -- '--[a-z][a-z0-9-]*' | grep -vx -e --help -e --version |
        sort -u
}
man_opts() {
    awk -v sub_="$1" '
        /^\.S[SH] / { inside = ($0 ~ "^\\.SS \"sharr " sub_ "( |\")") }
        inside' "$MAN" | sed 's/\\-/-/g' | grep -oE -- '--[a-z][a-z0-9-]*' |
        grep -vx -e --help -e --version | sort -u
}
for sub in $help_subs; do
    same "man page section of '$sub' has exactly the options of its --help" \
        "$(help_opts "$sub")" "$(man_opts "$sub")"
done
for var in SHARR_SCHEDULE SHARR_LOCK_WAIT SHARR_LOCK_HELD; do
    ok "man page documents \$$var" grep -q "^\.B $var$" "$MAN"
done
ok "man page has LOCKS, EXIT STATUS, ENVIRONMENT, FILES, EXAMPLES" sh -c \
    "for s in LOCKS 'EXIT STATUS' ENVIRONMENT FILES EXAMPLES; do grep -q \"^\.SH \$s\" '$MAN' || exit 1; done"
# Every command that works on an array's elements has the lock options.
for sub in fill dump apply axpy stat gemm load save; do
    same "$sub --help has --no-lock and --lock-timeout" \
        "$(printf -- '--lock-timeout\n--no-lock')" \
        "$(help_opts "$sub" | grep -e '-lock')"
done

# ---- the bash completion ----
# complete LINE: what the completion offers for the command line LINE (the
# cursor at its end), one word per line.
complete_line() {
    bash --norc --noprofile -c '
        source "$1" || exit 1
        COMP_LINE=$2
        COMP_POINT=${#COMP_LINE}
        read -ra COMP_WORDS <<<"$COMP_LINE"
        [[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        _sharr "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" \
            "${COMP_WORDS[COMP_CWORD-1]}"
        printf "%s\n" "${COMPREPLY[@]}"' _ "$COMP" "$1" | sort
}

ok "the completion registers itself for sharr" sh -c \
    "bash --norc --noprofile -c 'source $COMP && complete -p sharr' | grep -qx 'complete -F _sharr sharr'"
same "completion offers every subcommand" \
    "$(echo "$help_subs" | sort)" "$(complete_line "$SHARR ")"
same "completion completes a subcommand prefix" \
    "$(printf 'gc\ngemm')" "$(complete_line "$SHARR g")"
"$SHARR" create "$P.alpha" --shape 2 &&
    "$SHARR" create "$P.beta" --shape 3 --dtype c64 ||
    { echo "FAIL: cannot create the arrays to complete"; exit 1; }
same "completion offers existing array names (rm)" \
    "$(printf '%s\n' "$P.alpha" "$P.beta")" "$(complete_line "$SHARR rm $P.")"
same "completion offers existing array names (stat)" \
    "$P.beta" "$(complete_line "$SHARR stat $P.b")"
same "completion offers arrays for --into" \
    "$P.alpha" "$(complete_line "$SHARR load f.h5:/x --into $P.a")"
same "completion offers figures for stat --into" \
    "$(printf 'max=\nmean=\nmin=')" "$(complete_line "$SHARR stat $P.alpha --per-row --into m")"
same "completion offers arrays after stat --into FIG=" \
    "$P.beta" "$(complete_line "$SHARR stat $P.alpha --per-row --into sum=$P.b")"
same "completion offers the array to reshape" \
    "$P.alpha" "$(complete_line "$SHARR reshape $P.a")"
same "completion offers dtypes" \
    "$(printf 'c128\nc64\ncdouble\ncomplex\ncomplex128\ncomplex64\ncsingle')" \
    "$(complete_line "$SHARR create x --dtype c")"
same "completion offers a subcommand's options" \
    "$(printf -- '--force\n--force-hardlinks\n--foreign')" \
    "$(complete_line "$SHARR save $P.alpha --f")"
same "completion offers every option of apply's --help" \
    "$(help_opts apply | grep -v -e '^$')" \
    "$(complete_line "$SHARR apply $P.alpha --" | grep -vx -e --help -e --version)"
same "completion offers operations after the array" \
    "$(printf 'scale\nsqrt\nsquare')" "$(complete_line "$SHARR apply $P.alpha s")"
same "completion offers the lock options" \
    "$(printf -- '--lock-timeout\n--no-lock')" "$(complete_line "$SHARR save $P.alpha --"| grep -e '-lock')"
same "completion offers no value for --lock-timeout" \
    "" "$(complete_line "$SHARR stat $P.alpha --lock-timeout ")"
same "completion counts the value of --lock-timeout as no argument" \
    "$(printf 'scale\nsqrt\nsquare')" "$(complete_line "$SHARR apply $P.alpha --lock-timeout 2 s")"
same "completion offers fill kinds" \
    "$(printf 'random\nrange')" "$(complete_line "$SHARR fill $P.alpha r")"
same "completion offers schedules" \
    "$(printf 'dynamic')" "$(complete_line "$SHARR apply $P.alpha abs --schedule d")"
mkdir -p "$TMP/dir"
: >"$TMP/data.h5"
same "completion offers files for load" \
    "$TMP/data.h5" "$(complete_line "$SHARR load $TMP/da")"
same "completion offers the datasets of FILE: (after the colon)" \
    "$(printf '/matrix\n/signal')" "$(complete_line "$SHARR load data/sample.h5:/")"

echo "docs: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
