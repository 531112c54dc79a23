#!/usr/bin/python3
"""berth-vmm's command-line errors: each bad invocation must end promptly with
a non-zero status, nothing on stdout, and exactly one line on stderr that
names what was wrong.

  cli_errors.py --vmm BERTH_VMM --guest GUEST.bin           the usage errors
  cli_errors.py --vmm BERTH_VMM --linux-on-kvm              --accel kvm + a Linux
      kernel on a host whose /dev/kvm cannot run one (skips, 77, elsewhere);
      --accel auto must then choose soft and say why
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

SKIP = 77
TIMEOUT = 20


def run_case(vmm, args, must_mention):
    """Run berth-vmm with args; return a list of problems."""
    cmd = [vmm] + args
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return ["%s: still running after %d s" % (" ".join(cmd), TIMEOUT)]
    out = p.stdout.decode(errors="replace")
    err = p.stderr.decode(errors="replace")
    lines = err.splitlines()
    print("$ %s\n  exit %d, stderr: %r" % (" ".join(cmd), p.returncode, err))
    problems = []
    if p.returncode == 0:
        problems.append("exit status 0")
    if p.returncode < 0:
        problems.append("killed by signal %d" % -p.returncode)
    if out:
        problems.append("wrote to stdout: %r" % out)
    if len(lines) != 1:
        problems.append("%d lines on stderr, expected one" % len(lines))
    elif must_mention.lower() not in lines[0].lower():
        problems.append("the error does not mention %r" % must_mention)
    return ["%s: %s" % (" ".join(args) or "(no arguments)", x) for x in problems]


def usage_errors(vmm, guest):
    cases = [
        ([], "kernel"),
        (["--kernel", "/nonexistent/berth-test-kernel"], "/nonexistent/berth-test-kernel"),
        (["--kernel"], "--kernel"),
        (["--kernel", guest, "--accel", "warp"], "warp"),
        (["--kernel", guest, "--memory", "12Q"], "12Q"),
        (["--kernel", guest, "--memory", "lots"], "lots"),
        (["--kernel", guest, "--memory", "1K"], "1K"),
        (["--kernel", guest, "--cpus", "0"], "--cpus"),
        (["--kernel", guest, "--cpus", "two"], "two"),
        (["--kernel", guest, "--device", "floppy-drive"], "floppy-drive"),
        (["--kernel", guest, "--device", "isa-debug-exit,iosize=3"], "iosize"),
        (["--kernel", guest, "--serial", "telnet:1"], "telnet:1"),
        (["--kernel", guest, "--frobnicate"], "--frobnicate"),
    ]
    problems = []
    for args, mention in cases:
        problems += run_case(vmm, args, mention)
    return problems


def linux_on_kvm(vmm):
    """--accel kvm with a Linux kernel where /dev/kvm lacks VT-x/AMD-V."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: /dev/kvm is not available")
        return None
    with open("/proc/cpuinfo") as f:
        if re.search(r"^flags\s*:.*\b(vmx|svm)\b", f.read(), re.M):
            print("SKIP: this host's KVM has VT-x/AMD-V and can run Linux")
            return None
    with tempfile.TemporaryDirectory() as d:
        # Just enough of a bzImage to be recognised: "HdrS" at 0x202.
        kernel = os.path.join(d, "bzImage")
        image = bytearray(0x2000)
        image[0x1fe:0x200] = b"\x55\xaa"
        image[0x202:0x206] = b"HdrS"
        with open(kernel, "wb") as f:
            f.write(image)
        problems = run_case(vmm, ["--accel", "kvm", "--kernel", kernel, "--memory", "64M"],
                            "cannot run")
        # --accel auto picks soft instead and says why (the stub kernel is
        # then refused by the loader, which is beside the point here).
        cmd = [vmm, "--accel", "auto", "--kernel", kernel, "--memory", "64M"]
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=TIMEOUT)
            err = p.stderr.decode(errors="replace")
        except subprocess.TimeoutExpired:
            err = ""
            problems.append("--accel auto: still running after %d s" % TIMEOUT)
        print("$ %s\n  stderr: %r" % (" ".join(cmd), err))
        if not re.search(r"accelerator auto: using soft \(.*VT-x", err):
            problems.append("--accel auto did not report choosing soft because of VT-x/AMD-V")
        return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--guest")
    ap.add_argument("--linux-on-kvm", action="store_true")
    args = ap.parse_args()
    if args.linux_on_kvm:
        problems = linux_on_kvm(args.vmm)
        if problems is None:
            return SKIP
    else:
        problems = usage_errors(args.vmm, args.guest)
    for p in problems:
        print("FAIL:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
