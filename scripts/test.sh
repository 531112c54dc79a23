#!/usr/bin/env bash
# Set everything up and run the whole test suite: dependencies, the guest
# image, a normal build with every test (unit, compatibility, integration),
# then an ASan+UBSan build running the unit tests.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

scripts/install-deps.sh
scripts/guest-image.sh

setup() { # setup DIR [meson options...]
	local dir=$1
	shift
	if [ -d "$dir" ]; then
		meson setup --reconfigure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi
}

setup build
ninja -C build
meson test -C build --print-errorlogs --num-processes 2

setup build-san -Db_sanitize=address,undefined -Db_lundef=false -Dintegration=false
ninja -C build-san
meson test -C build-san --print-errorlogs --num-processes 2 --no-suite integration --no-suite slow
