"""Drive a guest's serial console from the integration tests.

Used by the integration tests that boot the Debian guest from
scripts/guest-image.sh: start the VMM, wait for the init's ready line, type
shell commands and read their output, and collect the exit status.

Guest runs berth-vmm with --serial stdio on pipes; SocketGuest runs any VMM
command (berth-vmm or QEMU) whose serial console is a UNIX socket server.
"""
import os
import re
import selectors
import socket
import subprocess
import time

READY = re.compile(rb"berth-guest: ready \(([^,]+), (\d+) cpus\)")
PROMPT = b"berth-guest# "
SKIP = 77


class GuestError(Exception):
    pass


class VMMExited(GuestError):
    """The VMM exited before its console could be reached."""


class Console:
    """Expect/run over a console byte stream. Subclasses provide _pump(), _write(), _gone()."""

    def __init__(self, echo=None):
        self.out = b""      # everything the console printed
        self.pos = 0        # how far expect() has consumed self.out
        self.echo = echo    # a text stream that sees the console output as it arrives

    def _got(self, data):
        self.out += data
        if self.echo:
            self.echo.write(data.decode(errors="replace"))
            self.echo.flush()

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
                raise GuestError(f"{self._gone()} while waiting for {rx.pattern!r}")

    def send(self, text):
        self._write(text.encode() if isinstance(text, str) else text)

    def run_status(self, command, timeout=60):
        """Type a command at the shell prompt; return (exit status, output bytes, CR stripped)."""
        tag = time.monotonic_ns()
        begin, end = f"@@B{tag}@@", f"@@E{tag}@@"
        # Markers are split in the typed line so that its echo never matches them.
        self.send(f"echo '{begin[:3]}''{begin[3:]}'; {command}; echo '{end[:3]}''{end[3:]}' $?\n")
        self.expect(re.escape(begin.encode()) + rb"\r?\n", timeout)
        start = self.pos
        m = self.expect(re.escape(end.encode()) + rb" (\d+)\r?\n", timeout)
        return int(m.group(1)), self.out[start:m.start()].replace(b"\r", b"")

    def run(self, command, timeout=60):
        """Type a command at the shell prompt; return its output (bytes, CR stripped)."""
        return self.run_status(command, timeout)[1]


class Guest(Console):
    """berth-vmm booting a kernel, its console on stdin/stdout and its messages on stderr."""

    def __init__(self, vmm, kernel, initrd, accel="soft", memory="512M", cpus=1,
                 append="console=ttyS0", extra=()):
        super().__init__()
        self.argv = [vmm, "--accel", accel, "--memory", memory, "--cpus", str(cpus),
                     "--kernel", kernel, "--initrd", initrd, "--append", append,
                     "--serial", "stdio", *extra]
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.err = b""      # berth-vmm's own messages
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
                self._got(data)
            else:
                self.err += data
        return bool(self.sel.get_map())

    def _write(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def _gone(self):
        return f"berth-vmm exited ({self.proc.wait()})"

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


class SocketGuest(Console):
    """A VMM command whose console is a UNIX socket server at sock_path; its output goes to
    log_path. Call connect() once the VMM may have created the socket."""

    def __init__(self, argv, sock_path, log_path, echo=None):
        super().__init__(echo)
        self.argv = argv
        self.sock_path = sock_path
        self.log_path = log_path
        self.sock = None
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)

    def vmm_log(self):
        """The VMM's own messages so far."""
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def connect(self, timeout=20):
        """Connect to the console; VMMExited if the VMM exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise VMMExited(f"the VMM exited (status {self.proc.returncode}) before its "
                                f"console opened:\n{self.vmm_log()}")
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.sock_path)
                self.sock = s
                return
            except OSError:
                s.close()
                time.sleep(0.05)
        raise GuestError(f"the console socket {self.sock_path} never appeared")

    def _pump(self, deadline):
        """Read what arrives until deadline; False once the console is closed."""
        self.sock.settimeout(max(0.001, min(deadline - time.monotonic(), 1.0)))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return True
        except OSError:
            return False
        if not data:
            return False
        self._got(data)
        return True

    def _write(self, data):
        self.sock.sendall(data)

    def _gone(self):
        return f"the console closed (VMM status {self.proc.poll()})"

    def wait(self, timeout):
        """Wait for the VMM to exit; return its status."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise GuestError(f"the VMM still running {timeout}s later")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.sock:
            self.sock.close()
            self.sock = None
        self.log.close()
