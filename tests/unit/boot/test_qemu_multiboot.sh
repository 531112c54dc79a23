#!/bin/sh
# QEMU cross-check of the Multiboot loader: boot mbdump (a tiny a.out-kludge
# kernel that prints its Multiboot information) with QEMU's -kernel/-initrd/
# -append, and compare with what berth's loader puts in guest memory for the
# same arguments (mbinfo_dump): flags, mem_lower, boot device, the kernel
# command line, and each module's size, alignment and command line, including
# a path with an escaped comma. Skips (exit 77) without qemu-system-x86_64.
# Usage: test_qemu_multiboot.sh MBINFO_DUMP MBDUMP.BIN
set -u
dump=$1 kernel=$2
qemu=$(command -v qemu-system-x86_64) || { echo "SKIP: no qemu-system-x86_64"; exit 77; }
dir=$(mktemp -d /tmp/berth-qemu-mb-XXXXXX)
trap 'rm -rf "$dir"' EXIT
printf 'first module\n' >"$dir/m1"
head -c 5000 /dev/zero >"$dir/m2"
printf 'x' >"$dir/m,3"
fail=0

# check NAME MODULES APPEND: "-" leaves the option out.
check() {
	set -- "$1" "$2" "$3"
	opts=""
	[ "$2" != - ] && opts="-initrd"
	if [ "$3" != - ]; then
		timeout 60 "$qemu" -nodefaults -nographic -serial stdio -monitor none -m 128 \
			-device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$kernel" \
			${opts:+"$opts"} ${opts:+"$2"} -append "$3" >"$dir/$1.qemu.raw" 2>&1
	else
		timeout 60 "$qemu" -nodefaults -nographic -serial stdio -monitor none -m 128 \
			-device isa-debug-exit,iobase=0xf4,iosize=4 -kernel "$kernel" \
			${opts:+"$opts"} ${opts:+"$2"} >"$dir/$1.qemu.raw" 2>&1
	fi
	tr -d '\r' <"$dir/$1.qemu.raw" | grep '^mb:' >"$dir/$1.qemu"
	"$dump" "$kernel" "$2" "$3" >"$dir/$1.berth" || { echo "FAIL: $1: loader failed"; fail=1; return; }
	if ! grep -q '^mb: mods_count' "$dir/$1.qemu"; then
		echo "FAIL: $1: no output from QEMU"; cat "$dir/$1.qemu.raw"; fail=1
	elif ! diff -u "$dir/$1.qemu" "$dir/$1.berth"; then
		echo "FAIL: $1: berth's Multiboot information differs from QEMU's"; fail=1
	fi
}

check modules "$dir/m1 arg1 arg2,$dir/m2,$dir/m,,3 x=y" "console=ttyS0 foo"
check no-append "$dir/m2" -
check bare - -
[ "$fail" = 0 ] && echo "PASS: Multiboot information matches QEMU's"
exit "$fail"
