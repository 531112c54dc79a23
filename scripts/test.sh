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

# One closing line over both builds: "tests: N passed, N failed, N skipped".
summary() {
	/usr/bin/python3 - build/meson-logs/testlog.json build-san/meson-logs/testlog.json <<'PY'
import json, os, sys
n = {"passed": 0, "failed": 0, "skipped": 0}
for path in sys.argv[1:]:
    if not os.path.exists(path):
        continue
    for line in open(path):
        r = json.loads(line)["result"]
        n["passed" if r in ("OK", "EXPECTEDFAIL") else "skipped" if r == "SKIP" else "failed"] += 1
print("tests: %(passed)d passed, %(failed)d failed, %(skipped)d skipped" % n)
PY
}

status=0
setup build
ninja -C build
rm -f build/meson-logs/testlog.json build-san/meson-logs/testlog.json
meson test -C build --print-errorlogs --num-processes 2 || status=$?

setup build-san -Db_sanitize=address,undefined -Db_lundef=false -Dintegration=false
ninja -C build-san
meson test -C build-san --print-errorlogs --num-processes 2 --no-suite integration --no-suite slow ||
	status=$?
summary
exit $status
