#!/bin/sh
# QEMU cross-check of the Linux loader and the firmware tables: boot Debian's
# kernel in QEMU (TCG, -machine pc) from exactly the memory and CPU state
# berth's loader produced (see boot_snapshot.c and trampoline.asm), with
# 256 MiB and 2 vCPUs and with 3 GiB, and check what the kernel says about the
# tables. Debian's kernel has no MP-table parser (CONFIG_X86_MPPARSE=n), so the
# MP table is checked by test_mptable only. Skips (exit 77) without QEMU or
# the guest image (scripts/guest-image.sh).
# Usage: test_qemu_boot.sh BOOT_SNAPSHOT TRAMPOLINE.BIN
set -u
snapshot=$1 tramp=$2
kernel=${BERTH_TEST_VMLINUZ:-} initrd=${BERTH_TEST_INITRD:-}
qemu=$(command -v qemu-system-x86_64) || { echo "SKIP: no qemu-system-x86_64"; exit 77; }
[ -r "$kernel" ] && [ -r "$initrd" ] || { echo "SKIP: no guest image (scripts/guest-image.sh)"; exit 77; }
dir=$(mktemp -d /tmp/berth-qemu-boot-XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail=0

# boot NAME CPUS CMDLINE: boot, type commands at the shell, reboot through the
# FADT reset register (QEMU exits: -no-reboot). Output in $dir/NAME.log.
boot() {
	mkdir -p "$dir/$1"
	"$snapshot" "$dir/$1" "$ram" "$2" "$kernel" "$initrd" "$3" "$tramp" || { fail=1; return; }
	# shellcheck disable=SC2046
	(i=0; while [ $i -lt 300 ] && ! grep -q "berth-guest: ready" "$dir/$1.log" 2>/dev/null; do
		sleep 1; i=$((i + 1)); done
	 echo "cat /proc/interrupts; echo CROSSCHECK-DONE; reboot -f") |
	timeout 300 "$qemu" -machine pc -accel tcg -cpu qemu64 -m "${ram}M" -smp "$2" \
		-nodefaults -nographic -no-reboot -serial stdio -monitor none \
		-bios "$dir/$1/bios.bin" $(cat "$dir/$1/loader-args") >"$dir/$1.log" 2>&1
}

# expect NAME PATTERN: the log must contain an extended regex.
expect() {
	if ! grep -Eq "$2" "$dir/$1.log"; then
		echo "FAIL: $1: no line matching: $2"
		fail=1
	fi
}

# reject NAME PATTERN: the log must not contain it.
reject() {
	if grep -Eq "$2" "$dir/$1.log"; then
		echo "FAIL: $1: unexpected: $(grep -E "$2" "$dir/$1.log" | head -3)"
		fail=1
	fi
}

ram=256
boot acpi 2 "console=ttyS0 panic=-1"
expect acpi "Command line: console=ttyS0 panic=-1"
expect acpi "BIOS-e820: \[mem 0x0000000000100000-0x000000000fffffff\] usable"
expect acpi "BIOS-e820: \[mem 0x00000000e0000000-0x00000000efffffff\] reserved"
expect acpi "ACPI: RSDP 0x00000000000E0000 000024 \(v02 BERTH \)"
expect acpi "ACPI: XSDT 0x.* \(v01 BERTH  BERTHPC "
expect acpi "ACPI: FACP .*\(v06 BERTH"
expect acpi "ACPI: DSDT .*\(v02 BERTH"
expect acpi "ACPI: APIC .*\(v04 BERTH"
expect acpi "ACPI: MCFG .*\(v01 BERTH"
expect acpi "ACPI: PM-Timer IO Port: 0x608"
expect acpi "IOAPIC\[0\]: apic_id 2, version [0-9]+, address 0xfec00000, GSI 0-23"
expect acpi "ACPI: INT_SRC_OVR \(bus 0 bus_irq 0 global_irq 2 dfl dfl\)"
expect acpi "ACPI: INT_SRC_OVR \(bus 0 bus_irq 9 global_irq 9 high level\)"
expect acpi "ACPI: LAPIC_NMI \(acpi_id\[0xff\] dfl dfl lint\[0x1\]\)"
expect acpi "smp: Brought up 1 node, 2 CPUs"
expect acpi "PCI: MMCONFIG for domain 0000 \[bus 00-ff\] at \[mem 0xe0000000-0xefffffff\]"
expect acpi "ACPI: PCI Root Bridge \[PCI0\] \(domain 0000 \[bus 00-ff\]\)"
expect acpi "clocksource: acpi_pm"
expect acpi "pnp: PnP ACPI: found 4 devices"
expect acpi "00:0[0-9]: ttyS0 at I/O 0x3f8 \(irq = 4, base_baud = 115200\)"
expect acpi "rtc_cmos 00:0[0-9]: registered as rtc0"
expect acpi "i8042: PNP: PS/2 Controller \[PNP0303:KBD\] at 0x60,0x64 irq 1"
expect acpi "ACPI: Interpreter enabled"
expect acpi "Freeing initrd memory"
expect acpi "berth-guest: ready"
expect acpi "CROSSCHECK-DONE"
expect acpi "reboot: Restarting system"
reject acpi "ACPI (BIOS )?Error|ACPI Warning|Firmware Bug|Kernel panic|BUG:"

# 3 GiB (all of it below the PCI hole, in QEMU too): the initrd goes just
# below the kernel's initrd_addr_max (2 GiB) and the page tables must map it.
ram=3072
boot big 1 "console=ttyS0 panic=-1 quiet"
expect big "berth-guest: ready \(.*, 1 cpus\)"
expect big "CROSSCHECK-DONE"
reject big "ACPI (BIOS )?Error|ACPI Warning|Firmware Bug|Kernel panic|BUG:"

if [ "$fail" != 0 ]; then
	for f in acpi big; do echo "==== $f"; cat "$dir/$f.log"; done
	exit 1
fi
echo "PASS: Debian's kernel boots in QEMU from berth's boot state and tables"
