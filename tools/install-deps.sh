#!/bin/sh
# Install the Debian packages sharr needs, only when one is missing.
# `make deps` runs this; `make`, `make test` and `make demo` run it first.
# As root it calls apt-get directly, otherwise through sudo.  It prints
# nothing when everything is present, so it is cheap to run every time.
set -eu

# The tests also build programs against an installed sharr with CMake,
# render the man page (man-db, groff-base) and drive the bash completion
# (bash-completion's loader): see README, "Dependencies".  python3-numexpr
# is for `make bench` only (sharr eval against numexpr).
PKGS="gcc make libopenblas-dev libhdf5-dev hdf5-tools libcriterion-dev \
pkg-config zlib1g-dev python3-numpy python3-h5py strace util-linux \
cmake man-db groff-base bash-completion python3-numexpr libdeflate-dev \
liblz4-dev hdf5-filter-plugin"

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install-deps: not a Debian system; install by hand: $PKGS" >&2
    exit 0
fi

missing=""
for p in $PKGS; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$st" in
        *"install ok installed"*) ;;
        *) missing="$missing $p" ;;
    esac
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine may have empty package lists: update once, then retry.
# shellcheck disable=SC2086
if ! $SUDO apt-get install -y --no-install-recommends $missing; then
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends $missing
fi
