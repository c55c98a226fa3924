"""Reconnection: durable requests resent with generated idempotency keys
are never scheduled twice; subscriptions come back; caller timers lost
with the connection are reported."""
from __future__ import annotations

import asyncio
import signal

import pytest

import evd
from conftest import until


def test_resend_after_lost_replies_schedules_nothing_twice(daemon, run):
    """The daemon committed every request but the client never read the
    replies: the resend on the new connection must find the same timers."""
    async def main():
        events = []
        ev = await evd.connect(daemon.sock, reconnect=(0.02, 0.2), on_event=events.append)
        other = await evd.connect(daemon.sock)
        n = 2000
        ev._transport.pause_reading()
        futs = [asyncio.ensure_future(ev.call_later(3600, channel="once", payload=str(i)))
                for i in range(n)]

        async def committed():
            return (await other.stats()).pending_timers >= n
        await until(committed, 30)
        assert not any(f.done() for f in futs)
        ev._transport.abort()  # the replies are lost with it
        hs = await asyncio.wait_for(asyncio.gather(*futs), 60)
        assert all(h.existing for h in hs), "resent requests scheduled again"
        ids = [h.id for h in hs]
        assert len(set(ids)) == n
        listed = {t.timer_id async for t in other.timers("once")}
        assert listed == set(ids)
        assert (await other.stats()).pending_timers == n
        assert [e.kind for e in events] == ["lost", "restored"]
        info = await ev.get(ids[0])
        assert info.key and info.key.startswith("py-")
        await ev.close()
        await other.close()
    run(main())


def test_reconnect_across_evd_restart(daemon, run):
    async def main():
        events = []
        ev = await evd.connect(daemon.sock, reconnect=(0.05, 0.5), on_event=events.append)
        sub = await ev.subscribe("rc", visibility=30)
        caller = await ev.call_later(3600)
        wait_fut = asyncio.ensure_future(ev.wait(caller.id))
        n = 5000
        futs = [asyncio.ensure_future(ev.call_later(3600, channel="rc2", payload=str(i)))
                for i in range(n)]

        async def some_done():
            return sum(f.done() for f in futs) >= 50
        await until(some_done, 30)
        daemon.stop(signal.SIGKILL)  # mid-stream: replies of committed requests lost
        # Requests made while evd is down wait for the next connection.
        later = [asyncio.ensure_future(ev.call_later(3600, channel="rc2", payload="late"))
                 for _ in range(10)]
        await asyncio.sleep(0.2)
        daemon.start()
        hs = await asyncio.wait_for(asyncio.gather(*futs, *later), 60)
        ids = {h.id for h in hs}
        assert len(ids) == n + 10
        listed = {t.timer_id async for t in ev.timers("rc2")}
        assert listed == ids, "a timer was scheduled twice or lost"
        # The caller timer died with the connection, and that was said.
        with pytest.raises(evd.TimersLost) as tl:
            await caller.fired()
        assert caller.id in tl.value.timer_ids
        with pytest.raises(evd.ConnectionLost):
            await wait_fut  # a wait is not repeated
        lost = [e for e in events if e.kind == "lost"]
        assert lost and caller.id in lost[0].lost_timers
        assert events[-1].kind == "restored" and ev.reconnects == 1
        # The subscription came back.
        await ev.call_soon(channel="rc", payload=b"after")
        m = await sub.get(10)
        assert m.payload == b"after"
        await m.ack()
        # Caller timers work on the new connection.
        h = await ev.call_later(0.01)
        await asyncio.wait_for(h.fired(), 5)
        await ev.close()
    run(main())


def test_without_reconnect_everything_fails_loudly(daemon, run):
    async def main():
        ev = await evd.connect(daemon.sock)
        sub = await ev.subscribe("x")
        caller = await ev.call_later(3600)
        daemon.stop()
        with pytest.raises(evd.ConnectionLost):
            await sub.get(10)
        with pytest.raises(evd.TimersLost):
            await caller.fired()
        with pytest.raises(evd.ConnectionLost):
            await ev.stats()
        assert ev.closed
        await ev.close()
        daemon.start()  # for the fixture's orderly stop
    run(main())
