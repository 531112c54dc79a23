#!/usr/bin/python3
"""Virtual networks under berthd (libvirt's <network>), each case in network
namespaces of its own so the host's networking is never touched: berthd runs
under `ip netns exec`, so its bridges, TAPs, dnsmasq and nftables tables all
live in the case's namespace, which is deleted afterwards.

  test_network.py --berthd B --berth C --vmm V --idle I --service S --case NAME

Exit status 77 (skip) when not root, when `ip netns`, dnsmasq or nft are
unavailable, or (cases with guests) when /dev/kvm is not usable.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_daemon import (Berthd, Console, Failure, Skip, SKIP, check, kill_leftovers,  # noqa: E402
                         processes, vmm_pids, wait_for, write_xml)

NET_XML = """<network>
  <name>%(name)s</name>
  %(forward)s
  <bridge name='%(bridge)s' stp='on' delay='0'/>
  <domain name='example'/>
  <ip address='%(prefix)s.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='%(prefix)s.100' end='%(prefix)s.200'/>
      <host mac='52:54:00:00:00:42' name='guest' ip='%(prefix)s.42'/>
    </dhcp>
  </ip>
</network>
"""


class Netns:
    """A network namespace of the case's own, deleted (with what is in it) at the end."""

    def __init__(self, tag):
        self.name = "berth-%s-%d" % (tag, os.getpid())
        r = subprocess.run(["ip", "netns", "add", self.name], capture_output=True, text=True)
        if r.returncode != 0:
            raise Skip("ip netns add: %s" % r.stderr.strip())
        self.sh("ip", "link", "set", "lo", "up")

    def sh(self, *argv, check_rc=True):
        r = subprocess.run(["ip", "netns", "exec", self.name] + list(argv),
                           capture_output=True, text=True, timeout=30)
        if check_rc and r.returncode != 0:
            raise Failure("%s: exit %d: %s" % (" ".join(argv), r.returncode, r.stderr))
        return r

    def prefix(self):
        return ["ip", "netns", "exec", self.name]

    def has_link(self, name):
        return self.sh("ip", "link", "show", name, check_rc=False).returncode == 0

    def addresses(self, name):
        out = self.sh("ip", "-o", "-4", "addr", "show", "dev", name).stdout
        return [line.split()[3] for line in out.splitlines()]

    def ports(self, bridge):
        """The interfaces enslaved to bridge."""
        out = self.sh("ip", "-o", "link", "show", "master", bridge).stdout
        return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]

    def nft_tables(self):
        return self.sh("nft", "list", "tables").stdout.split()

    def delete(self):
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True)


def dnsmasq_pids(state):
    """dnsmasq processes whose configuration lies in state."""
    return [pid for pid, argv in processes()
            if argv and argv[0].endswith(b"dnsmasq") and any(state.encode() in a for a in argv)]


def net_rows(d):
    """{name: (state, autostart, persistent)} from `berth net-list --all`."""
    out = d.run("net-list", "--all").stdout.splitlines()
    check(out[0].split() == ["Name", "State", "Autostart", "Persistent"], "header %r" % out[0])
    check(set(out[1]) == {"-"}, "rule %r" % out[1])
    return {p[0]: tuple(p[1:]) for p in (line.split() for line in out[2:])}


def net_file(tmp, name, bridge, prefix, forward="<forward mode='nat'/>"):
    path = os.path.join(tmp, "net-%s.xml" % name)
    with open(path, "w") as f:
        f.write(NET_XML % {"name": name, "bridge": bridge, "prefix": prefix, "forward": forward})
    return path


def case_network(args, tmp, ns):
    """Define, start, list, re-adopt, destroy, undefine; bad XML refused."""
    d = Berthd(args, tmp, prefix=ns.prefix())
    d.start()
    try:
        r = d.run("net-define", net_file(tmp, "nat", "bvt0", "10.77.1"))
        check("Network nat defined" in r.stdout, "net-define: %r" % r.stdout)
        check("<domain>" in r.stderr, "an ignored element is warned about: %r" % r.stderr)
        d.run("net-define", net_file(tmp, "iso", "bvt1", "10.77.2", forward=""))
        check(net_rows(d) == {"nat": ("inactive", "no", "yes"), "iso": ("inactive", "no", "yes")},
              "both defined, inactive: %r" % net_rows(d))
        check(not ns.has_link("bvt0"), "no bridge before net-start")

        d.run("net-start", "nat")
        check(ns.addresses("bvt0") == ["10.77.1.1/24"], "bridge address %r" % ns.addresses("bvt0"))
        check("UP" in ns.sh("ip", "link", "show", "bvt0").stdout, "bridge up")
        check(len(dnsmasq_pids(tmp)) == 1, "one dnsmasq")
        conf = open(os.path.join(tmp, "run", "networks", "nat.conf")).read()
        for want in ("interface=bvt0", "bind-interfaces", "dhcp-range=10.77.1.100,10.77.1.200"):
            check(want in conf, "dnsmasq config has %s" % want)
        check("dhcp-host=52:54:00:00:00:42,10.77.1.42,guest" in conf, "static host: %r" % conf)
        tables = [t for t in ns.nft_tables() if t.startswith("berth_")]
        check(len(tables) == 1, "one nft table of berth's: %r" % ns.nft_tables())
        rules = ns.sh("nft", "list", "table", "ip", tables[0]).stdout
        check("masquerade" in rules and "10.77.1.0/24" in rules, "masquerading: %r" % rules)
        check(ns.sh("cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "1", "forwarding on")
        info = dict(l.split(":", 1) for l in d.run("net-info", "nat").stdout.splitlines())
        check(info["Active"].strip() == "yes" and info["Bridge"].strip() == "bvt0", "net-info %r" % info)
        xml = d.run("net-dumpxml", "nat").stdout
        check("<bridge name=\"bvt0\"/>" in xml and "<uuid>" in xml and "mode=\"nat\"" in xml,
              "net-dumpxml %r" % xml)
        d.fails("net-start", "nat", expect="already active")
        d.fails("net-undefine", "nat", expect="active")

        d.run("net-start", "iso")
        iso_table = set(t for t in ns.nft_tables() if t.startswith("berth_")) - set(tables)
        check(len(iso_table) == 1, "the isolated network has a table too")
        check("masquerade" not in ns.sh("nft", "list", "table", "ip", iso_table.pop()).stdout,
              "an isolated network does not masquerade")
        check(net_rows(d)["iso"][0] == "active", "iso active")

        # berthd restarts: the networks (and their dnsmasq) are taken back as they are
        pids = sorted(dnsmasq_pids(tmp))
        check(len(pids) == 2, "two dnsmasq: %r" % pids)
        d.stop()
        d.start()
        check(net_rows(d)["nat"][0] == "active" and net_rows(d)["iso"][0] == "active",
              "networks adopted: %r" % net_rows(d))
        check(sorted(dnsmasq_pids(tmp)) == pids, "the same dnsmasq processes")
        # a dnsmasq that died while berthd was away is started again
        d.stop()
        os.kill(pids[0], signal.SIGKILL)
        wait_for(lambda: pids[0] not in dnsmasq_pids(tmp), "dnsmasq gone")
        d.start()
        check(len(dnsmasq_pids(tmp)) == 2, "dnsmasq restarted on adoption")

        d.run("net-destroy", "nat")
        d.run("net-destroy", "iso")
        check(not ns.has_link("bvt0") and not ns.has_link("bvt1"), "bridges removed")
        wait_for(lambda: dnsmasq_pids(tmp) == [], "dnsmasq stopped")
        check(not [t for t in ns.nft_tables() if t.startswith("berth_")], "nft tables removed")
        check(os.listdir(os.path.join(tmp, "run", "networks")) == [], "run files removed")
        d.fails("net-destroy", "nat", expect="not active")

        # autostart survives a restart and starts the network with berthd
        d.run("net-autostart", "iso")
        check(net_rows(d)["iso"][1] == "yes", "autostart set")
        d.stop()
        d.start()
        wait_for(lambda: net_rows(d)["iso"][0] == "active", "network autostarted")
        check(ns.has_link("bvt1"), "its bridge is back")
        d.run("net-destroy", "iso")
        d.run("net-autostart", "iso", "--disable")

        d.run("net-undefine", "nat")
        d.run("net-undefine", "iso")
        check(net_rows(d) == {}, "nothing left")
        d.fails("net-info", "nat", expect="not found")

        # bad definitions: refused with the problem named, nothing defined
        bad = {
            "<network><name>x</name><ip address='10.1.1.1' netmask='255.0.255.0'/></network>":
                "contiguous",
            "<network><name>x</name><ip address='10.1.1.1' prefix='24'><dhcp>"
            "<range start='10.1.2.10' end='10.1.2.20'/></dhcp></ip></network>": "not inside the subnet",
            "<network><name>x</name><ip address='10.1.1.1' prefix='24'><dhcp>"
            "<range start='10.1.1.20' end='10.1.1.10'/></dhcp></ip></network>": "start is after end",
            "<network><name>x</name><ip address='10.1.1.1' prefix='24'><dhcp>"
            "<host mac='01:00:00:00:00:01' ip='10.1.1.5'/></dhcp></ip></network>": "unicast",
            "<network><name>x</name><forward mode='bridge'/></network>": "mode='bridge'",
            "<network><name>x</name><forward mode='nat'/></network>": "needs an <ip>",
            "<network><name>a/b</name></network>": "a/b",
            "<network><name>x</name><bridge name='waytoolongbridgename'/></network>":
                "waytoolongbridgename",
            "<network><name>x</name><ip address='10.1.1.1' prefix='24'/>": "malformed",
            "<domain><name>x</name></domain>": "<network>",
        }
        for xml, needle in bad.items():
            path = os.path.join(tmp, "bad.xml")
            with open(path, "w") as f:
                f.write(xml)
            d.fails("net-define", path, expect=needle)
        check(net_rows(d) == {}, "nothing defined by bad XML")
        # two networks cannot share a bridge
        d.run("net-define", net_file(tmp, "one", "bvt2", "10.77.3"))
        d.fails("net-define", net_file(tmp, "two", "bvt2", "10.77.4"), expect="bvt2")
        d.run("net-undefine", "one")
        # a bridge name is picked when none is given
        path = os.path.join(tmp, "nobridge.xml")
        with open(path, "w") as f:
            f.write("<network><name>auto</name></network>")
        d.run("net-define", path)
        check("<bridge name=\"bvbr0\"/>" in d.run("net-dumpxml", "auto").stdout, "bridge bvbr0 picked")
        d.run("net-undefine", "auto")

        # an active network whose definition vanished while berthd was away is torn down
        d.run("net-define", net_file(tmp, "orph", "bvt3", "10.77.7"))
        d.run("net-start", "orph")
        d.stop()
        os.unlink(os.path.join(tmp, "networks", "orph.xml"))
        d.start()
        check(not ns.has_link("bvt3"), "orphan bridge removed")
        wait_for(lambda: dnsmasq_pids(tmp) == [], "orphan dnsmasq stopped")
        check(not [t for t in ns.nft_tables() if t.startswith("berth_")], "orphan table removed")
        check(net_rows(d) == {}, "nothing listed")
    finally:
        d.stop()
    # a berthd that is not root refuses to start networks, and says why
    tmp2 = tempfile.mkdtemp(prefix="berth-net-user-")
    os.chmod(tmp2, 0o777)
    u = Berthd(args, tmp2, extra=["--session"],
               prefix=ns.prefix() + ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"])
    try:
        u.start()
        u.run("net-define", net_file(tmp, "usr", "bvt4", "10.77.8"))
        u.fails("net-start", "usr", expect="needs root")
        check(not ns.has_link("bvt4"), "no bridge")
    finally:
        u.stop()
        shutil.rmtree(tmp2, ignore_errors=True)


def case_domain(args, tmp, ns):
    """A tiny guest on a network: refused while it is inactive, then a TAP on its bridge."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        raise Skip("/dev/kvm is not usable")
    d = Berthd(args, tmp, prefix=ns.prefix())
    d.start()
    try:
        d.run("net-define", net_file(tmp, "lan", "bvt5", "10.77.5"))
        mac = "52:54:00:ab:cd:ef"
        d.run("define", write_xml(tmp, "g", args.idle,
                                  "<interface type='network'><mac address='%s'/>"
                                  "<source network='lan'/><model type='virtio'/></interface>" % mac))
        d.fails("start", "g", expect="network 'lan' is not active")
        d.run("define", write_xml(tmp, "h", args.idle,
                                  "<interface type='network'><source network='nowhere'/></interface>"))
        d.fails("start", "h", expect="nowhere")
        check(vmm_pids(tmp, "g") == [], "no VM started")

        d.run("net-start", "lan")
        d.run("start", "g")
        ports = ns.ports("bvt5")
        check(len(ports) == 1 and ports[0].startswith("bvnet"), "one TAP on the bridge: %r" % ports)
        argv = open("/proc/%d/cmdline" % d.pid("g"), "rb").read().split(b"\0")
        check(("tap,ifname=%s,mac=%s" % (ports[0], mac)).encode() in argv,
              "berth-vmm gets the TAP and the MAC: %r" % argv)
        d.run("destroy", "g")
        check(ns.ports("bvt5") == [] and not ns.has_link(ports[0]), "TAP removed with the VM")

        # autostart order: the network comes up before the domain that needs it
        d.run("net-autostart", "lan")
        d.run("autostart", "g")
        d.run("net-destroy", "lan")
        d.stop()
        d.start()
        # berthd answers before its autostarts are through
        wait_for(lambda: d.state_of("g") == "running", "domain autostarted on the network")
        check(net_rows(d)["lan"][0] == "active", "network autostarted")
        check(len(ns.ports("bvt5")) == 1, "its TAP is on the bridge")
        d.run("destroy", "g")
        d.run("autostart", "g", "--disable")
        d.run("net-destroy", "lan")
    finally:
        d.stop()


def case_linux(args, tmp, ns):
    """Debian's kernel on soft, on a network: a DHCP lease for its static host, ping the bridge."""
    kernel = os.path.join(args.guest_dir or "", "vmlinuz")
    initrd = os.path.join(args.guest_dir or "", "initramfs.cpio.gz")
    if not (args.guest_dir and os.path.exists(kernel) and os.path.exists(initrd)):
        raise Skip("no guest image (run scripts/guest-image.sh)")
    d = Berthd(args, tmp, prefix=ns.prefix())
    d.start()
    try:
        d.run("net-define", net_file(tmp, "lan", "bvt6", "10.77.6"))
        d.run("net-start", "lan")
        path = os.path.join(tmp, "linux.xml")
        with open(path, "w") as f:
            f.write("""<domain type='qemu'>
  <name>linux</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type><kernel>%s</kernel><initrd>%s</initrd>
    <cmdline>console=ttyS0</cmdline></os>
  <devices><serial type='pty'/><console type='pty'/>
    <interface type='network'><mac address='52:54:00:00:00:42'/><source network='lan'/>
      <model type='virtio'/></interface>
  </devices>
</domain>
""" % (kernel, initrd))
        d.run("define", path)
        d.run("start", "linux")
        c = Console(d, "linux")
        try:
            c.expect("berth-guest# ", 900, fail_on=("Kernel panic",))
            # markers computed by the shell, so the echoed command line never matches
            c.send("cat /sys/class/net/eth0/address; ip link set eth0 up; udhcpc -i eth0 -n -q -t 10 -s /bin/true -T 5 "
                   "2>&1 | tail -3; echo dhcp-$((40+2))-done\n")
            c.expect("dhcp-42-done", 300)
            check(b"lease of 10.77.6.42 obtained" in c.out,
                  "a lease of the static host's address: %r" % c.out[-600:])
            c.send("ip addr add 10.77.6.42/24 dev eth0; ping -c 2 -W 5 10.77.6.1 >/dev/null "
                   "&& echo ping-$((1+1))-ok; echo ping-$((3+3))-done\n")
            c.expect("ping-6-done", 300)
            check(b"ping-2-ok" in c.out, "the guest reaches the bridge: %r" % c.out[-600:])
        finally:
            c.detach()
        leases = open(os.path.join(tmp, "run", "networks", "lan.leases")).read()
        check("52:54:00:00:00:42 10.77.6.42" in leases, "dnsmasq recorded the lease: %r" % leases)
        d.run("destroy", "linux")
        d.run("net-destroy", "lan")
    finally:
        d.stop()


CASES = {"network": case_network, "domain": case_domain, "linux": case_linux}


def main():
    ap = argparse.ArgumentParser()
    for a in ("berthd", "berth", "vmm", "idle", "service"):
        ap.add_argument("--" + a, required=True)
    ap.add_argument("--case", required=True, choices=sorted(CASES))
    ap.add_argument("--guest-dir", help="scripts/guest-image.sh's output (case linux)")
    args = ap.parse_args()
    for a in ("berthd", "berth", "vmm", "idle", "service"):
        setattr(args, a, os.path.abspath(getattr(args, a)))
    if os.geteuid() != 0:
        print("SKIP: networks need root")
        return SKIP
    for tool in ("ip", "dnsmasq", "nft"):
        if not shutil.which(tool, path="/usr/sbin:/sbin:/usr/bin:/bin"):
            print("SKIP: %s is not installed" % tool)
            return SKIP
    tmp = tempfile.mkdtemp(prefix="berth-net-test-")
    ns = None
    try:
        ns = Netns(args.case)
        CASES[args.case](args, tmp, ns)
        for log in [os.path.join(tmp, "berthd-test.log")] + [
                os.path.join(tmp, "log", f) for f in os.listdir(os.path.join(tmp, "log"))]:
            with open(log, errors="replace") as f:
                reports = [l for l in f.read().splitlines() if "Sanitizer" in l or "runtime error:" in l]
            check(not reports, "sanitizer reports in %s: %r" % (os.path.basename(log), reports[:3]))
    except Skip as e:
        print("SKIP: %s: %s" % (args.case, e))
        return SKIP
    except Exception as e:
        print("FAIL: %s: %s: %s" % (args.case, type(e).__name__, e))
        p = os.path.join(tmp, "berthd-test.log")
        if os.path.exists(p):
            print("---- berthd-test.log ----")
            print(open(p, errors="replace").read()[-4000:])
        return 1
    finally:
        kill_leftovers(tmp)
        for pid in dnsmasq_pids(tmp):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if ns:
            ns.delete()
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASS: %s" % args.case)
    return 0


if __name__ == "__main__":
    sys.exit(main())
