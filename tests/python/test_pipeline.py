"""Pipelines (ev.pipeline(), Pipeline.execute()): results in request
order, every request type, errors at their position, 10,000 requests in
one batch, resend across a reconnection with nothing scheduled twice,
the empty pipeline and the single use."""
from __future__ import annotations

import asyncio
import datetime
import signal

import pytest

import evd
from conftest import until


def test_results_in_order(daemon, run):
    """Each result is the one of the request at its position (checked on
    what only that request could produce: its delay, key and payload)."""
    async def main():
        async with evd.connect(daemon.sock) as ev:
            n = 300
            before = ev.time_ns()
            async with ev.pipeline() as p:
                for i in range(n):
                    p.call_later(1000 + i, channel="ord", payload=str(i), key=f"ord-{i}")
                assert len(p) == n
                hs = await p.execute()
            assert len(hs) == n and all(isinstance(h, evd.TimerHandle) for h in hs)
            for i, h in enumerate(hs):
                # The deadline is the daemon's now + this request's delay.
                assert before + (1000 + i) * 10**9 <= h.scheduled.deadline_ns < \
                    ev.time_ns() + (1000 + i) * 10**9, i
                assert h.durable and not h.existing
            assert len({h.id for h in hs}) == n
            infos = await asyncio.gather(*[ev.get(hs[i].id) for i in range(0, n, 7)])
            for i, info in zip(range(0, n, 7), infos):
                assert info.key == f"ord-{i}" and info.callback.payload == str(i).encode()
            # The same keys again in another order: each the existing timer
            # of its own key.
            p = ev.pipeline()
            order = list(range(n))[::-1]
            for i in order:
                p.call_later(1000 + i, channel="ord", payload=str(i), key=f"ord-{i}")
            again = await p.execute()
            assert [h.id for h in again] == [hs[i].id for i in order]
            assert all(h.existing for h in again)
    run(main())


def test_mixed_request_types(daemon, run):
    async def main():
        async with evd.connect(daemon.sock) as ev:
            sub = await ev.subscribe("mx", visibility=30)
            a = await ev.call_later(3600, channel="mx", payload=b"a")
            b = await ev.call_later(3600, channel="mx", payload=b"b")
            for i in range(2):
                await ev.call_soon(channel="mx", payload=f"m{i}")
            m1, m2 = await sub.get(5), await sub.get(5)
            for i in range(2):
                await ev.call_soon(channel="pq", payload=str(i))

            async def queued():
                return (await ev.get_channel("pq")).queued_messages == 2
            await until(queued)
            fired = []
            when = datetime.datetime.now() + datetime.timedelta(hours=2)
            p = ev.pipeline()
            (p.get(a.id)                                          # 0
              .pause(a.id)                                        # 1
              .resume(a.id)                                       # 2
              .call_soon(exec=["/bin/sh", "-c", "echo hi"])       # 3
              .call_on("*-*-* 03:00:00", tz="UTC", channel="mx")  # 4
              .call_at(when, channel="mx", payload=b"w")          # 5
              .call_later(0.01, callback=fired.append)            # 6 caller timer
              .call_later(3600, channel="mx", every=60, count=2)  # 7 options
              .list("mx")                                         # 8
              .stats()                                            # 9
              .daemon_time()                                      # 10
              .cancel(b.id)                                       # 11
              .get(b.id)                                          # 12
              .ack(m1.fire_id)                                    # 13
              .reject(m2.fire_id, reason="no")                    # 14
              .grant("mx", uid=65534, subscribe=True)             # 15
              .revoke("mx", uid=65534, subscribe=True)            # 16
              .get_channel("mx")                                  # 17
              .list_dead("mx")                                    # 18
              .requeue_dead("mx")                                 # 19
              .purge_dead("mx")                                   # 20
              .purge("pq")                                        # 21
              .trigger(a.id)                                      # 22
              .call_at(ev.time() + 3600)                          # 23 monotonic, fast
              .call_soon(channel="mx", payload=b"s"))             # 24
            r = await p.execute(raise_on_error=False)
            assert len(r) == 25
            assert isinstance(r[0], evd.TimerInfo) and r[0].timer_id == a.id
            assert r[1].state == evd.TimerState.PAUSED
            assert r[2].state == evd.TimerState.PENDING
            assert isinstance(r[3], evd.TimerHandle) and r[3].durable
            assert isinstance(r[4], evd.TimerHandle)
            assert abs(r[5].scheduled.deadline_ns / 1e9 - when.timestamp()) < 1
            assert isinstance(r[6], evd.TimerHandle) and not r[6].durable
            assert isinstance(r[7], evd.TimerHandle)
            assert isinstance(r[8], evd.TimerList)
            assert {a.id, b.id, r[4].id, r[5].id, r[7].id} <= {t.timer_id for t in r[8].timers}
            assert isinstance(r[9], evd.Stats) and r[9].pending_timers >= 4
            assert isinstance(r[10], evd.TimeInfo) and r[10].monotonic_ns > 0
            assert r[11] is None
            assert r[12].state == evd.TimerState.CANCELLED
            assert r[13] is None  # acked, not rescheduled
            assert isinstance(r[14], evd.Rejected) and r[14].fire_id == m2.fire_id
            assert any(g.uid == 65534 for g in r[15].grants)
            assert not any(g.uid == 65534 for g in r[16].grants)
            assert isinstance(r[17], evd.ChannelInfo)
            assert isinstance(r[18], evd.DeadList)
            # No dead letters on mx: what the single calls raise.
            assert type(r[19]) is evd.NotFound and type(r[20]) is evd.NotFound
            assert r[21] == 2
            assert isinstance(r[22], evd.TimerInfo) and r[22].timer_id == a.id
            assert isinstance(r[23], evd.TimerHandle) and not r[23].durable
            assert isinstance(r[24], evd.TimerHandle) and r[24].durable
            info = await ev.get(r[7].id)
            assert info.options.repeat.every_ns == 60 * 10**9
            # The caller timer fires to its callback; the exec ran (wait).
            f = await asyncio.wait_for(r[6].fired(), 10)
            assert fired == [f]
            r[23].cancel()
            run_ = await asyncio.wait_for(ev.pipeline().wait(r[3].id).execute(), 30)
            # A wait issued after the fire may also see the next; it ran.
            assert isinstance(run_[0], evd.Run)
            await ev.cancel(r[4].id)
    run(main())


def test_subscribe_in_a_pipeline(daemon, run):
    """Subscriptions made in a pipeline receive their channels' messages
    (published in the same pipeline, after them); a refused one is its
    error at its position and ends; they come back after a reconnection."""
    async def main():
        async with evd.connect(daemon.sock, reconnect=(0.02, 0.2)) as ev:
            p = ev.pipeline()
            p.subscribe("s1", visibility=30).subscribe("bad name").subscribe("s2", max_inflight=4)
            p.call_soon(channel="s1", payload=b"one").call_soon(channel="s2", payload=b"two")
            r = await p.execute(raise_on_error=False)
            s1, bad, s2 = r[:3]
            assert isinstance(s1, evd.Subscription) and isinstance(s2, evd.Subscription)
            assert type(bad) is evd.InvalidArgument
            assert (await s1.get(5)).payload == b"one"
            m = await s2.get(5)
            assert m.payload == b"two" and m.timer_id == r[4].id
            await m.ack()
            # The same pipeline raising: the refused one's error.
            with pytest.raises(evd.InvalidArgument):
                await ev.pipeline().subscribe("s3").subscribe("bad name").execute()
            ev._transport.abort()  # resubscribed on the new connection
            h = await ev.call_soon(channel="s2", payload=b"after")
            m = await s2.get(10)
            assert m.payload == b"after" and m.timer_id == h.id and ev.reconnects == 1
            s1.close()
            s2.close()
    run(main())


def test_wait_in_a_pipeline(daemon, run):
    async def main():
        async with evd.connect(daemon.sock) as ev:
            h = await ev.call_later(0.2, exec=["/bin/sh", "-c", "echo done"])
            res = await asyncio.wait_for(
                ev.pipeline().stats().wait(h.id).stats().execute(), 30)
            assert isinstance(res[0], evd.Stats) and isinstance(res[2], evd.Stats)
            assert res[1].outcome == evd.RunOutcome.EXEC_EXITED
            assert res[1].stdout_tail == b"done\n"
            # A wait on an unknown timer: its error at its position.
            res = await ev.pipeline().wait(10**12).stats().execute(raise_on_error=False)
            assert isinstance(res[0], evd.NotFound) and isinstance(res[1], evd.Stats)
    run(main())


def test_error_in_the_middle(daemon, run):
    """An error reply is the single call's exception, at its own position;
    the requests around it take effect."""
    async def main():
        async with evd.connect(daemon.sock) as ev:
            h = await ev.call_later(3600, channel="em")
            p = ev.pipeline()
            p.call_later(3600, channel="em", payload=b"0")   # 0
            p.get(10**12)                                    # 1 NotFound
            p.call_later(3600, channel="em", payload=b"2")   # 2
            p.call_soon(channel="bad name")                  # 3 InvalidArgument
            p.retry(h.id)                                    # 4 FailedPrecondition
            p.cancel(10**12 + 1)                             # 5 NotFound
            p.get(h.id)                                      # 6
            p.call_later(-1)                                 # 7 InvalidArgument
            r = await p.execute(raise_on_error=False)
            assert isinstance(r[0], evd.TimerHandle) and isinstance(r[2], evd.TimerHandle)
            assert type(r[1]) is evd.NotFound and r[1].code == evd.ErrorCode.NOT_FOUND
            assert type(r[3]) is evd.InvalidArgument and r[3].message
            assert type(r[4]) is evd.FailedPrecondition
            assert type(r[5]) is evd.NotFound
            assert isinstance(r[6], evd.TimerInfo) and r[6].timer_id == h.id
            assert type(r[7]) is evd.InvalidArgument
            listed = {t.timer_id async for t in ev.timers("em")}
            assert listed == {h.id, r[0].id, r[2].id}
            # raise_on_error (the default): the first error by position,
            # raised once every reply is in; the others took effect.
            p = ev.pipeline()
            p.call_later(3600, channel="em", payload=b"a")
            p.get(h.id)
            p.call_soon(channel="bad name")
            p.get(10**12)
            p.call_later(3600, channel="em", payload=b"z")
            with pytest.raises(evd.InvalidArgument) as ei:
                await p.execute()
            assert "request 2 of the 5" in "".join(ei.value.__notes__)
            listed2 = {t.timer_id async for t in ev.timers("em")}
            assert len(listed2) == 5
            # A client-side error is raised when queueing, as by the call.
            with pytest.raises(ValueError):
                ev.pipeline().call_soon(channel="x", exec=["/bin/true"])
            with pytest.raises(TypeError):
                ev.pipeline().call_later("soon")
    run(main())


def test_ten_thousand_in_one_pipeline(daemon, run):
    """Two batches of 10,000 (request ids from 2 to 3 varint bytes, both
    of the reader's paths), each result the timer of its own payload."""
    async def main():
        async with evd.connect(daemon.sock) as ev:
            n = 10000
            all_ids = {}
            for rnd in range(2):
                p = ev.pipeline()
                for i in range(n):
                    p.call_later(3600, channel=f"big{rnd}", payload=str(i))
                hs = await p.execute()
                assert len(hs) == n
                ids = [h.id for h in hs]
                assert len(set(ids)) == n
                payload = {t.timer_id: t.callback.payload
                           async for t in ev.timers(f"big{rnd}")}
                assert len(payload) == n
                for i, tid in enumerate(ids):
                    assert payload[tid] == str(i).encode(), (rnd, i)
                all_ids.update(payload)
            assert len(all_ids) == 2 * n
            assert (await ev.stats()).pending_timers == 2 * n
    run(main())


def test_resend_after_lost_replies_schedules_nothing_twice(daemon, run):
    """The daemon committed the pipeline but its replies were lost with
    the connection: the resend finds the same timers (generated keys);
    a read is resent; a pause (not safe to repeat) fails at its place."""
    async def main():
        events = []
        ev = await evd.connect(daemon.sock, reconnect=(0.02, 0.2), on_event=events.append)
        other = await evd.connect(daemon.sock)
        t = await ev.call_later(3600, channel="keep")
        n = 2000
        ev._transport.pause_reading()
        p = ev.pipeline()
        for i in range(n):
            p.call_later(3600, channel="once", payload=str(i))
            if i == 1000:
                p.pause(t.id).get(t.id)
        task = asyncio.ensure_future(p.execute(raise_on_error=False))

        async def committed():
            return (await other.stats()).pending_timers >= n + 1
        await until(committed, 30)
        assert not task.done()
        ev._transport.abort()  # the replies are lost with it
        r = await asyncio.wait_for(task, 60)
        assert isinstance(r[1001], evd.ConnectionLost)  # the pause
        assert isinstance(r[1002], evd.TimerInfo) and r[1002].timer_id == t.id
        hs = r[:1001] + r[1003:]
        assert all(isinstance(h, evd.TimerHandle) and h.existing for h in hs), \
            "resent requests scheduled again"
        ids = [h.id for h in hs]
        assert len(set(ids)) == n
        listed = {x.timer_id: x.callback.payload async for x in other.timers("once")}
        assert set(listed) == set(ids)
        assert all(listed[tid] == str(i).encode() for i, tid in enumerate(ids))
        assert [e.kind for e in events] == ["lost", "restored"]
        assert (await ev.get(ids[0])).key.startswith("py-")
        await ev.close()
        await other.close()
    run(main())


def test_pipeline_across_evd_restart(daemon, run):
    async def main():
        ev = await evd.connect(daemon.sock, reconnect=(0.05, 0.5))
        n = 5000
        p = ev.pipeline()
        for i in range(n):
            p.call_later(3600, channel="rs", payload=str(i))
        task = asyncio.ensure_future(p.execute())
        await asyncio.sleep(0)  # written on the next loop turn

        async def some():
            return ev._transport is not None and len(ev._pending) < n - 50
        await until(some, 30)
        daemon.stop(signal.SIGKILL)  # mid-batch: committed replies lost
        # A pipeline executed while evd is down waits for the connection.
        later = asyncio.ensure_future(
            ev.pipeline().call_later(3600, channel="rs", payload=b"late").execute())
        await asyncio.sleep(0.2)
        daemon.start()
        hs = await asyncio.wait_for(task, 60)
        hs += await asyncio.wait_for(later, 60)
        ids = [h.id for h in hs]
        assert len(set(ids)) == n + 1
        listed = {t.timer_id: t.callback.payload async for t in ev.timers("rs")}
        assert set(listed) == set(ids), "a timer was scheduled twice or lost"
        assert all(listed[tid] == str(i).encode() for i, tid in enumerate(ids[:n]))
        assert ev.reconnects == 1
        await ev.close()
    run(main())


def test_empty_single_use_and_discard(daemon, run):
    async def main():
        async with evd.connect(daemon.sock) as ev:
            p = ev.pipeline()
            assert len(p) == 0
            assert await p.execute() == []
            p = ev.pipeline().call_later(3600, channel="su")
            assert len(await p.execute()) == 1
            with pytest.raises(RuntimeError, match="executed"):
                p.call_later(3600, channel="su")
            with pytest.raises(RuntimeError, match="executed"):
                p.stats()
            with pytest.raises(RuntimeError, match="executed"):
                await p.execute()
            # Left without execute(): nothing is sent.
            async with ev.pipeline() as p2:
                p2.call_later(3600, channel="su")
                p2.call_later(3600, channel="su")
            st = await ev.stats()
            assert st.pending_timers == 1
            assert not ev._pending
        # A closed client: execute() says so.
        p3 = ev.pipeline().stats()
        with pytest.raises(evd.ConnectionLost):
            await p3.execute()
    run(main())


def test_caller_timers_in_a_pipeline_die_with_the_connection(daemon, run):
    async def main():
        ev = await evd.connect(daemon.sock)
        hs = await ev.pipeline().call_later(3600).call_later(3600).execute()
        assert all(not h.durable for h in hs)
        daemon.stop()
        for h in hs:
            with pytest.raises(evd.TimersLost):
                await h.fired()
        await ev.close()
        daemon.start()
    run(main())


def test_connection_lost_without_reconnect_fails_the_pipeline(daemon, run):
    async def main():
        ev = await evd.connect(daemon.sock)
        ev._transport.pause_reading()
        p = ev.pipeline()
        for i in range(100):
            p.call_later(3600, channel="cl")
        task = asyncio.ensure_future(p.execute())
        await asyncio.sleep(0.1)
        ev._transport.abort()
        with pytest.raises(evd.ConnectionLost):
            await asyncio.wait_for(task, 10)
        await ev.close()
    run(main())
