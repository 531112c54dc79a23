#!/usr/bin/python3
"""The guest resolves a name through user-mode networking's DNS address.

libslirp answers nothing itself at the virtual nameserver 10.0.2.3: it
forwards each UDP datagram sent there (port 53) to the first nameserver it
reads from the host's /etc/resolv.conf, used as written (a loopback address
stays loopback), falling back to 127.0.0.1 when the file names none, and it
makes the reply appear to come from 10.0.2.3 again.

This test never touches the host's configuration. It re-runs itself under
`unshare --mount --net` (private mount propagation), and there:
  - brings up the namespace's own loopback,
  - bind-mounts a temporary file over /etc/resolv.conf naming 127.0.0.53
    (deliberately not libslirp's 127.0.0.1 fallback, so an answer proves the
    file was read),
  - runs a small UDP DNS responder on 127.0.0.53:53 that answers A queries for
    probe.berth.test with an address chosen at random for this run, NXDOMAIN
    for other names, and records every query it gets,
  - boots the Debian test guest under berth-vmm --accel soft --net user, and
    in the guest runs udhcpc (the lease must name 10.0.2.3 as DNS server) and
    busybox nslookup against 10.0.2.3.
It passes when the guest prints the chosen address, an unknown name fails
with NXDOMAIN, and the responder saw both queries.

Exit status 77 (skip): not root, `unshare` missing, namespaces unavailable,
or the guest image is missing (scripts/guest-image.sh).
"""
import argparse
import hashlib
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading

SKIP = 77
NAMESERVER = "127.0.0.53"
PROBE = "probe.berth.test"
UNKNOWN = "absent.berth.test"
READY_TIMEOUT = float(os.environ.get("BERTH_GUEST_READY_TIMEOUT", "600"))
CMD_TIMEOUT = float(os.environ.get("BERTH_GUEST_CMD_TIMEOUT", "300"))

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "linux"))
from guestconsole import READY, Guest, GuestError  # noqa: E402


class Fail(Exception):
    pass


class Skip(Exception):
    pass


def sh(*cmd):
    """Run a host command; return (status, output)."""
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except OSError as e:
        return 127, "%s: %s" % (cmd[0], e)
    return p.returncode, p.stdout.decode(errors="replace")


class Responder:
    """A UDP DNS server for one name: A queries for PROBE get self.address,
    other names NXDOMAIN. self.queries lists (name, qtype, peer) received."""

    def __init__(self, host, address):
        self.address = address
        self.queries = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 53))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return  # closed
            reply = self._answer(data, peer)
            if reply:
                try:
                    self.sock.sendto(reply, peer)
                except OSError:
                    pass  # the asker is gone; it will time out and retry

    def _answer(self, data, peer):
        """The reply to one query, or None if it is not a well-formed question."""
        if len(data) < 12:
            return None
        qid, flags, qdcount = struct.unpack(">HHH", data[:6])
        if flags & 0x8000 or qdcount != 1:
            return None
        labels, pos = [], 12
        while True:
            if pos >= len(data):
                return None
            n = data[pos]
            pos += 1
            if n == 0:
                break
            if n > 63 or pos + n > len(data):
                return None
            labels.append(data[pos:pos + n].decode(errors="replace"))
            pos += n
        if pos + 4 > len(data):
            return None
        qtype, qclass = struct.unpack(">HH", data[pos:pos + 4])
        question = data[12:pos + 4]
        name = ".".join(labels).lower()
        with self.lock:
            self.queries.append((name, qtype, peer))
        answers = b""
        rcode = 0
        if name != PROBE:
            rcode = 3  # NXDOMAIN
        elif qtype == 1 and qclass == 1:
            # A pointer to the question's name, type A, class IN, TTL 60.
            answers = struct.pack(">HHHIH", 0xC00C, 1, 1, 60, 4) + \
                socket.inet_aton(self.address)
        # QR, opcode copied, RD copied, RA.
        rflags = 0x8000 | (flags & 0x7900) | 0x0080 | rcode
        header = struct.pack(">HHHHHH", qid, rflags, 1, 1 if answers else 0, 0, 0)
        return header + question + answers

    def seen(self, name):
        with self.lock:
            return [q for q in self.queries if q[0] == name]

    def close(self):
        self.sock.close()


def guest_run(g, command, check=True):
    """Run a shell command in the guest; return (status, output text)."""
    try:
        status, out = g.run_status(command, CMD_TIMEOUT)
    except GuestError as e:
        raise Fail("guest command %r: %s" % (command, e))
    out = out.decode(errors="replace")
    if check and status != 0:
        raise Fail("guest command failed (%d): %s\n%s" % (status, command, out))
    return status, out


def inner(args):
    """The test proper, in private mount and network namespaces."""
    st, out = sh("ip", "link", "set", "lo", "up")
    if st:
        raise Skip("cannot bring up loopback in the namespace: " + out)
    tmp = tempfile.mkdtemp(prefix="berth-dns-")
    resolv = os.path.join(tmp, "resolv.conf")
    with open(resolv, "w") as f:
        f.write("# berth dns_test: private to this mount namespace\n"
                "nameserver %s\n" % NAMESERVER)
    st, out = sh("mount", "--bind", resolv, "/etc/resolv.conf")
    if st:
        raise Skip("cannot bind-mount over /etc/resolv.conf: " + out)
    with open("/etc/resolv.conf") as f:
        if NAMESERVER not in f.read():
            raise Fail("the bind mount over /etc/resolv.conf did not take effect")

    address = "198.51.100.%d" % random.randint(2, 254)
    dns = Responder(NAMESERVER, address)
    kernel = os.path.join(args.guest_dir, "vmlinuz")
    initrd = os.path.join(args.guest_dir, "initramfs.cpio.gz")
    g = Guest(args.vmm, kernel, initrd, append="console=ttyS0 panic=-1",
              extra=["--no-reboot", "--net", "user"])
    try:
        try:
            g.expect(READY, READY_TIMEOUT)
        except GuestError as e:
            raise Fail("the guest did not reach its ready line: %s" % e)
        g.expect(rb"berth-guest# ", 60)

        _, out = guest_run(g, "ls /sys/class/net")
        ifs = [i for i in out.split() if i != "lo"]
        if not ifs:
            raise Fail("the guest has no network interface")
        iface = ifs[0]
        # udhcpc passes the lease's DNS servers in $dns.
        guest_run(g, "printf '#!/bin/sh\\n[ \"$1\" = bound ] || exit 0\\n"
                  "ifconfig $interface $ip netmask $subnet up\\n"
                  "route add default gw $router\\n"
                  "echo \"lease-dns=$dns\" > /tmp/lease\\n' > /tmp/dhcp.sh"
                  " && chmod +x /tmp/dhcp.sh")
        guest_run(g, "ifconfig %s up && udhcpc -i %s -n -q -t 10 -T 2 -s /tmp/dhcp.sh"
                  % (iface, iface))
        _, out = guest_run(g, "cat /tmp/lease")
        if "lease-dns=10.0.2.3" not in out.split():
            raise Fail("the DHCP lease does not name 10.0.2.3 as DNS server: %r" % out)

        st, out = guest_run(g, "nslookup %s 10.0.2.3" % PROBE, check=False)
        tail = out.split("Name:", 1)
        if st != 0 or len(tail) != 2 or address not in tail[1]:
            raise Fail("nslookup %s did not give %s (status %d):\n%s"
                       % (PROBE, address, st, out))
        print(out)
        if not any(q[1] == 1 for q in dns.seen(PROBE)):
            raise Fail("the responder never saw an A query for %s: %r" % (PROBE, dns.queries))

        st, out = guest_run(g, "nslookup %s 10.0.2.3" % UNKNOWN, check=False)
        if st == 0 or address in out or "NXDOMAIN" not in out:
            raise Fail("nslookup %s did not fail with NXDOMAIN (status %d):\n%s"
                       % (UNKNOWN, st, out))
        print(out)
        if not dns.seen(UNKNOWN):
            raise Fail("the responder never saw the query for %s: %r" % (UNKNOWN, dns.queries))

        g.send("poweroff -f\n")
        try:
            status = g.wait(120)
        except GuestError as e:
            raise Fail("the guest did not power off: %s" % e)
        if status != 0:
            raise Fail("berth-vmm exited with %d after poweroff" % status)
    except Fail:
        print(g.transcript())
        raise
    finally:
        g.kill()
        dns.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASS: the guest resolved %s to %s through 10.0.2.3 (%d queries reached the "
          "host's resolver)" % (PROBE, address, len(dns.queries)))


def outer(args):
    """Check what is needed, then re-run this script in private namespaces."""
    if os.geteuid() != 0:
        raise Skip("needs root (network and mount namespaces, port 53)")
    unshare = shutil.which("unshare")
    if not unshare:
        raise Skip("unshare is not installed")
    for f in ("vmlinuz", "initramfs.cpio.gz"):
        if not os.path.exists(os.path.join(args.guest_dir, f)):
            raise Skip("no guest image in %s (run scripts/guest-image.sh)" % args.guest_dir)
    st, out = sh(unshare, "--mount", "--net", "--propagation", "private", "true")
    if st:
        raise Skip("cannot create mount and network namespaces: " + out)
    with open("/etc/resolv.conf", "rb") as f:
        before = hashlib.sha256(f.read()).hexdigest()
    cmd = [unshare, "--mount", "--net", "--propagation", "private", "--",
           sys.executable, os.path.abspath(__file__), "--inner",
           "--vmm", args.vmm, "--guest-dir", args.guest_dir]
    status = subprocess.call(cmd)
    with open("/etc/resolv.conf", "rb") as f:
        if hashlib.sha256(f.read()).hexdigest() != before:
            raise Fail("the host's /etc/resolv.conf changed")
    return status


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vmm", required=True, help="berth-vmm binary")
    ap.add_argument("--guest-dir", required=True, help="directory of vmlinuz and initramfs.cpio.gz")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.vmm = os.path.abspath(args.vmm)
    args.guest_dir = os.path.abspath(args.guest_dir)
    try:
        if args.inner:
            inner(args)
            return 0
        return outer(args)
    except Skip as e:
        print("SKIP:", e)
        return SKIP
    except Fail as e:
        print("FAIL:", e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
