"""Drive a berth-vmm guest through its serial console (--serial stdio on pipes).

Used by the integration tests that boot the Debian guest from
scripts/guest-image.sh: start the VMM, wait for the init's ready line, type
shell commands and read their output, and collect the exit status.
"""
import os
import re
import selectors
import subprocess
import time

READY = re.compile(rb"berth-guest: ready \(([^,]+), (\d+) cpus\)")
PROMPT = b"berth-guest# "
SKIP = 77


class GuestError(Exception):
    pass


class Guest:
    def __init__(self, vmm, kernel, initrd, accel="soft", memory="512M", cpus=1,
                 append="console=ttyS0", extra=()):
        self.argv = [vmm, "--accel", accel, "--memory", memory, "--cpus", str(cpus),
                     "--kernel", kernel, "--initrd", initrd, "--append", append,
                     "--serial", "stdio", *extra]
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.out = b""      # everything the console printed
        self.err = b""      # berth-vmm's own messages
        self.pos = 0        # how far expect() has consumed self.out
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ, "out")
        self.sel.register(self.proc.stderr, selectors.EVENT_READ, "err")

    def _pump(self, deadline):
        """Read what is available until deadline; False once both pipes are closed."""
        timeout = max(0.0, deadline - time.monotonic())
        events = self.sel.select(timeout)
        for key, _ in events:
            data = os.read(key.fileobj.fileno(), 65536)
            if not data:
                self.sel.unregister(key.fileobj)
                continue
            if key.data == "out":
                self.out += data
            else:
                self.err += data
        return bool(self.sel.get_map())

    def expect(self, pattern, timeout):
        """Wait for a regex (bytes) in the console output after the last match."""
        rx = re.compile(pattern) if isinstance(pattern, bytes) else pattern
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.out, self.pos)
            if m:
                self.pos = m.end()
                return m
            if time.monotonic() >= deadline:
                raise GuestError(f"timed out after {timeout}s waiting for {rx.pattern!r}")
            if not self._pump(deadline) and not rx.search(self.out, self.pos):
                raise GuestError(f"berth-vmm exited ({self.proc.wait()}) while waiting "
                                 f"for {rx.pattern!r}")

    def send(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def run(self, command, timeout=60):
        """Type a command at the shell prompt; return its output (bytes, CR stripped)."""
        tag = time.monotonic_ns()
        begin, end = f"@@B{tag}@@", f"@@E{tag}@@"
        # Markers are split in the typed line so that its echo never matches them.
        self.send(f"echo '{begin[:3]}''{begin[3:]}'; {command}; echo '{end[:3]}''{end[3:]}'\n")
        self.expect(re.escape(begin.encode()) + rb"\r?\n", timeout)
        start = self.pos
        m = self.expect(re.escape(end.encode()) + rb"\r?\n", timeout)
        return self.out[start:m.start()].replace(b"\r", b"")

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._pump(min(deadline, time.monotonic() + 0.2))
        if self.proc.poll() is None:
            raise GuestError(f"berth-vmm still running {timeout}s later")
        while self._pump(time.monotonic()):
            pass
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def transcript(self):
        return (self.out.decode(errors="replace") + "\n--- berth-vmm stderr ---\n" +
                self.err.decode(errors="replace"))
