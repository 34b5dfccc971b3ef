# bash completion for sharr                                  -*- shell-script -*-
#
# Installed as $(BASHCOMPDIR)/sharr, where bash-completion loads it the
# first time `sharr` is completed; or source it from ~/.bashrc.  Needs only
# bash (no bash-completion helpers).  It completes:
#   - subcommands, from `sharr --help` (so they never drift);
#   - each subcommand's options, from `sharr SUB --help`;
#   - the names of existing arrays (and queues, locks ...), from
#     `sharr ls --names`; the subcommands of queue, pipe, sem, event, cond
#     and barrier from their --help;
#   - dtypes, fill kinds, operations, schedules, --complex kinds, the
#     figures of stat --into FIG=OUT (and nothing for the values of
#     --lock-timeout, --wait ...);
#   - files for FILE:/dataset and FILE.npy, and the dataset paths after
#     FILE: from `sharr h5ls FILE`; directories for `sharr gc DIR`.
# The sharr it runs is the one being completed (./tools/sharr too).

_sharr_dtypes="i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 c64 c128 int8 int16
int32 int64 uint8 uint16 uint32 uint64 float32 float64 complex64 complex128
int uint float complex double single cdouble csingle intc uintc intp uintp
short ushort byte ubyte long ulong longlong ulonglong"
_sharr_ops="scale add conj abs square sqrt exp log clip normalize-rows"

# Set COMPREPLY to the words of $2 that start with $1 (names, dtypes and
# options never hold blanks).
_sharr_reply() {
    local IFS=$' \t\n'
    COMPREPLY=($(compgen -W "$2" -- "$1"))
}

_sharr_arrays() {
    "$1" ls --names 2>/dev/null
}

# FILE:/path completion: files first; after "FILE:" the dataset paths.
_sharr_h5_target() {
    local sharr=$1 word=$2 file dsets
    if [[ $word == *:* ]]; then
        file=${word%%:*}
        dsets=$("$sharr" h5ls "$file" 2>/dev/null | awk '{print $1}')
        local IFS=$'\n' d
        COMPREPLY=()
        for d in $(compgen -W "$dsets" -- "${word#*:}"); do
            # bash replaces only what follows the last ':' of the word.
            d="$file:$d"
            COMPREPLY+=("${d##*:}")
        done
        return
    fi
    compopt -o filenames 2>/dev/null
    local IFS=$'\n'
    COMPREPLY=($(compgen -f -- "$word"))
}

_sharr() {
    # Words as the user sees them, split at blanks only (COMP_WORDS splits
    # FILE:/path at the ':' as well).
    local line=${COMP_LINE:0:COMP_POINT} words
    read -ra words <<<"$line"
    [[ -z $line || $line == *[[:space:]] ]] && words+=("")
    local n=${#words[@]}
    local sharr=${words[0]} cur=${words[n-1]} prev=${words[n-2]}
    local sub="" i nargs=0

    # The subcommand, and how many arguments (not options) come before cur.
    for ((i = 1; i < n - 1; i++)); do
        local w=${words[i]}
        if [[ -z $sub ]]; then
            [[ $w != -* ]] && sub=$w
            continue
        fi
        case $w in
            -*) ;;
            *) case ${words[i-1]} in
                   --dtype|-t|--shape|-s|--fill|--mode|-m|--jobs|-j| \
                   --schedule|--rows|-r|--limit|-n|--into|--alpha|--beta| \
                   --chunk|-c|--gzip|-z|--complex|--wait|--lock-timeout| \
                   --at|--attr|--timeout|--capacity|--max-msg|-M| \
                   --bound|-b) ;;
                   -f) [[ $sub == create || $sub == eval ]] ||
                           nargs=$((nargs + 1)) ;;
                   --file) ;;
                   *) nargs=$((nargs + 1)) ;;
               esac ;;
        esac
    done

    if [[ -z $sub ]]; then
        if [[ $cur == -* ]]; then
            _sharr_reply "$cur" "--help --version"
        else
            _sharr_reply "$cur" "$("$sharr" --help 2>/dev/null |
                sed -n '/^Commands:/,/^$/s/^  \([a-z0-9]*\) .*/\1/p')"
        fi
        return
    fi

    # Values of options.
    case $prev in
        --dtype|-t) [[ $sub == create || $sub == eval || $sub == copy ]] &&
                        _sharr_reply "$cur" "$_sharr_dtypes"
                    return ;;
        --file)     compopt -o filenames 2>/dev/null
                    local IFS=$'\n'
                    COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --fill|-f)  [[ $sub == eval ]] && {
                        compopt -o filenames 2>/dev/null
                        local IFS=$'\n'
                        COMPREPLY=($(compgen -f -- "$cur")); return; }
                    [[ $sub == create ]] && {
                        _sharr_reply "$cur" "zeros ones range random"; return; } ;;
        --schedule|-s) [[ $sub == apply || $sub == stat || $sub == eval ]] && {
                        _sharr_reply "$cur" "static dynamic guided auto"; return; } ;;
        --complex)  _sharr_reply "$cur" "h5py matlab"; return ;;
        --into)     if [[ $sub == stat && $cur != *=* ]]; then
                        # stat --into FIG=OUT: the figure first.
                        compopt -o nospace 2>/dev/null
                        _sharr_reply "$cur" "count= sum= mean= min= max= norm2="
                    else
                        # bash replaces only what follows the last '='.
                        _sharr_reply "${cur##*=}" "$(_sharr_arrays "$sharr")"
                    fi
                    return ;;
        --shape|--mode|-m|--jobs|-j|--rows|-r|--limit|-n|--alpha|--beta| \
        --chunk|-c|--gzip|-z|--wait|--lock-timeout|--at|--attr| \
        --timeout|--capacity|--max-msg|-M|--bound|-b)
                    COMPREPLY=(); return ;;
    esac

    if [[ $cur == -* ]]; then
        _sharr_reply "$cur" "$("$sharr" "$sub" --help 2>/dev/null |
            grep -o -- '--[a-z][a-z0-9-]*' | sort -u)"
        return
    fi

    case $sub in
        queue|pipe|sem|event|cond|barrier)
            # First their own subcommand (from the group's --help), then
            # the names of existing objects.
            if ((nargs == 0)); then
                _sharr_reply "$cur" "$("$sharr" "$sub" --help 2>/dev/null |
                    sed -n '/^Subcommands:/,/^$/s/^  \([a-z-]*\) .*/\1/p')"
            elif ((nargs == 1)); then
                _sharr_reply "$cur" "$(_sharr_arrays "$sharr")"
            fi ;;
        lock)
            ((nargs == 0)) &&
                _sharr_reply "$cur" "create $(_sharr_arrays "$sharr")" ;;
        ls|info|rm|dump|stat|gemm|eval)
            _sharr_reply "$cur" "$(_sharr_arrays "$sharr")" ;;
        reshape)
            ((nargs == 0)) && _sharr_reply "$cur" "$(_sharr_arrays "$sharr")" ;;
        fill)
            if ((nargs == 0)); then
                _sharr_reply "$cur" "$(_sharr_arrays "$sharr")"
            else
                _sharr_reply "$cur" "zeros ones range random"
            fi ;;
        apply)
            if ((nargs == 0)); then
                _sharr_reply "$cur" "$(_sharr_arrays "$sharr")"
            elif ((nargs == 1)); then
                _sharr_reply "$cur" "$_sharr_ops"
            fi ;;
        copy)
            ((nargs == 0)) && _sharr_reply "$cur" "$(_sharr_arrays "$sharr")" ;;
        axpy)
            ((nargs >= 1)) && _sharr_reply "$cur" "$(_sharr_arrays "$sharr")" ;;
        save)
            if ((nargs == 0)); then
                _sharr_reply "$cur" "$(_sharr_arrays "$sharr")"
            else
                _sharr_h5_target "$sharr" "$cur"
            fi ;;
        load)
            ((nargs == 0)) && _sharr_h5_target "$sharr" "$cur" ;;
        h5ls)
            compopt -o filenames 2>/dev/null
            local IFS=$'\n'
            COMPREPLY=($(compgen -f -- "$cur")) ;;
        gc)
            compopt -o filenames 2>/dev/null
            local IFS=$'\n'
            COMPREPLY=($(compgen -d -- "$cur")) ;;
    esac
}

complete -F _sharr sharr
