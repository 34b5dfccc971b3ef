#!/bin/sh
# Install the Debian packages of sharr's MPI flavour (make deps-mpi), only
# when one is missing: Open MPI and the parallel HDF5 built against it.
# Installing libhdf5-openmpi-dev repoints the bare hdf5.pc to the MPI HDF5;
# the default build names hdf5-serial, so it is not affected.  As root it
# calls apt-get directly, otherwise through sudo.  Silent when all is there.
set -eu
PKGS=${SHARR_DEPS:-"openmpi-bin libopenmpi-dev libhdf5-openmpi-dev"}

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install-deps-mpi: not a Debian system; install by hand: $PKGS" >&2
    exit 0
fi
missing=""
for p in $PKGS; do
    case "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" in
        *"install ok installed"*) ;;
        *) missing="$missing $p" ;;
    esac
done
[ -z "$missing" ] && exit 0

echo "install-deps-mpi: installing:$missing" >&2
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
if ! $SUDO apt-get install -y --no-install-recommends $missing; then
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends $missing
fi
