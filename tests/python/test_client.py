"""The asyncio client against the real evd: every request type, events,
pipelining, cancel races, FIFO, time(), channels, errors."""
from __future__ import annotations

import asyncio
import os
import random
import time

import pytest

import evd
import evd._client
from conftest import until


async def connect(daemon, **kw):
    return await evd.connect(daemon.sock, name="pytest", **kw)


def test_hello_and_time(daemon, run):
    async def main():
        async with evd.connect(daemon.sock) as ev:
            assert ev.server.protocol_version == 1
            assert ev.server.server_version
            assert ev.server.boot_id
            for _ in range(20):
                before = ev.time_ns()
                ti = await ev.daemon_time()
                after = ev.time_ns()
                # time() is the daemon's monotonic clock, not an estimate
                # that may run ahead or behind it.
                assert before <= ti.monotonic_ns <= after
                assert ti.realtime_ns > 0 and ti.boottime_ns >= ti.monotonic_ns
            assert abs(ev.time() - time.clock_gettime(time.CLOCK_MONOTONIC)) < 1
    run(main())


def test_socket_discovery(monkeypatch):
    monkeypatch.setenv("EVD_SOCKET", "/x/y.sock")
    assert evd.default_socket() == "/x/y.sock"
    monkeypatch.setenv("EVD_SOCKET", "")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    want = "/run/evd/evd.sock" if os.geteuid() == 0 else "/run/user/1000/evd.sock"
    assert evd.default_socket() == want


def test_env_socket_used_by_connect(daemon, run, monkeypatch):
    monkeypatch.setenv("EVD_SOCKET", daemon.sock)

    async def main():
        async with evd.connect() as ev:
            assert (await ev.stats()).connections >= 1
    run(main())


def test_call_later_fires_to_caller(daemon, run):
    async def main():
        async with evd.connect(daemon.sock) as ev:
            got = []
            h = await ev.call_later(0.05, payload=b"p", callback=got.append)
            assert isinstance(h, evd.TimerHandle) and h.id > 0 and not h.existing
            f = await asyncio.wait_for(h.fired(), 5)
            assert ev.time() >= h.when()  # never early
            assert f.timer_id == h.id and f.payload == b"p" and f.channel is None
            assert got == [f]
            run_ = await h
            assert run_.outcome == evd.RunOutcome.DELIVERED
            assert run_.fire_id == f.fire_id
            info = await ev.get(h.id)
            assert info.state == evd.TimerState.FIRED and info.fire_count == 1
    run(main())


def test_call_at_on_daemon_loop_time(daemon, run):
    async def main():
        async with evd.connect(daemon.sock) as ev:
            when = ev.time() + 0.05
            h = await ev.call_at(when)
            assert h.scheduled.clock == evd.Clock.MONOTONIC
            assert h.scheduled.deadline_ns == round(when * 1e9)
            await asyncio.wait_for(h.fired(), 5)
            assert ev.time() >= when
            import datetime
            h2 = await ev.call_at(datetime.datetime.now() + datetime.timedelta(seconds=3600),
                                  channel="at")
            assert h2.scheduled.clock == evd.Clock.REALTIME
            h3 = await ev.call_later(3600, clock="boottime", channel="at")
            assert h3.scheduled.clock == evd.Clock.BOOTTIME
    run(main())


def test_call_soon_fifo(daemon, run):
    async def main():
        async with evd.connect(daemon.sock) as ev:
            order = []
            n = 2000
            hs = await asyncio.gather(*[
                ev.call_soon(payload=str(i), callback=lambda f: order.append(int(f.payload)))
                for i in range(n)])
            await asyncio.wait_for(asyncio.gather(*[h.fired() for h in hs]), 30)
            assert order == list(range(n))
    run(main())


def test_pipelining_10000_in_flight(daemon, run):
    async def main():
        async with evd.connect(daemon.sock) as ev:
            n = 10000
            futs = [asyncio.ensure_future(ev.call_later(3600, key=f"k{i}", payload=str(i)))
                    for i in range(n)]
            # Every request is in flight before the first reply is read.
            await asyncio.sleep(0)
            assert len(ev._pending) == n
            first = await asyncio.gather(*futs)
            ids = [h.id for h in first]
            assert len(set(ids)) == n
            # The same keys again, pipelined: each reply must be the one of
            # its own request (the key's timer), in order.
            again = await asyncio.gather(*[ev.call_later(3600, key=f"k{i}", payload=str(i))
                                           for i in range(n)])
            assert [h.id for h in again] == ids
            assert all(h.existing for h in again)
            # Mixed request types in one pipeline.
            mixed = await asyncio.gather(*[ev.get(ids[i]) if i % 2 else ev.stats()
                                           for i in range(2000)])
            for i, r in enumerate(mixed):
                if i % 2:
                    assert isinstance(r, evd.TimerInfo) and r.timer_id == ids[i]
                    assert r.callback.payload == str(i).encode()
                else:
                    assert isinstance(r, evd.Stats)
    run(main())


def test_cancel_and_cancelled(daemon, run):
    async def main():
        async with evd.connect(daemon.sock) as ev:
            h = await ev.call_later(3600, channel="c")
            h.cancel()
            h.cancel()  # idempotent on the handle
            assert await h.cancelled()
            info = await ev.get(h.id)
            assert info.state == evd.TimerState.CANCELLED
            with pytest.raises(evd.NotFound):
                await ev.cancel(h.id)
            h2 = await ev.call_later(3600)
            assert not await h2.cancelled()
            await ev.cancel(h2.id)
            assert await h2.cancelled()
            # A wait on a cancelled timer answers with its cancelled run.
            assert (await h2).outcome == evd.RunOutcome.CANCELLED
    run(main())


def test_cancel_races(daemon, run):
    """A cancel racing its timer's fire: exactly one of the two wins."""
    async def main():
        async with evd.connect(daemon.sock) as ev:
            rnd = random.Random(18)
            hs = await asyncio.gather(*[ev.call_later(rnd.random() * 0.01) for _ in range(500)])
            await asyncio.sleep(rnd.random() * 0.005)
            results = await asyncio.gather(*[ev.cancel(h.id) for h in hs],
                                           return_exceptions=True)
            won_fire = won_cancel = 0
            for h, r in zip(hs, results):
                if r is None:
                    won_cancel += 1
                else:
                    # The fire won; its event may follow the NotFound reply
                    # (the daemon answers before it publishes).
                    assert isinstance(r, evd.NotFound)
                    won_fire += 1
                    await asyncio.wait_for(h.fired(), 10)
            await asyncio.sleep(0.3)  # a cancelled timer that still fired would show
            for h, r in zip(hs, results):
                if r is None:
                    assert not h.fired().done(), f"timer {h.id} cancelled and fired"
            assert won_fire + won_cancel == 500
    run(main())


def test_subscribe_ack_redelivery(daemon, run):
    async def main():
        async with evd.connect(daemon.sock) as ev:
            sub = await ev.subscribe("jobs", visibility=0.3)
            assert sub.channel == "jobs"
            h = await ev.call_soon(channel="jobs", payload=b"x")
            m1 = await sub.get(5)
            assert (m1.timer_id, m1.payload, m1.attempt, m1.channel) == (h.id, b"x", 1, "jobs")
            # Not acked: redelivered after the visibility timeout.
            m2 = await sub.get(10)
            assert (m2.fire_id, m2.attempt) == (m1.fire_id, 2)
            assert await m2.ack() is None
            with pytest.raises(evd.NotFound):
                await m2.ack()
            with pytest.raises(asyncio.TimeoutError):
                await sub.get(0.8)  # acked: never again
            # Ack with a reschedule: the trampoline.
            await ev.call_soon(channel="jobs", payload=b"t")
            m3 = await sub.get(5)
            sc = await m3.ack(reschedule_delay=0.05)
            assert sc is not None and sc.timer_id == m3.timer_id
            m4 = await sub.get(5)
            assert m4.timer_id == m3.timer_id and m4.fire_id != m3.fire_id
            await m4.ack()
            info = await ev.get_channel("jobs")
            assert info.inflight_messages == 0 and info.subscribers == 1
    run(main())


def test_async_for_subscription(daemon, run):
    async def main():
        async with evd.connect(daemon.sock) as ev:
            for i in range(5):
                await ev.call_soon(channel="it", payload=str(i))
            seen = []
            async for msg in ev.subscribe("it", visibility=30):
                seen.append(msg.payload)
                await msg.ack()
                if len(seen) == 5:
                    break
            assert seen == [b"0", b"1", b"2", b"3", b"4"]
    run(main())


def test_timer_requests(daemon, run):
    async def main():
        async with evd.connect(daemon.sock) as ev:
            h = await ev.call_later(3600, channel="ctl", payload=b"c", key="ctl-1",
                                    misfire="skip", max_attempts=3, downtime="paused",
                                    every=7200, count=4, accuracy=0.5, randomized_delay=0.25)
            info = await ev.get(h.id)
            assert info.key == "ctl-1" and info.callback.channel == "ctl"
            o = info.options
            assert o.misfire == evd.Misfire.SKIP and o.max_attempts == 3
            assert o.downtime == evd.Downtime.PAUSED
            assert o.repeat.every_ns == 7200 * 10**9 and o.repeat.count == 4
            assert o.accuracy_ns == 500_000_000 and o.randomized_delay_ns == 250_000_000
            assert (await ev.pause(h.id)).state == evd.TimerState.PAUSED
            assert (await ev.resume(h.id)).state == evd.TimerState.PENDING
            lst = await ev.list("ctl")
            assert [t.timer_id for t in lst.timers] == [h.id]
            assert [t.timer_id async for t in ev.timers("ctl")] == [h.id]
            sub = await ev.subscribe("ctl")
            info = await ev.trigger(h.id)
            msg = await sub.get(5)
            assert msg.timer_id == h.id
            await msg.ack()
            cal = await ev.call_on("*-*-* 03:00:00", tz="Europe/Paris", channel="ctl",
                                   dst_gap="skip", dst_overlap="both")
            ci = await ev.get(cal.id)
            assert ci.options.repeat.calendar and ci.options.repeat.tz == "Europe/Paris"
            assert ci.options.repeat.dst_gap == evd.DstGap.SKIP
            st = await ev.stats()
            assert st.pending_timers >= 2 and st.server_version and st.store == "sqlite"
            await ev.cancel(h.id)
            await ev.cancel(cal.id)
    run(main())


def test_exec_wait_and_retry(daemon, run):
    async def main():
        async with evd.connect(daemon.sock) as ev:
            h = await ev.call_soon(exec=["/bin/sh", "-c", "cat; echo out"], payload=b"in ")
            r = await asyncio.wait_for(h, 30)
            assert r.outcome == evd.RunOutcome.EXEC_EXITED, r
            assert r.exit_code == 0 and r.stdout_tail == b"in out\n"
            info = await ev.get(h.id)
            assert info.callback.exec.argv[0] == "/bin/sh"
            info = await ev.retry(h.id)
            r2 = await asyncio.wait_for(ev.wait(h.id), 30)
            assert r2.outcome == evd.RunOutcome.EXEC_EXITED and r2.fire_id != r.fire_id
            h2 = await ev.call_soon(exec=evd.Exec(["exit 3"], shell=True, timeout=10))
            r3 = await asyncio.wait_for(h2, 30)
            assert r3.outcome == evd.RunOutcome.EXEC_EXITED and r3.exit_code == 3
    run(main())


def test_dead_letters_and_purge(daemon, run):
    async def main():
        async with evd.connect(daemon.sock) as ev:
            sub = await ev.subscribe("dl", visibility=0.2)
            h = await ev.call_soon(channel="dl", payload=b"d", max_attempts=1)
            m = await sub.get(5)
            assert m.timer_id == h.id  # not acked: dead after one attempt

            async def dead():
                return len((await ev.list_dead("dl")).messages) == 1
            await until(dead)
            dl = await ev.list_dead("dl")
            assert dl.messages[0].fire_id == m.fire_id and dl.messages[0].payload == b"d"
            assert await ev.requeue_dead("dl") == 1
            m2 = await sub.get(5)
            assert m2.fire_id == m.fire_id
            await until(dead)
            assert await ev.purge_dead("dl", m.fire_id) == 1
            assert (await ev.list_dead("dl")).messages == []
            # purge: messages waiting with no subscriber.
            for i in range(3):
                await ev.call_soon(channel="pq", payload=str(i))

            async def queued():
                return (await ev.get_channel("pq")).queued_messages == 3
            await until(queued)
            assert await ev.purge("pq") == 3
            assert await ev.purge("pq", from_uid=os.geteuid()) == 0
    run(main())


def test_grants(daemon, run):
    async def main():
        async with evd.connect(daemon.sock) as ev:
            ci = await ev.grant("g", uid=65534, subscribe=True)
            assert any(g.uid == 65534 and g.subscribe and not g.publish for g in ci.grants)
            ci = await ev.grant("g", gid=65534, publish=True)
            assert any(g.gid == 65534 and g.publish for g in ci.grants)
            ci = await ev.revoke("g", uid=65534, subscribe=True)
            assert not any(g.uid == 65534 for g in ci.grants)
            assert (await ev.get_channel("g")).owner_uid == os.geteuid()
            with pytest.raises(ValueError):
                await ev.grant("g")
    run(main())


def test_errors_mapped(daemon, run):
    async def main():
        async with evd.connect(daemon.sock) as ev:
            with pytest.raises(evd.InvalidArgument) as ei:
                await ev.call_later(-1)
            assert ei.value.code == evd.ErrorCode.INVALID_ARGUMENT and ei.value.message
            with pytest.raises(evd.InvalidArgument):
                await ev.call_soon(channel="bad name")
            with pytest.raises(evd.InvalidArgument):
                await ev.call_soon(channel="x", payload=b"p" * 70000)
            with pytest.raises(evd.NotFound) as en:
                await ev.get(10**12)
            assert isinstance(en.value, evd.Error) and en.value.code == evd.ErrorCode.NOT_FOUND
            h = await ev.call_later(3600, channel="fp")
            with pytest.raises(evd.FailedPrecondition):
                await ev.retry(h.id)  # not an exec timer
            # Errors do not disturb requests in flight around them.
            rs = await asyncio.gather(ev.stats(), ev.get(10**12), ev.stats(),
                                      return_exceptions=True)
            assert isinstance(rs[0], evd.Stats) and isinstance(rs[1], evd.NotFound)
            assert isinstance(rs[2], evd.Stats)
            with pytest.raises(ValueError):
                await ev.call_soon(channel="a", exec=["/bin/true"])
            with pytest.raises(ValueError):
                await ev.call_soon(misfire="sometimes")
            with pytest.raises(TypeError):
                await ev.call_soon(colour="red")
    run(main())


def test_unsupported_version(daemon, run, monkeypatch):
    monkeypatch.setattr(evd._client, "PROTOCOL_VERSION", 99)

    async def main():
        with pytest.raises(evd.UnsupportedVersion):
            await evd.connect(daemon.sock)
    run(main())


def test_protocol_error_closes(daemon, run):
    async def main():
        ev = await evd.connect(daemon.sock)
        h = await ev.call_later(3600)
        ev._transport.write(b"\0\0\0\0")  # a zero-length frame: PROTOCOL

        async def closed():
            return ev.closed
        await until(closed)
        # The daemon's Error event says why it closed the connection.
        assert isinstance(ev._close_exc, evd.ConnectionLost)
        assert "PROTOCOL" in str(ev._close_exc)
        with pytest.raises(evd.TimersLost) as tl:
            await h.fired()
        assert tl.value.timer_ids == [h.id]
        assert ev.closed
        with pytest.raises(evd.ConnectionLost):
            await ev.stats()
        await ev.close()
    run(main())


def test_connect_refused(tmpdir_short, run):
    async def main():
        with pytest.raises(OSError):
            await evd.connect(os.path.join(tmpdir_short, "none.sock"))
    run(main())


def test_fast_encoding_matches_protobuf(run):
    """call_soon/call_later/call_at without exec or options are encoded by
    hand; they must say exactly what the protobuf path says."""
    from evd import evd_pb2 as pb

    async def main():
        ev = evd.Client("/nonexistent")  # never connected: frames stay queued

        def last():
            frame = ev._unsent[-1]
            assert int.from_bytes(frame[:4], "big") == len(frame) - 4
            return pb.Request.FromString(frame[4:])

        cases = [dict(), dict(channel="jobs"), dict(payload=b"\0\xff" * 100),
                 dict(channel="1000:n\u00e9", payload="s\u00fcr", key="k" * 200),
                 dict(key="only")]
        for kw in cases:
            for delay in (0, 1, 0.5, 3600, 10**6, -1):
                for clock in ("monotonic", evd.Clock.BOOTTIME):
                    ev.call_later(delay, clock=clock, **kw)
                    got = last()
                    want = pb.Request(request_id=got.request_id)
                    want.call_later.delay_ns = int(round(delay * 1e9))
                    want.call_later.clock = 0 if clock == "monotonic" else 2
                    cb = want.call_later.callback
                    cb.SetInParent()
                    if "channel" in kw:
                        cb.channel = kw["channel"]
                    if "payload" in kw:
                        p = kw["payload"]
                        cb.payload = p.encode() if isinstance(p, str) else p
                    if "key" in kw:
                        want.call_later.key = kw["key"]
                    assert got == want, (kw, delay, clock)
            ev.call_at(12345.5, **kw)
            got = last()
            assert got.call_at.when_ns == 12345500000000 and got.call_at.clock == 0
            assert got.call_at.HasField("callback")
            ev.call_soon(**kw)
            got = last()
            assert got.WhichOneof("body") == "call_soon"
            assert got.call_soon.HasField("callback")
            assert got.call_soon.callback.channel == kw.get("channel", "")
            assert got.call_soon.key == kw.get("key", "")
        ids = [pb.Request.FromString(f[4:]).request_id for f in ev._unsent]
        assert ids == sorted(set(ids))
        await ev.close()
    run(main())


def test_uvarint_matches_protobuf():
    from evd import evd_pb2 as pb
    from evd._client import _uvarint
    ns = [0, 1, 127, 128, 255, 16383, 16384, 16385, 2**21 - 1, 2**21, 2**28, 2**35,
          2**63 - 1, 3_600_000_000_000]
    for n in ns:
        assert _uvarint(n) == pb.Request(request_id=n).SerializeToString()[1:], n
    for n in (-1, -2**63, -1_000_000_000):
        m = pb.CallLater(delay_ns=n).SerializeToString()[1:]
        assert _uvarint(n) == m, n


def test_reply_larger_than_a_read(daemon, run):
    """A List reply of about 500 KiB (the daemon's cap) arrives over several
    reads (256 KiB each)."""
    async def main():
        async with evd.connect(daemon.sock) as ev:
            futs = [ev.call_later(3600, channel="big", payload=bytes([i % 251]) * 1000)
                    for i in range(1000)]
            ids = [(await f).id for f in futs]
            page = await ev.list("big", limit=1000)
            got = [t.timer_id for t in page.timers]
            assert got == ids[:len(got)] and len(got) >= 300
            assert all(t.callback.payload == bytes([i % 251]) * 1000
                       for i, t in enumerate(page.timers))
            assert [t.timer_id async for t in ev.timers("big")] == ids
    run(main())


def test_repeating_caller_timer_calls_back_each_fire(daemon, run):
    async def main():
        async with evd.connect(daemon.sock) as ev:
            got = []
            done = asyncio.get_running_loop().create_future()

            def cb(f):
                got.append(f.fire_id)
                if len(got) == 3:
                    done.set_result(None)
            h = await ev.call_later(0.01, every=0.01, count=3, callback=cb)
            await asyncio.wait_for(done, 10)
            assert len(set(got)) == 3
            assert (await h.fired()).fire_id == got[0]
            await asyncio.sleep(0.1)
            assert len(got) == 3
            assert (await ev.get(h.id)).state == evd.TimerState.FIRED
    run(main())


def test_reject_redelivers_with_reason(daemon, run):
    async def main():
        async with evd.connect(daemon.sock) as ev:
            sub = await ev.subscribe("rj", visibility=30)
            h = await ev.call_soon(channel="rj", payload=b"r")
            m1 = await sub.get(5)
            assert (m1.timer_id, m1.attempt, m1.reason) == (h.id, 1, None)
            rj = await m1.reject(reason="disk full: caf\u00e9")
            assert isinstance(rj, evd.Rejected)
            assert rj.fire_id == m1.fire_id and not rj.dead and rj.redeliver_in_ns > 0
            # Rejected: no longer held here until it comes back.
            with pytest.raises(evd.NotFound):
                await m1.reject(reason="again")
            with pytest.raises(evd.NotFound):
                await m1.ack()
            # Back after the backoff (about 1 s), not the 30 s visibility.
            m2 = await sub.get(10)
            assert (m2.fire_id, m2.attempt) == (m1.fire_id, 2)
            assert m2.reason == "disk full: caf\u00e9"
            await m2.ack()
            with pytest.raises(evd.NotFound):
                await m2.reject()
            # Not acked in time: the daemon's own reason.
            sub2 = await ev.subscribe("rv", visibility=0.3)
            await ev.call_soon(channel="rv")
            v1 = await sub2.get(5)
            v2 = await sub2.get(10)
            assert v2.fire_id == v1.fire_id and v2.attempt == 2
            assert v2.reason == "not acked within the visibility timeout"
            await v2.ack()
    run(main())


def test_reject_dead_letter_with_reason(daemon, run):
    async def main():
        async with evd.connect(daemon.sock) as ev:
            sub = await ev.subscribe("rd", visibility=30)
            await ev.call_soon(channel="rd", payload=b"p", max_attempts=5)
            m = await sub.get(5)
            rj = await m.reject(reason="malformed payload", dead_letter=True)
            assert rj.dead and rj.fire_id == m.fire_id
            dl = await ev.list_dead("rd")
            assert [(d.fire_id, d.payload, d.reason) for d in dl.messages] == \
                [(m.fire_id, b"p", "malformed payload")]
            assert (await ev.get_channel("rd")).dead_messages == 1
            # max_attempts used up: a plain reject dead-letters it too.
            await ev.call_soon(channel="rd", payload=b"q", max_attempts=1)
            m2 = await sub.get(5)
            assert (await ev.reject(m2.fire_id, reason="", channel="rd")).dead
            dl = await ev.list_dead("rd")
            assert sorted((d.payload, d.reason) for d in dl.messages) == \
                [(b"p", "malformed payload"), (b"q", "")]
            # Requeued: delivered again with the reason it died for.
            assert await ev.requeue_dead("rd", m.fire_id) == 1
            m3 = await sub.get(5)
            assert m3.fire_id == m.fire_id and m3.reason == "malformed payload"
            await m3.ack()
    run(main())


def test_reject_errors_mapped(daemon, run):
    async def main():
        async with evd.connect(daemon.sock) as ev:
            with pytest.raises(evd.NotFound) as en:
                await ev.reject(10**12, reason="x")
            assert en.value.code == evd.ErrorCode.NOT_FOUND and en.value.message
            sub = await ev.subscribe("re", visibility=30)
            await ev.call_soon(channel="re")
            m = await sub.get(5)
            with pytest.raises(evd.NotFound):
                await ev.reject(m.fire_id, channel="other")  # not of that channel
            with pytest.raises(evd.InvalidArgument):
                await m.reject(reason="x" * 4097)
            with pytest.raises(evd.InvalidArgument):
                await ev.reject(m.fire_id, channel="bad name")
            with pytest.raises(TypeError):
                await m.reject(reason=b"bytes")
            # Another connection does not hold it.
            async with evd.connect(daemon.sock) as other:
                with pytest.raises(evd.NotFound):
                    await other.reject(m.fire_id)
            rj = await m.reject(reason="x" * 4096)  # the limit itself is fine
            assert not rj.dead
    run(main())


def test_max_inflight(daemon, run):
    async def main():
        async with evd.connect(daemon.sock) as ev:
            with pytest.raises(ValueError):
                ev.subscribe("mi", max_inflight=-1)
            sub = await ev.subscribe("mi", visibility=30, max_inflight=2)
            for i in range(5):
                await ev.call_soon(channel="mi", payload=str(i))
            got = [await sub.get(5), await sub.get(5)]
            with pytest.raises(asyncio.TimeoutError):
                await sub.get(0.8)  # only 2 until one is acked
            ci = await ev.get_channel("mi")
            assert (ci.inflight_messages, ci.queued_messages) == (2, 3)
            await got[0].ack()
            got.append(await sub.get(5))
            with pytest.raises(asyncio.TimeoutError):
                await sub.get(0.5)
            await got[1].reject(reason="later")  # a reject frees a place too
            got.append(await sub.get(5))
            for m in got[2:]:
                await m.ack()
            rest = [await sub.get(10), await sub.get(10)]
            for m in rest:
                await m.ack()
            seen = sorted(m.payload for m in got[:1] + got[2:] + rest)
            assert seen == [b"0", b"1", b"2", b"3", b"4"]
            ci = await ev.get_channel("mi")
            assert (ci.inflight_messages, ci.queued_messages) == (0, 0)
    run(main())
