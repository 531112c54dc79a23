#!/usr/bin/python3
"""Boot the Debian test guest with virtio devices and check them end to end.

Cases (--case):
  blk-pattern   the guest writes a known pattern to /dev/vda (qcow2) and powers
                off; the host finds exactly those bytes and `qemu-img check`
                passes.
  blk-overlay   the guest reads a qcow2 overlay made by qemu-img over a raw
                backing file and gets the backing data; a second, read-only
                disk refuses writes.
  net-wget      the guest gets a DHCP lease from user-mode networking and
                fetches a file with busybox wget from a server on the host's
                loopback, through the gateway address 10.0.2.2.
  net-hostfwd   a host client reaches busybox httpd in the guest through
                --net user,hostfwd=tcp:127.0.0.1:PORT-:8080.
  net-tap       (root) in a network namespace of its own, the guest on
                --net tap,ifname=berthtap0 fetches a file from a server on the
                host side of the TAP interface.
  rng-console   --device virtio-rng feeds the guest's /dev/hwrng, and
                --device virtio-console carries /dev/hvc0 both ways.
  blk-kill9     berth-vmm is killed with SIGKILL while the guest writes to a
                qcow2 disk; `qemu-img check` finds no corruption.

The guest is .cache/guest/{vmlinuz,initramfs.cpio.gz} (scripts/guest-image.sh);
its console is COM1, reached here through --serial unix:PATH.

Exit status 77 (skip): the guest image or qemu-img is missing (or, for TAP,
root). A guest that does not reach "berth-guest: ready" is a failure.

--qemu runs the same case under qemu-system-x86_64 -accel tcg with the same
devices, to check the test itself against the reference.
"""
import argparse
import hashlib
import http.server
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SKIP = 77
# The guest must show signs of life (any console output) this soon, and be
# ready this soon; both can be raised for slow hosts.
FIRST_OUTPUT_TIMEOUT = float(os.environ.get("BERTH_GUEST_FIRST_OUTPUT_TIMEOUT", "60"))
READY_TIMEOUT = float(os.environ.get("BERTH_GUEST_READY_TIMEOUT", "600"))
CMD_TIMEOUT = float(os.environ.get("BERTH_GUEST_CMD_TIMEOUT", "300"))
READY = re.compile(rb"berth-guest: ready")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "linux"))
from guestconsole import GuestError, SocketGuest, VMMExited  # noqa: E402


class Skip(Exception):
    pass


class Fail(Exception):
    pass


def sh(*cmd):
    """Run a host command; return (status, output)."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return p.returncode, p.stdout.decode(errors="replace")


class Guest(SocketGuest):
    """One VM with its console on a UNIX socket and a shell driven over it."""

    def __init__(self, args, tmp, disks=(), nets=(), rng=False, hvc=None):
        sock_path = os.path.join(tmp, "console.sock")
        guest = args.guest_dir
        kernel = os.path.join(guest, "vmlinuz")
        initrd = os.path.join(guest, "initramfs.cpio.gz")
        append = "console=ttyS0 panic=-1"
        if args.qemu:
            qemu = shutil.which("qemu-system-x86_64")
            if not qemu:
                raise Skip("qemu-system-x86_64 is not installed")
            cmd = [qemu, "-accel", "tcg", "-m", "512M", "-display", "none",
                   "-no-reboot", "-kernel", kernel, "-initrd", initrd,
                   "-append", append, "-serial",
                   "unix:%s,server=on,wait=off" % sock_path,
                   "-nodefaults"]
            for i, (path, fmt, ro) in enumerate(disks):
                cmd += ["-drive", "file=%s,format=%s,if=none,id=d%d%s"
                        % (path, fmt, i, ",readonly=on" if ro else ""),
                        "-device", "virtio-blk-pci,drive=d%d" % i]
            for i, spec in enumerate(nets):
                opts = spec.split(",", 1)
                cmd += ["-netdev", "user,id=n%d%s" % (i, "," + opts[1] if len(opts) > 1 else ""),
                        "-device", "virtio-net-pci,netdev=n%d" % i]
            if rng:
                cmd += ["-device", "virtio-rng-pci"]
            if hvc:
                cmd += ["-chardev", "socket,id=hvc,path=%s,server=on,wait=off" % hvc,
                        "-device", "virtio-serial-pci", "-device", "virtconsole,chardev=hvc"]
        else:
            cmd = [args.vmm, "--accel", "soft", "--memory", "512M", "--no-reboot",
                   "--kernel", kernel, "--initrd", initrd, "--append", append,
                   "--serial", "unix:" + sock_path]
            for path, fmt, ro in disks:
                cmd += ["--disk", "%s,format=%s%s" % (path, fmt, ",readonly" if ro else "")]
            for spec in nets:
                cmd += ["--net", spec]
            if rng:
                cmd += ["--device", "virtio-rng"]
            if hvc:
                cmd += ["--device", "virtio-console,chardev=unix:" + hvc]
        super().__init__(cmd, sock_path, os.path.join(tmp, "vmm.log"), echo=sys.stdout)

    def connect(self):
        try:
            super().connect()
        except VMMExited as e:
            raise Skip(str(e))
        except GuestError as e:
            raise Fail(str(e))

    def wait_for(self, pattern, timeout):
        """Wait for pattern (bytes) in the console output; the match, or None."""
        try:
            return self.expect(pattern, timeout)
        except GuestError:
            return None

    def wait_ready(self):
        if not self.sock:
            self.connect()
        if not self.wait_for(rb".", FIRST_OUTPUT_TIMEOUT):
            raise Fail("no console output within %ds\n%s"
                       % (FIRST_OUTPUT_TIMEOUT, self.vmm_log()))
        if not self.wait_for(READY, READY_TIMEOUT):
            raise Fail("the guest did not reach its ready line within %ds\n%s"
                       % (READY_TIMEOUT, self.vmm_log()))
        # Let the shell print its prompt before typing.
        time.sleep(0.5)

    def run(self, command, timeout=CMD_TIMEOUT, check=True):
        """Run a shell command in the guest; return (status, output)."""
        try:
            status, output = self.run_status(command, timeout)
        except GuestError as e:
            raise Fail("guest command timed out or the VM died: %s (%s)\n%s"
                       % (command, e, self.vmm_log()))
        output = output.decode(errors="replace")
        if check and status != 0:
            raise Fail("guest command failed (%d): %s\n%s" % (status, command, output))
        return status, output

    def poweroff(self, timeout=120):
        self.send("sync; poweroff -f\n")
        try:
            status = self.wait(timeout)
        except GuestError:
            raise Fail("the guest did not power off")
        if status != 0:
            raise Fail("the VMM exited with %d after poweroff\n%s" % (status, self.vmm_log()))

    def close(self):
        self.kill()


def pattern(n, seed):
    """n bytes of a recognisable, position-dependent pattern."""
    out = bytearray()
    block = 0
    while len(out) < n:
        out += hashlib.sha256(b"%s-%d" % (seed, block)).digest()
        block += 1
    return bytes(out[:n])


def qemu_img(args):
    q = shutil.which("qemu-img")
    if not q:
        raise Skip("qemu-img is not installed")
    return q


def dhcp(g):
    """Bring up the guest's NIC with busybox udhcpc; returns the interface name."""
    _, out = g.run("ls /sys/class/net")
    ifs = [i for i in out.split() if i != "lo"]
    if not ifs:
        raise Fail("the guest has no network interface (virtio-net missing?)")
    iface = ifs[0]
    g.run("printf '#!/bin/sh\\n[ \"$1\" = bound ] || exit 0\\n"
          "ifconfig $interface $ip netmask $subnet up\\n"
          "route add default gw $router\\n' > /tmp/dhcp.sh && chmod +x /tmp/dhcp.sh")
    g.run("ifconfig %s up && udhcpc -i %s -n -q -t 10 -T 2 -s /tmp/dhcp.sh" % (iface, iface))
    _, out = g.run("ifconfig %s" % iface)
    if "10.0.2.15" not in out:
        raise Fail("no DHCP lease: %s" % out)
    return iface


# ---- the cases ----

PATTERN_LINES = 16384  # x 64 bytes = 1 MiB


def line_pattern():
    """What the guest's awk program below prints: 64-byte numbered lines."""
    return b"".join(b"berth-pattern-%010d-%038d\n" % (i, i * 7919)
                    for i in range(PATTERN_LINES))


def case_blk_pattern(args, tmp):
    img = os.path.join(tmp, "disk.qcow2")
    q = qemu_img(args)
    st, out = sh(q, "create", "-q", "-f", "qcow2", img, "64M")
    if st:
        raise Fail("qemu-img create: " + out)
    offset = 3 << 20
    g = Guest(args, tmp, disks=[(img, "qcow2", False)])
    try:
        g.wait_ready()
        _, out = g.run("cat /sys/block/vda/size")
        if int(out.split()[0]) != (64 << 20) // 512:
            raise Fail("vda has %s sectors, expected %d" % (out, (64 << 20) // 512))
        g.run("awk 'BEGIN { for (i = 0; i < %d; i++) "
              "printf \"berth-pattern-%%010d-%%038d\\n\", i, i * 7919 }' > /tmp/pattern"
              % PATTERN_LINES)
        g.run("dd if=/tmp/pattern of=/dev/vda bs=64k seek=%d conv=fsync 2>/dev/null"
              % (offset // 65536))
        g.poweroff()
    finally:
        g.close()
    expect = line_pattern()
    st, out = sh(q, "check", img)
    if st != 0:
        raise Fail("qemu-img check failed (%d):\n%s" % (st, out))
    raw = os.path.join(tmp, "disk.raw")
    st, out = sh(q, "convert", "-f", "qcow2", "-O", "raw", img, raw)
    if st:
        raise Fail("qemu-img convert: " + out)
    with open(raw, "rb") as f:
        disk = f.read()
    if disk[offset:offset + len(expect)] != expect:
        raise Fail("the pattern is not on the disk where the guest wrote it")
    if disk[:offset].count(0) != offset or \
            disk[offset + len(expect):].count(0) != len(disk) - offset - len(expect):
        raise Fail("bytes outside the written range changed")
    print("PASS: pattern found, qemu-img check clean")


def case_blk_overlay(args, tmp):
    q = qemu_img(args)
    base = os.path.join(tmp, "base.raw")
    overlay = os.path.join(tmp, "overlay.qcow2")
    ro = os.path.join(tmp, "ro.raw")
    data = pattern(8 << 20, b"backing")
    with open(base, "wb") as f:
        f.write(data)
    with open(ro, "wb") as f:
        f.write(pattern(1 << 20, b"readonly"))
    st, out = sh(q, "create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", overlay)
    if st:
        raise Fail("qemu-img create overlay: " + out)
    g = Guest(args, tmp, disks=[(overlay, "qcow2", False), (ro, "raw", True)])
    try:
        g.wait_ready()
        want = hashlib.md5(data[1 << 20:5 << 20]).hexdigest()
        _, out = g.run("dd if=/dev/vda bs=64k skip=16 count=64 2>/dev/null | md5sum")
        if want not in out:
            raise Fail("overlay read gave %s, backing data has %s" % (out.strip(), want))
        _, out = g.run("cat /sys/block/vdb/ro")
        if out.split()[0] != "1":
            raise Fail("vdb is not read-only in the guest: %s" % out)
        st, out = g.run("dd if=/dev/zero of=/dev/vdb bs=4k count=1 oflag=direct", check=False)
        if st == 0:
            raise Fail("a write to the read-only disk succeeded")
        g.poweroff()
    finally:
        g.close()
    with open(base, "rb") as f:
        if f.read() != data:
            raise Fail("the backing file changed")
    st, out = sh(q, "check", overlay)
    if st != 0:
        raise Fail("qemu-img check failed (%d):\n%s" % (st, out))
    print("PASS: overlay reads the backing data; read-only disk refuses writes")


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *a):
        pass


def case_net_wget(args, tmp):
    www = os.path.join(tmp, "www")
    os.mkdir(www)
    data = pattern(300 * 1024, b"wget")
    with open(os.path.join(www, "file.bin"), "wb") as f:
        f.write(data)
    handler = lambda *a, **k: QuietHandler(*a, directory=www, **k)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    port = srv.server_address[1]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    g = Guest(args, tmp, nets=["user"])
    try:
        g.wait_ready()
        dhcp(g)
        _, out = g.run("wget -q -O - http://10.0.2.2:%d/file.bin | md5sum" % port)
        if hashlib.md5(data).hexdigest() not in out:
            raise Fail("wget fetched something else: %s" % out)
        g.poweroff()
    finally:
        g.close()
        srv.shutdown()
    print("PASS: DHCP lease and wget from the host")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def case_net_hostfwd(args, tmp):
    port = free_port()
    g = Guest(args, tmp, nets=["user,hostfwd=tcp:127.0.0.1:%d-:8080" % port])
    try:
        g.wait_ready()
        dhcp(g)
        g.run("mkdir -p /tmp/www && echo hello-from-the-guest > /tmp/www/index.html")
        g.run("httpd -p 8080 -h /tmp/www")
        body = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/index.html" % port,
                                            timeout=30) as r:
                    body = r.read()
                break
            except OSError:
                time.sleep(1)
        if body is None or b"hello-from-the-guest" not in body:
            raise Fail("the host could not fetch from the guest through hostfwd: %r" % body)
        g.poweroff()
    finally:
        g.close()
    print("PASS: hostfwd reaches the guest's server")


KILL9_TRIALS = 3


def case_blk_kill9(args, tmp):
    """kill -9 while the guest writes, several times over the same image: each
    time both checkers must find no corruption (leaks are allowed)."""
    q = qemu_img(args)
    img = os.path.join(tmp, "disk.qcow2")
    st, out = sh(q, "create", "-q", "-f", "qcow2", img, "256M")
    if st:
        raise Fail("qemu-img create: " + out)
    checkers = [("qemu-img", q)]
    if args.img:
        checkers.append(("berth-img", args.img))
    for trial in range(1, KILL9_TRIALS + 1):
        g = Guest(args, tmp, disks=[(img, "qcow2", False)])
        try:
            g.wait_ready()
            # Scattered writes keep allocating clusters and L2 tables.
            g.send("i=0; while true; do dd if=/dev/urandom of=/dev/vda bs=64k count=4 "
                   "seek=$(( (i * 37 + %d) %% 4000 )) conv=fsync 2>/dev/null; "
                   "i=$((i+1)); echo wrote-$i; done\n" % (trial * 1000))
            if not g.wait_for(rb"wrote-20\b", CMD_TIMEOUT):
                raise Fail("the guest's writes did not get going\n" + g.vmm_log())
            os.kill(g.proc.pid, signal.SIGKILL)
            g.proc.wait()
        finally:
            g.close()
        for name, tool in checkers:
            st, out = sh(tool, "check", img)
            # 0: clean; 3: leaked clusters only, which a crash may leave behind.
            if st not in (0, 3):
                raise Fail("trial %d: %s check found corruption (%d):\n%s"
                           % (trial, name, st, out))
            print("trial %d: %s check status %d" % (trial, name, st))
    print("PASS: image consistent after %d kill -9 trials (qemu-img%s check)"
          % (KILL9_TRIALS, " and berth-img" if args.img else ""))


def case_rng_console(args, tmp):
    hvc_path = os.path.join(tmp, "hvc.sock")
    g = Guest(args, tmp, rng=True, hvc=hvc_path)
    hvc = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        g.wait_ready()
        hvc.connect(hvc_path)
        _, out = g.run("cat /sys/class/misc/hw_random/rng_current")
        if "virtio_rng" not in out:
            raise Fail("the guest's hwrng is not virtio: %s" % out)
        _, out = g.run("dd if=/dev/hwrng bs=32 count=4 2>/dev/null | od -An -tx1 | wc -w")
        if out.split()[0] != "128":
            raise Fail("reading 128 bytes from /dev/hwrng gave %s words" % out)
        _, out = g.run("ls /dev/hvc0")
        g.run("echo hello-from-hvc0 > /dev/hvc0")
        hvc.settimeout(CMD_TIMEOUT)
        got = b""
        while b"hello-from-hvc0" not in got:
            data = hvc.recv(4096)
            if not data:
                raise Fail("the virtio console closed; got %r" % got)
            got += data
        # And the other way: the guest reads a line typed into the console.
        g.send("head -n 1 /dev/hvc0 > /tmp/typed &\n")
        time.sleep(2)
        hvc.sendall(b"typed-into-hvc0\n")
        deadline = time.monotonic() + CMD_TIMEOUT
        while True:
            _, out = g.run("cat /tmp/typed 2>/dev/null || true")
            if "typed-into-hvc0" in out:
                break
            if time.monotonic() > deadline:
                raise Fail("the guest never read the line typed into hvc0")
            time.sleep(2)
        g.poweroff()
    finally:
        hvc.close()
        g.close()
    print("PASS: virtio-rng feeds /dev/hwrng; virtio-console carries hvc0 both ways")


def enter_netns():
    """Move this process into a new network namespace (root only); False if not possible."""
    import ctypes
    if os.geteuid() != 0:
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.unshare(0x40000000) == 0  # CLONE_NEWNET


def case_net_tap(args, tmp):
    if args.qemu:
        raise Skip("the TAP case runs under berth-vmm only")
    if not enter_netns():
        raise Skip("TAP needs root and network namespaces")
    tap = "berthtap0"
    www = os.path.join(tmp, "www")
    os.mkdir(www)
    data = pattern(100 * 1024, b"tap")
    with open(os.path.join(www, "file.bin"), "wb") as f:
        f.write(data)
    g = Guest(args, tmp, nets=["tap,ifname=" + tap])
    srv = None
    try:
        g.connect()
        # berth-vmm creates the interface in our namespace: give it the host side.
        deadline = time.monotonic() + 30
        # (sysfs shows the namespace it was mounted in: ask ip instead.)
        while sh("ip", "link", "show", tap)[0] != 0:
            if time.monotonic() > deadline or g.proc.poll() is not None:
                raise Fail("berth-vmm did not create %s\n%s" % (tap, g.vmm_log()))
            time.sleep(0.1)
        for cmd in (["ip", "link", "set", "lo", "up"],
                    ["ip", "addr", "add", "10.9.0.1/24", "dev", tap],
                    ["ip", "link", "set", tap, "up"]):
            st, out = sh(*cmd)
            if st:
                raise Fail("%s: %s" % (" ".join(cmd), out))
        handler = lambda *a, **k: QuietHandler(*a, directory=www, **k)
        srv = http.server.ThreadingHTTPServer(("10.9.0.1", 0), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        g.wait_ready()
        _, out = g.run("ls /sys/class/net")
        iface = [i for i in out.split() if i != "lo"][0]
        g.run("ifconfig %s 10.9.0.2 netmask 255.255.255.0 up" % iface)
        _, out = g.run("wget -q -O - http://10.9.0.1:%d/file.bin | md5sum"
                       % srv.server_address[1])
        if hashlib.md5(data).hexdigest() not in out:
            raise Fail("wget over TAP fetched something else: %s" % out)
        g.poweroff()
    finally:
        g.close()
        if srv:
            srv.shutdown()
    print("PASS: guest fetched a file from the host over TAP")


CASES = {
    "rng-console": case_rng_console,
    "net-tap": case_net_tap,
    "blk-pattern": case_blk_pattern,
    "blk-overlay": case_blk_overlay,
    "net-wget": case_net_wget,
    "net-hostfwd": case_net_hostfwd,
    "blk-kill9": case_blk_kill9,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vmm", help="berth-vmm binary")
    ap.add_argument("--qemu", action="store_true", help="run under qemu-system-x86_64")
    ap.add_argument("--guest-dir", required=True, help="directory with vmlinuz, initramfs")
    ap.add_argument("--img", help="berth-img binary (checks images too)")
    ap.add_argument("--case", required=True, choices=sorted(CASES))
    args = ap.parse_args()
    for f in ("vmlinuz", "initramfs.cpio.gz"):
        if not os.path.exists(os.path.join(args.guest_dir, f)):
            print("SKIP: %s/%s is missing (run scripts/guest-image.sh)" % (args.guest_dir, f))
            return SKIP
    if not args.qemu and not args.vmm:
        ap.error("--vmm or --qemu is required")
    with tempfile.TemporaryDirectory(prefix="berth-virtio-") as tmp:
        try:
            CASES[args.case](args, tmp)
        except Skip as e:
            print("SKIP: %s" % e)
            return SKIP
        except Fail as e:
            print("FAIL: %s" % e)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
