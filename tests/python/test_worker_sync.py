"""python3 -m evd.worker and the synchronous facade evd.sync."""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap

import pytest

import evd
import evd.sync
from conftest import LOOP, until

HANDLERS = textwrap.dedent('''
    import asyncio, os, time
    LOG = os.environ["EVD_WORKER_LOG"]

    def _log(msg, how):
        with open(LOG, "a") as f:
            f.write(f"{how} {msg.payload.decode()} {msg.attempt}\\n")

    async def handle(msg):
        await asyncio.sleep(0.05)
        _log(msg, "async")
        if msg.payload == b"fail" and msg.attempt == 1:
            raise RuntimeError("first attempt fails")

    def plain(msg):
        time.sleep(0.05)
        _log(msg, "plain")

    def boom(msg):
        _log(msg, "boom")
        # repr() is over the daemon's 4096 bytes, in 2-byte characters.
        raise ValueError("\u00fc" * 3000)

    async def gate(msg):
        _log(msg, "gate")
        while not os.path.exists(LOG + ".open"):
            await asyncio.sleep(0.02)
''')


def start_worker(daemon, tmpdir, target, concurrency=4, visibility=0.5):
    with open(os.path.join(tmpdir, "handlers.py"), "w") as f:
        f.write(HANDLERS)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([tmpdir, os.path.dirname(os.path.dirname(evd.__file__))]),
               EVD_WORKER_LOG=os.path.join(tmpdir, "worker.log"), EVD_SOCKET=daemon.sock)
    argv = [sys.executable, "-m", "evd.worker", target, "--channel", "jobs",
            "--concurrency", str(concurrency), "--visibility", str(visibility)]
    if LOOP == "uvloop":
        argv.append("--uvloop")
    return subprocess.Popen(argv, env=env, cwd=tmpdir, stderr=subprocess.PIPE, text=True)


def read_log(tmpdir):
    try:
        with open(os.path.join(tmpdir, "worker.log")) as f:
            return [line.split() for line in f]
    except FileNotFoundError:
        return []


@pytest.mark.parametrize("target,how", [("handlers:handle", "async"), ("handlers:plain", "plain")])
def test_worker(daemon, run, tmpdir_short, target, how):
    w = start_worker(daemon, tmpdir_short, target)

    async def main():
        async with evd.connect(daemon.sock) as ev:
            async def subscribed():
                assert w.poll() is None, w.communicate()[1]
                try:
                    return (await ev.get_channel("jobs")).subscribers == 1
                except evd.NotFound:  # not made yet
                    return False
            await until(subscribed, 20)
            for i in range(12):
                await ev.call_soon(channel="jobs", payload=str(i))
            await ev.call_soon(channel="jobs", payload="fail")

            async def all_done():
                ci = await ev.get_channel("jobs")
                return ci.queued_messages == 0 and ci.inflight_messages == 0
            await until(all_done, 30)
    try:
        run(main())
    finally:
        w.send_signal(signal.SIGTERM)
        _, err = w.communicate(timeout=30)
    assert w.returncode == 0, err
    lines = read_log(tmpdir_short)
    assert all(line[0] == how for line in lines)
    done = sorted((p, int(a)) for _, p, a in lines)
    want = sorted([(str(i), 1) for i in range(12)] + [("fail", 1)])
    if how == "async":
        want = sorted(want + [("fail", 2)])  # raised once: redelivered
        assert "first attempt fails" in err
    assert done == want


async def _wait_subscribed(ev, w):
    async def subscribed():
        assert w.poll() is None, w.communicate()[1]
        try:
            return (await ev.get_channel("jobs")).subscribers == 1
        except evd.NotFound:  # not made yet
            return False
    await until(subscribed, 20)


def _stop(w):
    w.send_signal(signal.SIGTERM)
    _, err = w.communicate(timeout=30)
    assert w.returncode == 0, err
    return err


def test_worker_rejects_with_reason(daemon, run, tmpdir_short):
    # The visibility timeout (30 s) is far beyond the test's bound: only
    # a reject brings the message back in time, and only the worker's
    # reason (not the daemon's "not acked ...") may reach the dead letters.
    w = start_worker(daemon, tmpdir_short, "handlers:boom", visibility=30)
    want = repr(ValueError("\u00fc" * 3000)).encode()[:4093].decode("utf-8", "ignore") + "\u2026"

    async def main():
        async with evd.connect(daemon.sock) as ev:
            await _wait_subscribed(ev, w)
            h = await ev.call_soon(channel="jobs", payload="x", max_attempts=2)

            async def dead():
                return len((await ev.list_dead("jobs")).messages) == 1
            await until(dead, 30)
            d = (await ev.list_dead("jobs")).messages[0]
            assert d.timer_id == h.id and d.attempt == 2
            assert d.reason == want and len(d.reason.encode()) <= 4096
    try:
        run(main())
    finally:
        err = _stop(w)
    assert "rejecting it" in err
    assert [line[1:] for line in read_log(tmpdir_short)] == [["x", "1"], ["x", "2"]]


def test_worker_reject_reason_bounded():
    from evd.worker import reject_reason
    assert reject_reason(RuntimeError("short")) == "RuntimeError('short')"
    for n in range(4080, 4100):  # every cut position in a 3-byte character
        r = reject_reason(RuntimeError("\u20ac" * n))
        b = r.encode()
        assert len(b) <= 4096 and r.endswith("\u2026")
        assert r[:-1] == repr(RuntimeError("\u20ac" * n))[:len(r) - 1]
    assert reject_reason(RuntimeError("a" * 4080)) == repr(RuntimeError("a" * 4080))  # fits
    assert reject_reason(RuntimeError("\ud800")).encode()  # a lone surrogate


def test_worker_concurrency_is_max_inflight(daemon, run, tmpdir_short):
    w = start_worker(daemon, tmpdir_short, "handlers:gate", concurrency=2, visibility=30)
    gate = os.path.join(tmpdir_short, "worker.log.open")

    async def main():
        async with evd.connect(daemon.sock) as ev:
            await _wait_subscribed(ev, w)
            for i in range(5):
                await ev.call_soon(channel="jobs", payload=str(i))

            async def two_held():
                ci = await ev.get_channel("jobs")
                assert ci.inflight_messages <= 2, ci
                return ci.inflight_messages == 2 and ci.queued_messages == 3
            await until(two_held, 20)
            for _ in range(20):  # and it stays so while the handlers block
                await asyncio.sleep(0.05)
                ci = await ev.get_channel("jobs")
                assert (ci.inflight_messages, ci.queued_messages) == (2, 3), ci
            assert len(read_log(tmpdir_short)) == 2
            open(gate, "w").close()

            async def all_done():
                ci = await ev.get_channel("jobs")
                return ci.queued_messages == 0 and ci.inflight_messages == 0
            await until(all_done, 30)
    try:
        run(main())
    finally:
        _stop(w)
    assert sorted(line[1] for line in read_log(tmpdir_short)) == ["0", "1", "2", "3", "4"]


def test_worker_bad_target(daemon, tmpdir_short):
    w = start_worker(daemon, tmpdir_short, "handlers:nosuch")
    _, err = w.communicate(timeout=30)
    assert w.returncode == 2 and "nosuch" in err


def test_sync_facade(daemon, monkeypatch):
    if LOOP == "uvloop":
        pytest.skip("evd.sync runs its own asyncio loop")
    with evd.sync.connect(daemon.sock) as ev:
        t = ev.call_later(3600, channel="s", payload=b"x")
        assert t.id > 0 and not t.existing
        assert ev.get(t.id).state == evd.TimerState.PENDING
        assert [x.timer_id for x in ev.list("s").timers] == [t.id]
        assert t.cancel() is True and t.cancel() is False
        with pytest.raises(evd.NotFound):
            ev.cancel(t.id)
        assert ev.stats().connections >= 1
        assert abs(ev.time() - ev.daemon_time().monotonic) < 1
        r = ev.call_soon(exec=["/bin/true"]).wait(30)
        assert r.outcome == evd.RunOutcome.EXEC_EXITED
        sub = ev.subscribe("s2", visibility=5)
        ev.call_soon(channel="s2", payload=b"m")
        m = sub.get(5)
        assert m.payload == b"m"
        sub.ack(m)
        # A pipeline: one execute(), results as the single calls'.
        p = ev.pipeline()
        assert p.call_later(3600, channel="sp", payload=b"0") is p
        p.get(10**12).subscribe("sp2").call_soon(channel="sp2", payload=b"q").stats()
        assert len(p) == 5
        r = p.execute(raise_on_error=False)
        assert isinstance(r[0], evd.sync.SyncTimer) and r[0].id > 0
        assert type(r[1]) is evd.NotFound
        assert isinstance(r[2], evd.sync.SyncSubscription)
        assert r[2].get(5).timer_id == r[3].id
        assert isinstance(r[4], evd.Stats)
        with pytest.raises(evd.NotFound):
            ev.pipeline().stats().get(10**12).execute()
        with pytest.raises(AttributeError):
            ev.pipeline().no_such_request
    monkeypatch.setenv("EVD_SOCKET", daemon.sock)
    t = evd.sync.call_later(3600, channel="mod", key="m1")
    assert evd.sync.call_later(3600, channel="mod", key="m1").id == t.id
    assert evd.sync.get(t.id).key == "m1"
    evd.sync.cancel(t.id)
    evd.sync.close()
