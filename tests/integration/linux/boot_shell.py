#!/usr/bin/env python3
"""Boot Debian's cloud kernel to the busybox shell, use it, and power off.

The issue's end-to-end check for the soft accelerator: commands typed on the
console run (uname -a, /proc/cpuinfo, /sys/bus/pci/devices, awk and sha256sum
over real data) and `poweroff -f` ends berth-vmm with exit status 0.
"""
import argparse
import hashlib
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guestconsole import Guest, GuestError, READY, SKIP  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmm", required=True)
    ap.add_argument("--guest-dir", required=True)
    ap.add_argument("--accel", default="soft")
    ap.add_argument("--cpus", type=int, default=1)
    ap.add_argument("--boot-timeout", type=float, default=600)
    args = ap.parse_args()

    kernel = os.path.join(args.guest_dir, "vmlinuz")
    initrd = os.path.join(args.guest_dir, "initramfs.cpio.gz")
    if not (os.path.exists(kernel) and os.path.exists(initrd)):
        print(f"SKIP: no guest image in {args.guest_dir} (run scripts/guest-image.sh)")
        return SKIP

    g = Guest(args.vmm, kernel, initrd, accel=args.accel, cpus=args.cpus)
    t0 = time.monotonic()
    try:
        m = g.expect(READY, args.boot_timeout)
        print(f"ready after {time.monotonic() - t0:.1f}s: kernel {m.group(1).decode()}, "
              f"{m.group(2).decode()} cpus")
        assert int(m.group(2)) == args.cpus, f"guest sees {m.group(2)} cpus, not {args.cpus}"
        g.expect(re.escape(b"berth-guest# "), 60)
        # Kernel messages must not land inside command output: console loglevel 1.
        g.run("dmesg -n 1")

        uname = g.run("uname -a")
        assert re.search(rb"^Linux berth-guest \S+ .* x86_64", uname, re.M), uname

        cpuinfo = g.run("cat /proc/cpuinfo")
        procs = re.findall(rb"^processor\s*: (\d+)", cpuinfo, re.M)
        assert len(procs) == args.cpus, cpuinfo
        assert re.search(rb"^flags\s*:.*\bsse2\b", cpuinfo, re.M), cpuinfo
        if args.cpus > 1:
            # Both CPUs run: each one executes a process pinned to it.
            for cpu in range(args.cpus):
                out = g.run(f"taskset -c {cpu} sh -c 'grep -c ^processor /proc/cpuinfo'")
                assert out.strip() == str(args.cpus).encode(), out

        pci = g.run("ls /sys/bus/pci/devices")
        assert re.search(rb"0000:00:00\.0", pci), pci

        # awk and sha256sum over real data, checked against the host's own result.
        n = 20000
        data = "".join(f"{i}\n" for i in range(1, n + 1)).encode()
        want_sum = sum(range(1, n + 1))
        out = g.run(f"seq 1 {n} | awk '{{ s += $1 }} END {{ print s }}'")
        assert out.strip() == str(want_sum).encode(), out
        out = g.run(f"seq 1 {n} | sha256sum")
        assert out.split()[0].decode() == hashlib.sha256(data).hexdigest(), out

        g.send("poweroff -f\n")
        status = g.wait(120)
        assert status == 0, f"berth-vmm exited with {status} after poweroff -f"
        print(f"PASS: boot, shell and poweroff in {time.monotonic() - t0:.1f}s")
        return 0
    except (GuestError, AssertionError) as e:
        print(f"FAIL: {e}")
        print(g.transcript()[-6000:])
        return 1
    finally:
        g.kill()


if __name__ == "__main__":
    sys.exit(main())
