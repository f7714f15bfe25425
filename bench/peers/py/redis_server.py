"""The redis-server of the W10 and W11 peers (BENCH.md): started by the
peer itself on a free port of 127.0.0.1, no persistence, a password, its
own temporary directory; stopped (SIGTERM, then SIGKILL) at the end.  Also
runs redis-benchmark against it and parses its --csv output.

Only the standard library here: the redis-benchmark peers do not need
redis-py.
"""
import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

PASSWORD = "w10-authkey"


def fail(why):
    print(f"check failed: {why}", file=sys.stderr, flush=True)
    sys.exit(3)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """with RedisServer() as r: r.port, r.password."""

    def __init__(self):
        self.password = PASSWORD
        self.port = None
        self.proc = None
        self.dir = None

    def __enter__(self):
        exe = shutil.which("redis-server")
        if not exe:
            fail("redis-server is not installed (Debian: redis-server)")
        self.dir = tempfile.mkdtemp(prefix="weave-bench-redis-")
        for _ in range(5):  # the free port may be taken before it binds
            self.port = free_port()
            self.proc = subprocess.Popen(
                [exe, "--bind", "127.0.0.1", "--port", str(self.port),
                 "--save", "", "--appendonly", "no",
                 "--requirepass", self.password, "--dir", self.dir,
                 "--daemonize", "no", "--logfile", "",
                 "--loglevel", "warning"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._ready(10.0):
                return self
            self._stop()
        self._cleanup()
        fail("redis-server did not start")

    def _ready(self, seconds):
        """Waits until the server answers an authenticated PING."""
        deadline = time.monotonic() + seconds
        auth = (f"*2\r\n$4\r\nAUTH\r\n${len(self.password)}\r\n"
                f"{self.password}\r\n*1\r\n$4\r\nPING\r\n").encode()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port),
                                              timeout=1) as s:
                    s.sendall(auth)
                    got = b""
                    while got.count(b"\r\n") < 2:
                        chunk = s.recv(64)
                        if not chunk:
                            break
                        got += chunk
                    if got == b"+OK\r\n+PONG\r\n":
                        return True
            except OSError:
                pass
            time.sleep(0.02)
        return False

    def _stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def _cleanup(self):
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __exit__(self, *exc):
        self._stop()
        self._cleanup()
        return False

    def call(self, *args):
        """One command on a fresh authenticated connection; returns the
        reply's first line (e.g. b":0" for an integer 0)."""
        words = ("AUTH", self.password) + tuple(str(a) for a in args)
        req = b""
        for cmd in (words[:2], words[2:]):
            req += f"*{len(cmd)}\r\n".encode()
            for w in cmd:
                req += f"${len(w.encode())}\r\n{w}\r\n".encode()
        with socket.create_connection(("127.0.0.1", self.port),
                                      timeout=5) as s:
            s.sendall(req)
            got = b""
            while got.count(b"\r\n") < 2:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        lines = got.split(b"\r\n")
        if lines[0] != b"+OK":
            fail(f"redis AUTH: {lines[0]!r}")
        return lines[1]

    def benchmark(self, tests, n):
        """redis-benchmark -t TESTS -c 1 -P 1 -n N --csv against this
        server; returns {test name: requests per second}."""
        exe = shutil.which("redis-benchmark")
        if not exe:
            fail("redis-benchmark is not installed (Debian: redis-tools)")
        r = subprocess.run(
            [exe, "-h", "127.0.0.1", "-p", str(self.port),
             "-a", self.password, "-t", tests, "-c", "1", "-P", "1",
             "-n", str(n), "--csv"],
            capture_output=True, text=True, timeout=25)
        if r.returncode != 0:
            fail(f"redis-benchmark exited with {r.returncode}: "
                 f"{r.stderr.strip()[-200:]}")
        rows = list(csv.reader(r.stdout.splitlines()))
        if not rows or rows[0][:2] != ["test", "rps"]:
            fail(f"redis-benchmark's output: {r.stdout[:200]!r}")
        return {row[0]: float(row[1]) for row in rows[1:] if len(row) > 1}
