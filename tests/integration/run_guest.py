#!/usr/bin/python3
"""Boot one tiny test guest (tests/guests) and check what it reports.

Runs the guest under berth-vmm with the given accelerator, or under
qemu-system-x86_64 (--qemu) to check the guest itself against the reference.
Passes when the guest's kvm-unit-tests-style output has no FAIL line, its
SUMMARY counts agree with the PASS lines and show no unexpected failure, the
guest-specific lines are there, and the exit status is the expected one.

Exit status 77 (skip): /dev/kvm or QEMU is missing. Anything else that is
wrong is a failure, under every accelerator.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

SKIP = 77
TIMEOUT = 60

# Per guest: command line, CPUs, exit status, lines (regexes) stdout must
# contain, and whether the run ends in a triple fault rather than a summary.
GUESTS = {
    "basic": {
        "append": "berth-test exit=21",
        "status": (21 << 1) | 1,
        "lines": [
            r"^cmdline: (.* )?berth-test exit=21$",
            r"^memory: lower \d+ KiB, upper \d+ KiB$",
            r"^pci 00:00\.0 vendor [0-9a-f]{4} device [0-9a-f]{4}$",
            r"^pci 00:1f\.0 reads ffffffff$",
            r"^rep outsb: this line was written by one string instruction$",
        ],
    },
    "realmode": {
        "append": "",
        "status": 1,
        "lines": [
            r"^entering real mode$",
            r"^real mode: hello from 16-bit code$",
            r"^real mode: returning to protected mode$",
            r"^back in protected mode$",
            r"^PASS: real mode: a write to 1800:0034 lands at linear 0x18034$",
        ],
    },
    "interrupts": {
        "append": "",
        "status": 1,
        "lines": [
            r"^PASS: divide by zero delivers #DE \(vector 0\)$",
            r"^PASS: #GP pushes the selector as its error code$",
            r"^PASS: PIT interrupts arrive through the 8259 PIC \(vector 0x20\)$",
            r"^PASS: PIT interrupts arrive through IOAPIC pin 2 \(vector 0x30\)$",
        ],
    },
    "longmode": {
        "append": "",
        "status": 1,
        "lines": [
            r"^long mode: hello from 64-bit code$",
            r"^back in 32-bit protected mode$",
        ],
    },
    "smp": {
        "append": "cpus=3",
        "cpus": 3,
        "status": 1,
        "lines": [
            r"^cpus on the command line: 3$",
            r"^APs checked in: 2$",
            r"^PASS: every AP started after INIT/SIPI$",
            r"^PASS: the APs have APIC IDs 1 to N-1 in CPUID$",
        ],
    },
    "lmexcept": {
        "append": "",
        "status": 1,
        "lines": [
            r"^back in 32-bit protected mode$",
            r"^PASS: 64-bit: #PF through a not-present gate escalates to #DF$",
            r"^PASS: 64-bit: CPL 3 -> 0 switches to RSP0 from the TSS$",
            r"^PASS: 64-bit: SYSRET returns to the 64-bit user CS of STAR\[63:48\] \+ 16$",
            r"^PASS: 64-bit: the LAPIC timer interrupt arrives \(vector 0x40\)$",
        ],
        # PVM's emulator cannot run INT n: the guest skips its 64-bit part there
        "pvm_lines": [r"^PASS: CPUID reports long mode$",
                      r"^SKIP: long-mode privileged checks"],
    },
    "pmexcept": {
        "append": "",
        "status": 1,
        "lines": [
            r"^PASS: 32-bit: CPL 3 -> 0 switches to SS0:ESP0 of the TSS$",
            r"^PASS: 32-bit: #PF through a not-present gate escalates to #DF$",
            r"^PASS: 32-bit: SYSEXIT returns to CS SYSENTER_CS \+ 16 with RPL 3$",
        ],
        # PVM's emulator cannot run INT n nor IRET: the guest skips its checks
        "pvm_lines": [r"^SKIP: protected-mode privileged checks"],
    },
    "triplefault": {
        "append": "",
        "status": 0,
        "triple_fault": True,
        "lines": [r"^loading an empty IDT and executing ud2$"],
    },
}


def host_kvm_is_pvm():
    """True when /dev/kvm is not backed by VT-x/AMD-V (PVM on these hosts)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return re.search(r"^flags\s*:.*\b(vmx|svm)\b", flags, re.M) is None


def check_output(name, spec, out, status):
    """Return a list of problems with the guest's output and exit status."""
    problems = []
    lines = out.splitlines()
    fails = [l for l in lines if l.startswith("FAIL: ")]
    passes = [l for l in lines if l.startswith("PASS: ")]
    problems += ["guest reported " + l for l in fails]
    if not any(l == "berth test guest: " + name for l in lines):
        problems.append("no banner line 'berth test guest: %s'" % name)
    for rx in spec["lines"]:
        if not any(re.match(rx, l) for l in lines):
            problems.append("no line matching %r" % rx)
    summaries = [re.match(r"^SUMMARY: (\d+) tests, (\d+) unexpected failures", l)
                 for l in lines]
    summaries = [m for m in summaries if m]
    if spec.get("triple_fault"):
        if summaries or passes:
            problems.append("the guest kept running after its triple fault")
    elif len(summaries) != 1:
        problems.append("expected one SUMMARY line, found %d" % len(summaries))
    else:
        total, failed = int(summaries[0].group(1)), int(summaries[0].group(2))
        if failed != 0 or total != len(passes) + len(fails) or total == 0:
            problems.append("SUMMARY says %d tests, %d failures; saw %d PASS, %d FAIL"
                            % (total, failed, len(passes), len(fails)))
    if status != spec["status"]:
        problems.append("exit status %d, expected %d" % (status, spec["status"]))
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vmm", help="berth-vmm binary")
    ap.add_argument("--qemu", action="store_true", help="run under qemu-system-x86_64")
    ap.add_argument("--accel", required=True, choices=["kvm", "soft", "tcg"])
    ap.add_argument("--guest", required=True, help="the guest's .bin")
    ap.add_argument("--name", required=True, choices=sorted(GUESTS))
    args = ap.parse_args()
    if not args.qemu and not args.vmm:
        ap.error("--vmm is required unless --qemu is given")
    spec = GUESTS[args.name]

    append = spec["append"]
    if args.accel == "kvm":
        if not os.access("/dev/kvm", os.R_OK | os.W_OK):
            print("SKIP: /dev/kvm is not available")
            return SKIP
        if host_kvm_is_pvm():
            # PVM's instruction emulator cannot run INT n nor protected-mode
            # IRET; the guests skip or avoid those (see tests/guests/lib.inc).
            append = ("pvm " + append).strip()
            spec = dict(spec, lines=spec.get("pvm_lines", spec["lines"]))

    if args.qemu:
        qemu = shutil.which("qemu-system-x86_64")
        if not qemu:
            print("SKIP: qemu-system-x86_64 is not installed")
            return SKIP
        cmd = [qemu, "-accel", args.accel, "-kernel", args.guest, "-m", "128M",
               "-device", "isa-debug-exit,iobase=0xf4,iosize=1", "-serial", "stdio",
               "-display", "none", "-monitor", "none", "-no-reboot", "-nodefaults",
               "-smp", str(spec.get("cpus", 1))]
    else:
        cmd = [args.vmm, "--accel", args.accel, "--kernel", args.guest, "--memory", "128M",
               "--device", "isa-debug-exit", "--serial", "stdio", "--no-reboot",
               "--cpus", str(spec.get("cpus", 1))]
    if append:
        cmd += ["-append" if args.qemu else "--append", append]
    print("running:", " ".join(cmd))
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=TIMEOUT)
        out = p.stdout.decode(errors="replace")
        err = p.stderr.decode(errors="replace")
        status, timed_out = p.returncode, False
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace")
        err = (e.stderr or b"").decode(errors="replace")
        status, timed_out = -1, True
    print("--- guest output ---\n" + out + "--- stderr ---\n" + err + "---")
    print("exit status:", "timeout after %d s" % TIMEOUT if timed_out else status)

    crashed = not timed_out and status < 0
    if crashed:
        print("FAIL: berth-vmm was killed by signal %d" % -status)
        return 1
    if timed_out:
        print("FAIL: berth-vmm did not finish within %d s" % TIMEOUT)
        return 1
    problems = check_output(args.name, spec, out, status)
    if spec.get("triple_fault") and not args.qemu and args.accel == "kvm" \
            and "triple-faulted" not in err:
        problems.append("berth-vmm did not report the triple fault on stderr")
    for p_ in problems:
        print("FAIL:", p_)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
