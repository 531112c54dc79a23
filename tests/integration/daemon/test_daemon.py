#!/usr/bin/python3
"""berthd + berth CLI integration tests with real berth-vmm processes.

Each case starts its own berthd (--state-dir in a temporary directory) and
drives it with the berth CLI (and, for malformed requests, raw HTTP on its
UNIX socket). Guests are the tiny kvm guests of this directory:
  idle.bin     prints a line, then halts with interrupts off
  service.bin  echoes COM1 input upper-cased; powers off on the ACPI button

  test_daemon.py --berthd B --berth C --vmm V --idle I --service S --case NAME

Exit status 77 (skip) when /dev/kvm is not usable.
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77


class Failure(Exception):
    pass


class Skip(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def wait_for(pred, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise Failure("timed out waiting for " + what)


class Berthd:
    """One berthd instance with its own state directory, plus CLI helpers."""

    def __init__(self, args, state, extra=(), prefix=()):
        self.args = args
        self.state = state
        self.extra = list(extra)
        self.prefix = list(prefix)  # e.g. ip netns exec NS
        self.proc = None
        self.sock = os.path.join(state, "run", "berthd.sock")
        self.ro_sock = os.path.join(state, "run", "berthd-ro.sock")
        self.log = open(os.path.join(state, "berthd-test.log"), "ab")

    def start(self):
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        self.proc = subprocess.Popen(
            self.prefix + [self.args.berthd, "--state-dir", self.state, "--vmm", self.args.vmm] +
            self.extra,
            stdout=self.log, stderr=self.log)
        wait_for(lambda: os.path.exists(self.sock) or self.proc.poll() is not None, "berthd socket")
        check(self.proc.poll() is None, "berthd exited at start-up")
        # ready once it answers
        wait_for(lambda: self.run("version", check_rc=False).returncode == 0, "berthd answering")

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            rc = self.proc.wait(timeout=10)
            # a clean stop exits 0 (a sanitizer build fails it on leaks)
            check(sig != signal.SIGTERM or rc == 0, "berthd exited %d on SIGTERM" % rc)
        self.proc = None



    def run(self, *argv, check_rc=True, input=None, env=None, ro=False):
        cmd = [self.args.berth, "-c", self.ro_sock if ro else self.sock] + list(argv)
        r = subprocess.run(cmd, capture_output=True, text=True, input=input, env=env, timeout=60)
        if check_rc and r.returncode != 0:
            raise Failure("%s: exit %d: %s%s" % (" ".join(argv), r.returncode, r.stdout, r.stderr))
        return r

    def fails(self, *argv, expect=None):
        r = self.run(*argv, check_rc=False)
        check(r.returncode == 1, "%s should fail with status 1, got %d: %s" %
              (" ".join(argv), r.returncode, r.stdout))
        check(r.stderr.startswith("error: "), "%s: error message: %r" % (" ".join(argv), r.stderr))
        if expect:
            check(expect in r.stderr, "%s: error %r does not say %r" % (" ".join(argv), r.stderr, expect))
        return r

    def list(self):
        """{name: (id, state)} from `berth list --all` (virsh's table)."""
        out = self.run("list", "--all").stdout.splitlines()
        check(out[0].split() == ["Id", "Name", "State"], "list header: %r" % out[0])
        check(set(out[1]) == {"-"}, "list rule: %r" % out[1])
        rows = {}
        for line in out[2:]:
            parts = line.split(None, 2)
            rows[parts[1]] = (parts[0], parts[2])
        return rows

    def state_of(self, name):
        return self.run("domstate", name).stdout.strip()

    def info(self, name):
        out = self.run("dominfo", name).stdout
        return {k.strip(): v.strip() for k, v in (l.split(":", 1) for l in out.splitlines())}

    def pid(self, name):
        return int(self.info(name)["PID"])

    def pid_now(self, name):
        """The VM's pid from one dominfo, or None while it has no process."""
        pid = self.info(name).get("PID")
        return int(pid) if pid else None

    def http(self, method, path, body=b"", ro=False, raw=None):
        """One raw HTTP request on the UNIX socket: (status, parsed JSON or text)."""
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(30)
        s.connect(self.ro_sock if ro else self.sock)
        if raw is None:
            raw = ("%s %s HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n"
                   "Connection: close\r\n\r\n" % (method, path, len(body))).encode() + body
        s.sendall(raw)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        head, _, payload = data.partition(b"\r\n\r\n")
        status = int(head.split()[1]) if head.startswith(b"HTTP/") else 0
        try:
            return status, json.loads(payload)
        except ValueError:
            return status, payload.decode(errors="replace")


def processes():
    """(pid, argv) of every process that is still there to read."""
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                yield int(p), f.read().split(b"\0")
        except OSError:
            continue


def vmm_controls():
    """(pid, control socket path) of every running berth-vmm."""
    for pid, argv in processes():
        if argv and argv[0].endswith(b"berth-vmm") and b"--control" in argv:
            i = argv.index(b"--control")
            if i + 1 < len(argv):
                yield pid, argv[i + 1]


def vmm_pids(state, name):
    """pids of berth-vmm processes running domain name for the berthd of state."""
    ctl = os.path.join(state, "run", name + ".ctl").encode()
    return [pid for pid, path in vmm_controls() if path == ctl]


def kill_leftovers(state):
    """Kill every berth-vmm a berthd of state started (after a failed case)."""
    prefix = os.path.join(state, "run").encode() + b"/"
    for pid, path in vmm_controls():
        if path.startswith(prefix):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def write_xml(tmp, name, kernel, extra_devices="", memory_mib=16, on_crash="destroy",
              on_poweroff="destroy", on_reboot="restart"):
    path = os.path.join(tmp, name + ".xml")
    with open(path, "w") as f:
        f.write("""<domain type='kvm'>
  <name>%s</name>
  <memory unit='MiB'>%d</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type><kernel>%s</kernel></os>
  <on_crash>%s</on_crash>
  <on_poweroff>%s</on_poweroff>
  <on_reboot>%s</on_reboot>
  <devices>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    %s
  </devices>
</domain>
""" % (name, memory_mib, kernel, on_crash, on_poweroff, on_reboot, extra_devices))
    return path


class Console:
    """`berth console NAME` driven through pipes."""

    def __init__(self, d, name):
        self.name = name
        self.out = b""
        self.p = subprocess.Popen([d.args.berth, "-c", d.sock, "console", name],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        os.set_blocking(self.p.stdout.fileno(), False)
        # attached once the banner is out
        self.expect("Escape character", 10)

    def expect(self, text, timeout, fail_on=()):
        deadline = time.monotonic() + timeout
        while text.encode() not in self.out:
            for bad in fail_on:
                if bad.encode() in self.out:
                    raise Failure("console of %s: %r: %r" % (self.name, bad, self.out[-2000:]))
            if time.monotonic() > deadline or self.p.poll() is not None:
                raise Failure("console of %s: %r not seen in %r" % (self.name, text, self.out[-2000:]))
            self.out += self.p.stdout.read() or b""
            time.sleep(0.02)

    def send(self, text):
        self.p.stdin.write(text.encode())
        self.p.stdin.flush()

    def detach(self):
        """Ctrl+] ends the console client with status 0."""
        try:
            self.send("\x1d")
            rc = self.p.wait(timeout=5)
        finally:
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait()
        check(rc == 0, "console exit status %d" % rc)


def console_exchange(d, name, text, expect, timeout=10):
    """Type text on the console of name; wait for expect in what comes back."""
    c = Console(d, name)
    try:
        c.send(text)
        c.expect(expect, timeout)
    finally:
        c.detach()


# ---------------------------------------------------------------- cases

def case_lifecycle(args, tmp):
    d = Berthd(args, tmp)
    d.start()
    try:
        check(d.list() == {}, "a new berthd has no domains")
        x = write_xml(tmp, "svc", args.service)
        r = d.run("define", x)
        check(r.stdout.strip() == "Domain 'svc' defined from %s" % x, "define output: %r" % r.stdout)
        check(d.list() == {"svc": ("-", "shut off")}, "defined domain listed shut off")
        xml = d.run("dumpxml", "svc").stdout
        check("<uuid>" in xml and "<name>svc</name>" in xml, "dumpxml has a uuid")
        check(not os.path.exists(os.path.join(tmp, "run", "svc.state")), "no state file when off")

        d.run("start", "svc")
        rows = d.list()
        check(rows["svc"][1] == "running" and rows["svc"][0].isdigit(), "running with an id: %r" % rows)
        info = d.info("svc")
        check(info["State"] == "running" and info["Accelerator"] == "kvm", "dominfo: %r" % info)
        check(info["Max memory"] == "16384 KiB" and info["CPU(s)"] == "1", "dominfo sizes: %r" % info)
        pid = int(info["PID"])
        check(vmm_pids(tmp, "svc") == [pid], "one berth-vmm for svc with the reported pid")
        check(os.path.exists(os.path.join(tmp, "run", "svc.state")), "state file while running")
        d.fails("start", "svc", expect="already active")
        d.fails("undefine", "nosuch", expect="not found")

        console_exchange(d, "svc", "ping", "PING")

        d.run("suspend", "svc")
        check(d.run("domstate", "svc", "--reason").stdout.strip() == "paused (user)", "paused")
        d.run("resume", "svc")
        check(d.state_of("svc") == "running", "resumed")
        console_exchange(d, "svc", "again", "AGAIN")

        # reset: berth-vmm restarts the machine in place (same process)
        d.run("reset", "svc")
        time.sleep(0.3)
        check(d.state_of("svc") == "running" and d.pid("svc") == pid, "reset keeps the VM process")
        console_exchange(d, "svc", "after reset", "AFTER RESET")

        # reboot: power button, the guest powers off, berthd starts it again
        d.run("reboot", "svc")
        wait_for(lambda: d.pid_now("svc") not in (None, pid), "a new VM process after reboot")
        check(d.state_of("svc") == "running", "running after reboot")

        # shutdown: the guest powers off cleanly on the ACPI button
        r = d.run("shutdown", "svc")
        check(r.stdout.strip() == "Domain 'svc' is being shutdown", "shutdown output")
        wait_for(lambda: d.state_of("svc") == "shut off", "guest power-off")
        check(d.run("domstate", "svc", "--reason").stdout.strip() == "shut off (shutdown)", "reason")
        check(vmm_pids(tmp, "svc") == [], "no berth-vmm left")
        check(not os.path.exists(os.path.join(tmp, "run", "svc.state")), "state file removed")
        d.fails("shutdown", "svc", expect="not running")

        d.run("start", "svc")
        d.run("destroy", "svc")
        check(d.run("domstate", "svc", "--reason").stdout.strip() == "shut off (destroyed)", "destroyed")
        check(vmm_pids(tmp, "svc") == [], "destroy leaves no berth-vmm")

        # autostart flag
        d.run("autostart", "svc")
        check(d.info("svc")["Autostart"] == "enable", "autostart on")
        d.run("autostart", "svc", "--disable")
        check(d.info("svc")["Autostart"] == "disable", "autostart off")

        # transient domain: gone once stopped
        t = write_xml(tmp, "tmpvm", args.idle)
        r = d.run("create", t)
        check(r.stdout.strip() == "Domain 'tmpvm' created from %s" % t, "create output")
        check(d.info("tmpvm")["Persistent"] == "no", "transient")
        d.fails("autostart", "tmpvm", expect="transient")
        d.run("destroy", "tmpvm")
        check("tmpvm" not in d.list(), "transient domain gone after destroy")

        # block and interface lists, create-vm
        disk = os.path.join(tmp, "disk.img")
        with open(disk, "wb") as f:
            f.truncate(1 << 20)
        d.run("create-vm", "cv", "--memory", "16", "--kernel", args.idle, "--virt-type", "kvm",
              "--disk", disk + ",readonly", "--network", "user,mac=52:54:00:12:34:56")
        bl = d.run("domblklist", "cv").stdout.splitlines()
        check(bl[0].split() == ["Target", "Source"] and bl[2].split() == ["vda", disk], "domblklist: %r" % bl)
        il = d.run("domiflist", "cv").stdout.splitlines()
        check(il[2].split() == ["-", "user", "-", "virtio", "52:54:00:12:34:56"], "domiflist: %r" % il)
        d.run("undefine", "cv")

        # on_reboot destroy: a reset ends the VM (even with on_poweroff restart)
        d.run("define", write_xml(tmp, "nr", args.idle, on_poweroff="restart", on_reboot="destroy"))
        d.run("start", "nr")
        d.run("reset", "nr")
        wait_for(lambda: d.state_of("nr") == "shut off", "reset with on_reboot=destroy stops it")
        check(vmm_pids(tmp, "nr") == [], "no berth-vmm after the reset")
        d.run("undefine", "nr")

        r = d.run("undefine", "svc")
        check(r.stdout.strip() == "Domain 'svc' has been undefined", "undefine output")
        check(d.list() == {}, "nothing left")
        check(os.listdir(os.path.join(tmp, "domains")) == [], "definition files removed")
    finally:
        d.stop()


def case_persistence(args, tmp):
    d = Berthd(args, tmp)
    d.start()
    try:
        d.run("define", write_xml(tmp, "keep", args.idle))
        d.run("define", write_xml(tmp, "auto", args.idle))
        d.run("autostart", "auto")
        before = d.run("dumpxml", "keep").stdout
        d.stop()
        # every write was atomic: no temporary files are left behind
        left = [f for f in os.listdir(os.path.join(tmp, "domains")) if not f.endswith(".xml")]
        check(left == [], "temporary files left: %r" % left)
        d.start()
        # autostart runs once berthd serves: wait for it
        wait_for(lambda: d.list().get("auto", ("", ""))[1] == "running", "autostart")
        rows = d.list()
        check(rows.get("keep") == ("-", "shut off"), "keep survives: %r" % rows)
        check(rows["auto"][0].isdigit(), "autostart domain running with an id: %r" % rows)
        check(d.run("dumpxml", "keep").stdout == before, "definition unchanged across restart")
        # a running VM survives a clean berthd stop too, and is adopted
        pid = d.pid("auto")
        d.stop()
        check(vmm_pids(tmp, "auto") == [pid], "VM keeps running while berthd is down")
        d.start()
        check(d.pid("auto") == pid, "adopted, not restarted")
        d.run("destroy", "auto")
    finally:
        d.stop()
        for name in ("auto", "keep"):
            for p in vmm_pids(tmp, name):
                os.kill(p, signal.SIGKILL)


def case_readopt(args, tmp):
    d = Berthd(args, tmp)
    d.start()
    try:
        d.run("define", write_xml(tmp, "a", args.idle))
        d.run("define", write_xml(tmp, "b", args.service))
        d.run("define", write_xml(tmp, "c", args.idle, on_crash="restart"))
        for n in "abc":
            d.run("start", n)
        d.run("suspend", "a")
        pids = {n: d.pid(n) for n in "abc"}
        ids = {n: r[0] for n, r in d.list().items()}
        d.stop(signal.SIGKILL)
        for n in "abc":
            check(vmm_pids(tmp, n) == [pids[n]], "%s still runs after kill -9 of berthd" % n)
        d.start()
        rows = d.list()
        check(rows == {"a": (ids["a"], "paused"), "b": (ids["b"], "running"),
                       "c": (ids["c"], "running")}, "re-adopted as they were: %r" % rows)
        check({n: d.pid(n) for n in "abc"} == pids, "same processes")
        # control works on adopted VMs, and their exits are noticed
        d.run("resume", "a")
        console_exchange(d, "b", "adopted", "ADOPTED")
        d.run("shutdown", "b")
        wait_for(lambda: d.state_of("b") == "shut off", "adopted VM powers off")
        check(d.run("domstate", "b", "--reason").stdout.strip() == "shut off (shutdown)", "clean shutdown")
        # a VM whose berth-vmm dies is marked crashed (on_crash destroy)...
        os.kill(pids["a"], signal.SIGKILL)
        wait_for(lambda: d.state_of("a") == "shut off", "crash noticed")
        check(d.run("domstate", "a", "--reason").stdout.strip() == "shut off (crashed)", "crashed")
        # ... or restarted (on_crash restart)
        os.kill(pids["c"], signal.SIGKILL)
        wait_for(lambda: d.pid_now("c") not in (None, pids["c"]), "crashed VM restarted")
        check(d.state_of("c") == "running", "c running again")
        # on_crash preserve: the domain stays crashed until destroyed
        d.run("define", write_xml(tmp, "p", args.idle, on_crash="preserve"))
        d.run("start", "p")
        os.kill(d.pid("p"), signal.SIGKILL)
        wait_for(lambda: d.state_of("p") == "crashed", "preserved crash")
        check(vmm_pids(tmp, "p") == [], "nothing runs for a preserved crash")
        d.run("destroy", "p")
        check(d.run("domstate", "p", "--reason").stdout.strip() == "shut off (destroyed)",
              "destroy clears a preserved crash")
        d.run("start", "p")
        d.run("destroy", "p")
        # a VM that dies while berthd is away is found crashed by the next one
        d.stop(signal.SIGKILL)
        for p in vmm_pids(tmp, "c"):
            os.kill(p, signal.SIGKILL)
        wait_for(lambda: vmm_pids(tmp, "c") == [], "c gone")
        d.start()
        check(d.run("domstate", "c", "--reason").stdout.strip() == "shut off (crashed)",
              "found crashed after a restart")
        check(not os.path.exists(os.path.join(tmp, "run", "c.state")), "its state file cleaned")
    finally:
        d.stop()
        for n in "abc":
            for p in vmm_pids(tmp, n):
                os.kill(p, signal.SIGKILL)


def host_memory():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    raise Failure("no MemTotal")


def case_admission(args, tmp):
    total = host_memory()
    mib = 1 << 20
    # leave room for 40 MiB of VMs: two of 16 MiB fit, a third does not
    reserve = total - 40 * mib
    d = Berthd(args, tmp, ["--reserve", "%dK" % (reserve // 1024)])
    d.start()
    try:
        for n in ("m1", "m2", "m3"):
            d.run("define", write_xml(tmp, n, args.idle))
        d.run("start", "m1")
        d.run("start", "m2")
        r = d.fails("start", "m3", expect="not enough host memory")
        check("it needs 16 MiB, 8 MiB free" in r.stderr, "error says what is free: %r" % r.stderr)
        check(d.state_of("m3") == "shut off" and vmm_pids(tmp, "m3") == [], "refused VM not started")
        ni = {k.strip(): v.strip() for k, v in
              (l.split(":", 1) for l in d.run("nodeinfo").stdout.splitlines())}
        check(ni["Memory size"] == "%d KiB" % (total // 1024), "nodeinfo total: %r" % ni)
        check(ni["Host reserve"] == "%d KiB" % (reserve // 1024), "nodeinfo reserve: %r" % ni)
        check(ni["Running VMs memory"] == "32768 KiB", "nodeinfo running: %r" % ni)
        check(ni["Free for VMs"] == "8192 KiB", "nodeinfo free: %r" % ni)
        d.run("destroy", "m1")
        d.run("start", "m3")
        d.run("destroy", "m2")
        d.run("destroy", "m3")
    finally:
        d.stop()
        for n in ("m1", "m2", "m3"):
            for p in vmm_pids(tmp, n):
                os.kill(p, signal.SIGKILL)


VIRT_INSTALL_XML = """<domain type="kvm">
  <name>vi</name>
  <metadata><x:y xmlns:x="urn:x">kept</x:y></metadata>
  <memory>16384</memory>
  <currentMemory>16384</currentMemory>
  <vcpu>1</vcpu>
  <os><type arch="x86_64" machine="q35">hvm</type><kernel>%s</kernel><boot dev="hd"/></os>
  <features><acpi/><apic/></features>
  <clock offset="utc"/>
  <pm><suspend-to-mem enabled="no"/></pm>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type="usb" model="qemu-xhci"/>
    <console type="pty"/>
  </devices>
</domain>
"""


def case_badxml(args, tmp):
    d = Berthd(args, tmp)
    d.start()
    try:
        def bad(name, text, expect):
            p = os.path.join(tmp, name)
            with open(p, "w") as f:
                f.write(text)
            d.fails("define", p, expect=expect)

        bad("trunc.xml", "<domain type='kvm'><name>x</name", "malformed XML")
        bad("bus.xml", open(write_xml(tmp, "x", args.idle,
            "<disk type='file'><source file='/x'/><target dev='sda' bus='sata'/></disk>")).read(), "sata")
        bad("hostdev.xml", open(write_xml(tmp, "x", args.idle, "<hostdev mode='subsystem'/>")).read(),
            "<hostdev>")
        bad("unknown.xml", open(write_xml(tmp, "x", args.idle, "<warpdrive/>")).read(), "<warpdrive>")
        check(d.list() == {}, "nothing defined by refused XML")
        check(os.listdir(os.path.join(tmp, "domains")) == [], "nothing written")
        d.fails("dumpxml", "x", expect="not found")

        # virt-install style XML: accepted, warnings name what has no effect, all kept
        p = os.path.join(tmp, "vi.xml")
        with open(p, "w") as f:
            f.write(VIRT_INSTALL_XML % args.idle)
        r = d.run("define", p)
        for elem in ("<emulator>", "<features>", "<clock>", "<pm>", "<controller>", "<boot>"):
            check(("warning: " in r.stderr) and elem in r.stderr, "warning names %s: %r" % (elem, r.stderr))
        xml = d.run("dumpxml", "vi").stdout
        for kept in ("<emulator>", "<features>", "qemu-xhci", "<x:y", "kept</x:y>"):
            check(kept in xml, "%s kept in the definition" % kept)
        # a conflicting definition (same name, another uuid) changes nothing
        other = xml.split("<uuid>")[0] + "<uuid>00000000-0000-4000-8000-000000000001</uuid>" + \
            xml.split("</uuid>")[1]
        with open(p, "w") as f:
            f.write(other)
        d.fails("define", p, expect="already exists")
        check(d.run("dumpxml", "vi").stdout == xml, "unchanged after a refused redefinition")

        # edit: validated before it is saved
        env = dict(os.environ, EDITOR="sed -i s/16384/32768/g")
        r = d.run("edit", "vi", env=env)
        check("edited" in r.stdout, "edit output: %r" % r.stdout)
        check(d.info("vi")["Max memory"] == "32768 KiB", "edit applied")
        script = os.path.join(tmp, "break.sed")
        with open(script, "w") as f:
            f.write("s|<devices>|<devices><hostdev/>|\n")
        env = dict(os.environ, EDITOR="sed -i -f " + script)
        r = d.run("edit", "vi", env=env, check_rc=False)
        check(r.returncode == 1 and "<hostdev>" in r.stderr, "bad edit refused: %r" % r.stderr)
        check(d.info("vi")["Max memory"] == "32768 KiB", "bad edit changed nothing")

        # malformed requests: clear errors, nothing changes
        st, body = d.http("POST", "/v1/domains", b"<domain")
        check(st == 400 and body["error"]["code"] == "invalid", "bad XML over HTTP: %r" % (body,))
        st, body = d.http("GET", "/v1/nowhere")
        check(st == 404 and "error" in body, "unknown endpoint: %r" % (body,))
        st, body = d.http("DELETE", "/v1/node")
        check(st == 405, "wrong method: %r" % (body,))
        st, body = d.http("PUT", "/v1/domains/vi/autostart", b"{not json")
        check(st == 400 and "autostart" in body["error"]["message"], "bad JSON: %r" % (body,))
        st, body = d.http("POST", "/v1/domains", b"x" * (2 << 20))
        check(st == 400 and "larger" in body["error"]["message"], "huge body: %r" % (body,))
        st, body = d.http(None, None, raw=b"GARBAGE\r\n\r\n")
        check(st == 0 or st >= 400, "garbage request line refused: %r" % st)
        st, body = d.http("POST", "/v1/domains/vi/start", ro=True)
        check(st == 403 and body["error"]["code"] == "denied", "read-only socket: %r" % (body,))
        st, body = d.http("GET", "/v1/domains?all=1", ro=True)
        check(st == 200 and [x["name"] for x in body] == ["vi"], "read-only list: %r" % (body,))
        r = d.run("list", "--all", ro=True)
        check("vi" in r.stdout, "berth list on the read-only socket: %r" % r.stdout)
        r = d.run("start", "vi", ro=True, check_rc=False)
        check(r.returncode == 1 and "read-only" in r.stderr, "CLI on the read-only socket: %r" % r.stderr)
        check(d.list() == {"vi": ("-", "shut off")}, "state unchanged after malformed requests")

        # --connect: URIs with an explicit socket; unknown ones are refused
        for uri in ("berth:///system?socket=" + d.sock, "qemu:///session?socket=" + d.sock):
            r = subprocess.run([args.berth, "--connect", uri, "list", "--all"],
                               capture_output=True, text=True)
            check(r.returncode == 0 and " vi " in r.stdout, "--connect %s: %r" % (uri, r.stderr))
        r = subprocess.run([args.berth, "-c", "xen:///system", "list"], capture_output=True,
                           text=True)
        check(r.returncode == 1 and "unsupported connection URI" in r.stderr, "bad URI: %r" % r.stderr)
        r = subprocess.run([args.berth, "-c", os.path.join(tmp, "nosuch.sock"), "list"],
                           capture_output=True, text=True)
        check(r.returncode == 1 and "failed to connect" in r.stderr, "no daemon: %r" % r.stderr)
        r = subprocess.run([args.berth, "frobnicate"], capture_output=True, text=True)
        check(r.returncode == 1 and "unknown command" in r.stderr, "unknown command: %r" % r.stderr)
        check(d.proc.poll() is None, "berthd survived")
        d.run("undefine", "vi")
    finally:
        d.stop()


def case_concurrency(args, tmp):
    d = Berthd(args, tmp)
    d.start()
    names = ["c%d" % i for i in range(5)]
    try:
        for n in names:
            d.run("define", write_xml(tmp, n, args.idle))
        errors = []
        unexpected = []
        ok_errors = ("already active", "not running")

        def client(seed):
            rnd = random.Random(seed)
            try:
                for _ in range(12):
                    op = rnd.choice(["start", "destroy", "list", "dominfo"])
                    n = rnd.choice(names)
                    argv = ["list", "--all"] if op == "list" else [op, n]
                    r = d.run(*argv, check_rc=False)
                    if r.returncode != 0 and not any(e in r.stderr for e in ok_errors):
                        unexpected.append("%s: %s" % (" ".join(argv), r.stderr.strip()))
            except Exception as e:  # noqa: a thread must report, not die silently
                errors.append(repr(e))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        check(not errors, "client errors: %r" % errors)
        check(not unexpected, "unexpected failures: %r" % unexpected[:5])
        # consistent: what berthd says runs is exactly what runs, memory accounted once
        rows = d.list()
        running = 0
        for n in names:
            st = rows[n][1]
            pids = vmm_pids(tmp, n)
            if st == "running":
                running += 1
                check(pids == [d.pid(n)], "%s: listed running, processes %r" % (n, pids))
                check(os.path.exists(os.path.join(tmp, "run", n + ".state")), "%s state file" % n)
            else:
                check(st == "shut off" and pids == [], "%s: %s with processes %r" % (n, st, pids))
                check(not os.path.exists(os.path.join(tmp, "run", n + ".state")), "%s stale state" % n)
        ni = d.run("nodeinfo").stdout
        check("Running VMs memory:  %d KiB" % (running * 16384) in ni, "memory accounting: %s" % ni)
        ids = [r[0] for r in rows.values() if r[0] != "-"]
        check(len(ids) == len(set(ids)), "ids unique: %r" % ids)
        for n in names:
            if rows[n][1] == "running":
                d.run("destroy", n)
    finally:
        d.stop()
        for n in names:
            for p in vmm_pids(tmp, n):
                os.kill(p, signal.SIGKILL)


def case_bridge(args, tmp):
    """<interface type='bridge'>: berthd makes a TAP on the bridge and removes it after."""
    bridge = "brbt%d" % (os.getpid() % 100000)
    r = subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], capture_output=True)
    if r.returncode != 0:
        raise Skip("cannot create a bridge here: %s" % r.stderr.decode().strip())
    d = Berthd(args, tmp)
    try:
        d.start()
        d.run("define", write_xml(tmp, "br", args.idle,
                                  "<interface type='bridge'><source bridge='%s'/>"
                                  "<model type='virtio'/></interface>" % bridge))
        d.run("start", "br")
        ports = os.listdir("/sys/class/net/%s/brif" % bridge)
        check(len(ports) == 1 and ports[0].startswith("bvnet"), "one tap on the bridge: %r" % ports)
        argv = open("/proc/%d/cmdline" % d.pid("br"), "rb").read().split(b"\0")
        # with the MAC berthd generated and recorded in the definition
        mac = d.run("domiflist", "br").stdout.splitlines()[2].split()[-1]
        check(("tap,ifname=%s,mac=%s" % (ports[0], mac)).encode() in argv,
              "berth-vmm uses it, with MAC %s: %r" % (mac, argv))
        d.run("destroy", "br")
        check(not os.path.exists("/sys/class/net/" + ports[0]), "tap removed with the VM")
        d.fails("start", "nosuch")
        # a bridge that does not exist: a clear error, nothing left behind
        d.run("define", write_xml(tmp, "nobr", args.idle,
                                  "<interface type='bridge'><source bridge='nosuchbr0'/></interface>"))
        d.fails("start", "nobr", expect="nosuchbr0")
        check(os.listdir("/sys/class/net/%s/brif" % bridge) == [], "no tap left")
    finally:
        d.stop()
        subprocess.run(["ip", "link", "del", bridge])


def case_linux(args, tmp):
    """Debian's kernel on the soft accelerator: console, then a clean ACPI shutdown."""
    kernel = os.path.join(args.guest_dir or "", "vmlinuz")
    initrd = os.path.join(args.guest_dir or "", "initramfs.cpio.gz")
    if not (args.guest_dir and os.path.exists(kernel) and os.path.exists(initrd)):
        raise Skip("no guest image (run scripts/guest-image.sh)")
    d = Berthd(args, tmp)
    d.start()
    try:
        path = os.path.join(tmp, "linux.xml")
        with open(path, "w") as f:
            f.write("""<domain type='qemu'>
  <name>linux</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type><kernel>%s</kernel><initrd>%s</initrd>
    <cmdline>console=ttyS0</cmdline></os>
  <devices><serial type='pty'/><console type='pty'/></devices>
</domain>
""" % (kernel, initrd))
        d.run("define", path)
        d.run("start", "linux")
        check(d.info("linux")["Accelerator"] == "soft", "type='qemu' runs on soft")
        c = Console(d, "linux")
        try:
            c.expect("berth-guest: ready", 600, fail_on=("Kernel panic",))
            c.expect("berth-guest# ", 60)
            c.send("echo sum=$((6*7))\n")
            c.expect("sum=42", 60)
        finally:
            c.detach()
        d.run("shutdown", "linux")
        wait_for(lambda: d.state_of("linux") == "shut off", "the guest powering off", 180)
        check(d.run("domstate", "linux", "--reason").stdout.strip() == "shut off (shutdown)",
              "a clean shutdown")
        check(vmm_pids(tmp, "linux") == [], "berth-vmm gone")
        d.run("undefine", "linux")
    finally:
        d.stop()


def case_vmmexit(args, tmp):
    """A berth-vmm that exits at once: start says so, with its status, and nothing is left."""
    d = Berthd(argparse.Namespace(**dict(vars(args), vmm="/bin/false")), tmp)
    d.start()
    try:
        d.run("define", write_xml(tmp, "x", args.idle))
        d.fails("start", "x", expect="berth-vmm exited while starting (status 1)")
        check(d.state_of("x") == "shut off", "domain shut off after the failed start")
        check(not os.path.exists(os.path.join(tmp, "run", "x.state")), "no state file left")
    finally:
        d.stop()


CASES = {
    "lifecycle": case_lifecycle,
    "persistence": case_persistence,
    "readopt": case_readopt,
    "admission": case_admission,
    "badxml": case_badxml,
    "concurrency": case_concurrency,
    "linux": case_linux,
    "bridge": case_bridge,
    "vmmexit": case_vmmexit,
}


def main():
    ap = argparse.ArgumentParser()
    for a in ("berthd", "berth", "vmm", "idle", "service"):
        ap.add_argument("--" + a, required=True)
    ap.add_argument("--case", required=True, choices=sorted(CASES))
    ap.add_argument("--guest-dir", help="scripts/guest-image.sh's output (case linux)")
    args = ap.parse_args()
    for a in ("berthd", "berth", "vmm", "idle", "service"):
        setattr(args, a, os.path.abspath(getattr(args, a)))
    if args.case != "linux" and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: /dev/kvm is not usable")
        return SKIP
    tmp = tempfile.mkdtemp(prefix="berthd-test-")
    try:
        CASES[args.case](args, tmp)
        # berthd's log, and berth-vmm's (log/NAME.log): no sanitizer reports
        logs = [os.path.join(tmp, "berthd-test.log")]
        logs += [os.path.join(tmp, "log", f) for f in os.listdir(os.path.join(tmp, "log"))]
        for log in logs:
            with open(log, errors="replace") as f:
                reports = [l for l in f.read().splitlines()
                           if "Sanitizer" in l or "runtime error:" in l]
            check(not reports, "sanitizer reports in %s: %r" % (os.path.basename(log), reports[:3]))
    except Skip as e:
        print("SKIP: %s: %s" % (args.case, e))
        return SKIP
    except Exception as e:  # a Failure, or a test bug: show berthd's log either way
        print("FAIL: %s: %s: %s" % (args.case, type(e).__name__, e))
        for f in ("berthd-test.log",):
            p = os.path.join(tmp, f)
            if os.path.exists(p):
                print("---- %s ----" % f)
                print(open(p, errors="replace").read()[-4000:])
        return 1
    finally:
        kill_leftovers(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASS: %s" % args.case)
    return 0


if __name__ == "__main__":
    sys.exit(main())
