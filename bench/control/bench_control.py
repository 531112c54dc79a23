#!/usr/bin/python3
"""bench/control: berthd + berth against libvirtd + virsh (Debian's), side by side.

Both daemons and CLIs run as an unprivileged user (nobody) in private directories:
libvirtd in session mode (qemu:///session), berthd with --state-dir. Each
manages an equivalent domain: 64 MiB, one vCPU, direct kernel boot of the same
tiny guest (tests/integration/daemon/idle.asm, assembled here), a pty serial
console, no disks or NICs; <domain type='qemu'>, i.e. QEMU's TCG under
libvirt and berth's soft accelerator under berthd.

Measured, as a script would see them (the CLI run end to end), from a child of
the harness that has dropped to nobody once, so each command is a plain
subprocess.run (vfork + exec) and not a full fork of the Python process that
switches user (the harness's own cost per command is printed as the
`harness /bin/true` row, for information; it is part of both stacks' times):
  list     `virsh list --all`  vs `berth list --all`     (median of --runs)
  start    `virsh start`       vs `berth start` (returns once running)
  destroy  `virsh destroy`     vs `berth destroy`
  RSS      the daemon's VmRSS after the runs, with the domain defined (and, for
           information, its private memory: RSS without shared library pages)
Ratios are libvirt / berth (higher is better for berth). Targets: list and
start at least 10x faster; berthd's RSS at most a tenth of libvirtd's.

  python3 bench/control/bench_control.py --build build-daemon [--runs 20]
Needs root (to switch to nobody), nasm, libvirt-daemon-driver-qemu,
libvirt-clients and qemu-system-x86.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOBODY = 65534
# Untimed commands (the daemons, set-up) run as nobody: set in the child between fork and exec.
AS_NOBODY = {"user": NOBODY, "group": NOBODY, "extra_groups": []}

DOMAIN_XML = """<domain type='qemu'>
  <name>bench</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type><kernel>%s</kernel></os>
  <devices>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>%s
  </devices>
</domain>
"""


def env_for(home):
    return {"HOME": home, "XDG_RUNTIME_DIR": os.path.join(home, "run"),
            "XDG_CONFIG_HOME": os.path.join(home, "config"),
            "XDG_CACHE_HOME": os.path.join(home, "cache"),
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


def run(argv, env, as_nobody=True):
    """Run a command to completion; as_nobody=False when this process is nobody already."""
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120,
                       **(AS_NOBODY if as_nobody else {}))
    if r.returncode != 0:
        raise RuntimeError("%s: %s%s" % (" ".join(argv), r.stdout, r.stderr))
    return r.stdout


def timed(argv, env):
    """Wall time of one command, run from a process that is nobody already."""
    t = time.perf_counter()
    run(argv, env, as_nobody=False)
    return time.perf_counter() - t


def in_nobody_child(fn, *args):
    """fn(*args) in a forked child that drops to nobody once; its (JSON) result.

    Commands the child runs are plain subprocess.run calls, which use vfork:
    only the command's own start-up is timed, not a fork of the harness.
    """
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(rfd)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            out = {"result": fn(*args)}
        except BaseException as e:  # report everything to the parent
            out = {"error": "%s: %s" % (type(e).__name__, e)}
        try:
            with os.fdopen(wfd, "w") as f:
                json.dump(out, f)
        finally:
            os._exit(0)
    os.close(wfd)
    with os.fdopen(rfd) as f:
        data = f.read()
    os.waitpid(pid, 0)
    out = json.loads(data) if data else {"error": "the measuring child died"}
    if "error" in out:
        raise RuntimeError(out["error"])
    return out["result"]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def uss_kib(pid):
    """Private memory (clean + dirty): what the daemon itself costs beyond shared libraries."""
    total = 0
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total


def wait_socket(path, proc, what):
    deadline = time.monotonic() + 30
    while not os.path.exists(path):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("%s did not come up" % what)
        time.sleep(0.02)


class Stack:
    """One daemon + CLI pair: how to start the daemon and run its commands."""

    def __init__(self, name, daemon_argv, cli, socket, home):
        self.name, self.daemon_argv, self.cli, self.socket = name, daemon_argv, cli, socket
        self.home = home
        self.env = env_for(home)
        self.proc = None

    def start(self):
        log = open(os.path.join(self.home, "daemon.log"), "wb")
        self.proc = subprocess.Popen(self.daemon_argv, env=self.env, stdout=log, stderr=log,
                                     **AS_NOBODY)
        wait_socket(self.socket, self.proc, self.name)
        # answering, not just bound
        deadline = time.monotonic() + 30
        while True:
            try:
                run(self.cli + ["list", "--all"], self.env)
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cmd(self, *argv):
        return timed(self.cli + list(argv), self.env)


def timed_runs(stack, xml_path, runs, starts):
    """The timed part, run as nobody (in_nobody_child): the medians, in seconds."""
    spawn = [timed(["/bin/true"], stack.env) for _ in range(runs)]
    stack.cmd("define", xml_path)
    lists = [stack.cmd("list", "--all") for _ in range(runs)]
    start_t, destroy_t = [], []
    for _ in range(starts):
        start_t.append(stack.cmd("start", "bench"))
        # a domain that runs and is listed so
        out = run(stack.cli + ["domstate", "bench"], stack.env, as_nobody=False)
        if "running" not in out:
            raise RuntimeError("%s: domain not running after start: %r" % (stack.name, out))
        time.sleep(0.2)
        destroy_t.append(stack.cmd("destroy", "bench"))
    return {"spawn": statistics.median(spawn), "list": statistics.median(lists),
            "start": statistics.median(start_t), "destroy": statistics.median(destroy_t)}


def measure(stack, xml_path, runs, starts):
    res = in_nobody_child(timed_runs, stack, xml_path, runs, starts)
    res["rss"], res["uss"] = rss_kib(stack.proc.pid), uss_kib(stack.proc.pid)
    run(stack.cli + ["undefine", "bench"], stack.env)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build", help="meson build directory")
    ap.add_argument("--runs", type=int, default=20, help="list runs")
    ap.add_argument("--starts", type=int, default=5, help="start/destroy cycles")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    berthd = os.path.join(build, "src/daemon/berthd")
    berth = os.path.join(build, "src/cli/berth")
    vmm = os.path.join(build, "src/vmm/berth-vmm")
    for tool in ("libvirtd", "virsh", "qemu-system-x86_64", "nasm"):
        if not shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin"):
            print("SKIP: %s is not installed" % tool)
            return 77
    if os.geteuid() != 0:
        print("SKIP: run as root (the daemons run as nobody)")
        return 77

    tmp = tempfile.mkdtemp(prefix="bench-control-")
    os.chmod(tmp, 0o755)
    kernel = os.path.join(tmp, "idle.bin")
    subprocess.run(["nasm", "-f", "bin", "-o", kernel,
                    os.path.join(TOP, "tests/integration/daemon/idle.asm")], check=True)
    os.chmod(kernel, 0o644)
    homes = {}
    for n in ("libvirt", "berth"):
        homes[n] = os.path.join(tmp, n)
        os.makedirs(os.path.join(homes[n], "run"))
        subprocess.run(["chown", "-R", "65534:65534", homes[n]], check=True)
    # libvirt fills in what it needs (machine type, controllers); berth warns and keeps it
    xml_lv = os.path.join(tmp, "libvirt.xml")
    xml_b = os.path.join(tmp, "berth.xml")
    with open(xml_lv, "w") as f:
        f.write(DOMAIN_XML % (kernel, "\n    <memballoon model='none'/>"))
    with open(xml_b, "w") as f:
        f.write(DOMAIN_XML % (kernel, ""))
    for p in (xml_lv, xml_b):
        os.chmod(p, 0o644)

    lv_run = os.path.join(homes["libvirt"], "run")
    stacks = [
        Stack("libvirt", ["libvirtd", "--timeout", "0"], ["virsh", "-c", "qemu:///session"],
              os.path.join(lv_run, "libvirt", "libvirt-sock"), homes["libvirt"]),
        Stack("berth", [berthd, "--state-dir", os.path.join(homes["berth"], "state"), "--vmm", vmm],
              [berth, "-c", os.path.join(homes["berth"], "state", "run", "berthd.sock")],
              os.path.join(homes["berth"], "state", "run", "berthd.sock"), homes["berth"]),
    ]
    results = {}
    try:
        for s, xml in zip(stacks, (xml_lv, xml_b)):
            s.start()
            try:
                results[s.name] = measure(s, xml, args.runs, args.starts)
            finally:
                s.stop()
    finally:
        for s in stacks:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    lv, b = results["libvirt"], results["berth"]
    print("bench/control: equivalent domain (64 MiB, 1 vCPU, tiny guest, QEMU TCG vs berth soft)")
    print("%-22s %12s %12s %10s  %s" % ("", "libvirt", "berth", "ratio", "target"))
    rows = [("list --all (ms)", "list", 1000, 10), ("start (ms)", "start", 1000, 10),
            ("destroy (ms)", "destroy", 1000, None)]
    ok = True
    for label, key, scale, target in rows:
        ratio = lv[key] / b[key]
        met = "" if target is None else (">= %dx %s" % (target, "ok" if ratio >= target else "MISSED"))
        ok &= target is None or ratio >= target
        print("%-22s %12.2f %12.2f %9.1fx  %s" % (label, lv[key] * scale, b[key] * scale, ratio, met))
    print("%-22s %12.2f %12.2f %10s  (for information: the harness's cost per command, "
          "in both)" % ("harness /bin/true (ms)", lv["spawn"] * 1000, b["spawn"] * 1000, ""))
    ratio = lv["rss"] / b["rss"]
    ok &= ratio >= 10
    print("%-22s %12d %12d %9.1fx  %s" % ("daemon RSS (KiB)", lv["rss"], b["rss"], ratio,
                                         ">= 10x %s" % ("ok" if ratio >= 10 else "MISSED")))
    print("%-22s %12d %12d %9.1fx  (for information)" % ("daemon private (KiB)", lv["uss"],
                                                            b["uss"], lv["uss"] / b["uss"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
