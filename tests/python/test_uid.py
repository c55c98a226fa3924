"""A second uid cannot see, cancel or wait on the first one's timers, nor
subscribe to its channels (the daemon authorises by SO_PEERCRED)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

import evd
from conftest import Daemon

NOBODY = 65534

CHILD = r'''
import asyncio, json, sys
import evd

async def main(sock, tid):
    out = {}
    async with evd.connect(sock, name="nobody") as ev:
        out["list"] = [t.timer_id for t in (await ev.list()).timers]
        for what, coro in (("get", ev.get(tid)), ("cancel", ev.cancel(tid)),
                           ("wait", ev.wait(tid)), ("pause", ev.pause(tid))):
            try:
                await coro
                out[what] = "ok"
            except evd.Error as e:
                out[what] = e.code.name
        try:
            await ev.subscribe("0:secret")
            out["subscribe"] = "ok"
        except evd.Error as e:
            out["subscribe"] = type(e).__name__
        mine = await ev.call_later(3600, channel="mine")
        out["mine"] = mine.id
    print(json.dumps(out))

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
'''


def test_second_uid_cannot_see_first(daemon, run, tmpdir_short):
    if os.geteuid() != 0:
        pytest.skip("needs root to run a second connection as nobody (uid 65534)")
    pkg = share(daemon)

    async def schedule():
        async with evd.connect(daemon.sock) as ev:
            h = await ev.call_later(3600, channel="secret", payload=b"root's")
            return h.id
    tid = run(schedule())
    env = {"PYTHONPATH": pkg, "PATH": "/usr/bin:/bin", "HOME": "/"}
    p = subprocess.run([sys.executable, "-c", CHILD, daemon.sock, str(tid)],
                       user=NOBODY, group=NOBODY, extra_groups=[], env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert tid not in out["list"]
    assert out["get"] == out["cancel"] == out["wait"] == out["pause"] == "NOT_FOUND"
    assert out["subscribe"] == "PermissionDenied"

    async def check():
        async with evd.connect(daemon.sock) as ev:
            info = await ev.get(tid)
            assert info.state == evd.TimerState.PENDING  # the cancel did nothing
            nob = await ev.get(out["mine"])  # root sees everyone's
            assert nob.owner_uid == NOBODY
            assert out["mine"] in [t.timer_id async for t in ev.timers()]
    run(check())


QUOTA_CHILD = r"""
import asyncio, sys
import evd

async def main(sock):
    async with evd.connect(sock, name="nobody") as ev:
        for i in range(2):
            await ev.call_later(3600, channel="q")
        try:
            await ev.call_later(3600, channel="q")
            print("scheduled")
        except evd.ResourceExhausted as e:
            assert e.code == evd.ErrorCode.RESOURCE_EXHAUSTED and e.message
            print("exhausted")

asyncio.run(main(sys.argv[1]))
"""


def share(d: Daemon) -> str:
    """Opens the daemon's socket and a copy of evd to nobody; returns
    the copy's directory for PYTHONPATH."""
    os.chmod(d.dir, 0o755)
    os.chmod(d.sock, 0o666)
    pkg = os.path.join(d.dir, "pkg")
    shutil.copytree(os.path.dirname(evd.__file__), os.path.join(pkg, "evd"))
    for root, dirs, files in os.walk(pkg):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    return pkg


def test_quota_is_resource_exhausted(tmpdir_short):
    """A user past its quota gets evd.ResourceExhausted (root has none)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run a connection as nobody (uid 65534)")
    conf = os.path.join(tmpdir_short, "evd.conf")
    with open(conf, "w") as f:
        f.write("quota_timers = 2\n")
    d = Daemon(tmpdir_short, ["--config", conf])
    d.start()
    try:
        pkg = share(d)
        p = subprocess.run([sys.executable, "-c", QUOTA_CHILD, d.sock], user=NOBODY,
                           group=NOBODY, extra_groups=[],
                           env={"PYTHONPATH": pkg, "PATH": "/usr/bin:/bin", "HOME": "/"},
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        assert p.stdout.strip() == "exhausted"
    finally:
        assert d.stop() == 0, d.logtext()
