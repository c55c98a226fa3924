"""Fixtures of the Python client's suite: the real evd on a temporary
socket and state directory (started and stopped by pid, READY=1 read from
its NOTIFY_SOCKET as tests/integ/harness.c does), and a runner for
coroutines on the loop under test (EVD_TEST_LOOP: asyncio or uvloop)."""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Any, Awaitable, Callable, Optional, Sequence

import pytest

EVD_BIN = os.environ.get("EVD_BIN", "")
LOOP = os.environ.get("EVD_TEST_LOOP", "asyncio")


class Daemon:
    """One evd. start() waits for READY=1; stop() signals its pid."""

    def __init__(self, directory: str, extra: Sequence[str] = ()) -> None:
        self.dir = directory
        self.sock = os.path.join(directory, "evd.sock")
        self.state = os.path.join(directory, "state")
        self.log = os.path.join(directory, "evd.log")
        self.extra = list(extra)
        self.proc: Optional[subprocess.Popen[bytes]] = None

    def start(self) -> None:
        npath = os.path.join(self.dir, "notify")
        if os.path.exists(npath):
            os.unlink(npath)
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(npath)
        argv = [EVD_BIN, "--socket", self.sock, "--state-dir", self.state]
        if os.environ.get("EVD_TEST_THREADS"):
            argv += ["--threads", os.environ["EVD_TEST_THREADS"]]
        if os.environ.get("EVD_VALGRIND") == "1":
            argv = ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
                    "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite",
                    "--child-silent-after-fork=yes"] + argv
        env = dict(os.environ, NOTIFY_SOCKET=npath)
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(argv + self.extra, stderr=logf, env=env)
        deadline = time.monotonic() + (60 if argv[0] == "valgrind" else 10)
        ns.settimeout(0.05)
        try:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"evd exited before READY ({self.proc.returncode}); "
                                       f"log: {self.logtext()}")
                if time.monotonic() > deadline:
                    self.proc.kill()
                    self.proc.wait()
                    raise RuntimeError("evd: no READY=1 within the deadline")
                try:
                    msg = ns.recv(4096).decode(errors="replace")
                except socket.timeout:
                    continue
                if msg.startswith("READY=1") or "\nREADY=1" in msg:
                    return
        finally:
            ns.close()

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signals the daemon by pid and reaps it; returns its status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        rc = self.proc.returncode
        self.proc = None
        return rc

    def logtext(self) -> str:
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""


@pytest.fixture
def tmpdir_short() -> Any:
    # Socket paths are limited to 108 bytes: not pytest's long tmp_path.
    d = tempfile.mkdtemp(prefix="evdpy.")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def daemon(tmpdir_short: str) -> Any:
    if not EVD_BIN:
        pytest.skip("EVD_BIN is not set (run through ctest)")
    d = Daemon(tmpdir_short)
    d.start()
    yield d
    if d.proc is not None:
        rc = d.stop()
        assert rc == 0, f"evd exited {rc}; log: {d.logtext()}"


def new_loop() -> asyncio.AbstractEventLoop:
    if LOOP == "uvloop":
        import uvloop
        return uvloop.new_event_loop()  # type: ignore[no-any-return]
    return asyncio.new_event_loop()


@pytest.fixture
def run() -> Callable[[Awaitable[Any]], Any]:
    """run(coro): runs it on a fresh loop of the kind under test, with a
    liveness bound of 120 s."""
    def _run(coro: Awaitable[Any], timeout: float = 120) -> Any:
        with asyncio.Runner(loop_factory=new_loop) as r:
            return r.run(asyncio.wait_for(coro, timeout))
    return _run


async def until(pred: Callable[[], Awaitable[bool]], timeout: float = 10.0,
                step: float = 0.02) -> None:
    """Polls an async predicate until it holds (a liveness bound)."""
    deadline = time.monotonic() + timeout
    while not await pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met within %.0f s" % timeout)
        await asyncio.sleep(step)
