"""Ending a subscription without closing the connection (Unsubscribe):
leaving the ``async for`` loop, close() and aclose()."""
from __future__ import annotations

import pytest

import evd
from conftest import LOOP, until


async def subscribers(ev, channel):
    return (await ev.get_channel(channel)).subscribers


def test_break_unsubscribes(daemon, run):
    async def main():
        async with evd.connect(daemon.sock) as ev, evd.connect(daemon.sock) as other:
            await ev.call_soon(channel="ub", payload=b"a")
            await ev.call_soon(channel="ub", payload=b"b")
            seen = []
            async for msg in ev.subscribe("ub", visibility=600):
                seen.append(msg)
                break  # a taken and not acked; b perhaps queued here
            assert seen[0].payload == b"a"

            async def gone():
                return await subscribers(ev, "ub") == 0
            await until(gone)  # the connection itself stays open
            assert not ev.closed
            # Both are back in the queue now, not after 600 s.
            sub = await other.subscribe("ub", visibility=600)
            got = [await sub.get(10), await sub.get(10)]
            assert sorted(m.payload for m in got) == [b"a", b"b"]
            assert got[0].payload == b"a" and got[0].attempt == 2
            with pytest.raises(evd.NotFound):
                await seen[0].ack()
            for m in got:
                await m.ack()
            # New messages go to the remaining subscriber only.
            await ev.call_soon(channel="ub", payload=b"c")
            m = await sub.get(10)
            assert m.payload == b"c"
            await m.ack()
            # Subscribing again on the same connection works.
            await sub.aclose()
            await ev.call_soon(channel="ub", payload=b"d")
            async for msg in ev.subscribe("ub"):
                assert msg.payload == b"d"
                await msg.ack()
                break
    run(main())


def test_aclose_and_close(daemon, run):
    async def main():
        async with evd.connect(daemon.sock) as ev:
            sub = await ev.subscribe("uc", visibility=600)
            h = await ev.call_soon(channel="uc", payload=b"x")
            m = await sub.get(10)
            assert m.timer_id == h.id
            assert await subscribers(ev, "uc") == 1
            await sub.aclose()  # answered: the daemon has ended it
            info = await ev.get_channel("uc")
            assert info.subscribers == 0
            assert info.inflight_messages == 0 and info.queued_messages == 1
            with pytest.raises(StopAsyncIteration):
                await sub.__anext__()
            await sub.aclose()  # idempotent
            sub.close()
            # close() does not wait, but the next request is answered
            # after the daemon ran it.
            sub2 = await ev.subscribe("uc", visibility=600)
            m2 = await sub2.get(10)
            assert (m2.fire_id, m2.attempt) == (m.fire_id, 2)
            await m2.ack()
            sub2.close()
            assert await subscribers(ev, "uc") == 0
            # A subscription closed before its Subscribed reply is not
            # registered by it.
            sub3 = ev.subscribe("uc")
            sub3.close()
            assert await subscribers(ev, "uc") == 0
            assert not ev.closed
    run(main())


def test_sync_subscription_close(daemon):
    import evd.sync
    if LOOP == "uvloop":
        pytest.skip("evd.sync runs its own asyncio loop")
    with evd.sync.connect(daemon.sock) as ev:
        sub = ev.subscribe("us", visibility=600)
        assert ev.get_channel("us").subscribers == 1
        sub.close()  # answered: the daemon ended it
        assert ev.get_channel("us").subscribers == 0
        assert not ev.closed
