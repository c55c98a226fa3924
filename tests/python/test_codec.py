"""The client's hand-written wire code against the generated bindings: the
request encoder of call_soon/call_later/call_at (no exec, no options) and
the reply framing in Client._feed (which matches a Scheduled reply without
parsing it) whatever the reads' boundaries. No daemon: the client is never connected, replies are
made with protobuf and fed to it directly."""
from __future__ import annotations

import asyncio
import random
import types

import pytest

import evd
from evd import _client
from evd import evd_pb2 as pb

SEED = 20261206


def _want(kind: str, rid: int, ns, clock, kw) -> bytes:
    req = pb.Request(request_id=rid)
    body = getattr(req, kind)
    if kind == "call_later":
        body.delay_ns = ns
        body.clock = clock
    elif kind == "call_at":
        body.when_ns = ns
        body.clock = clock
    cb = body.callback
    cb.SetInParent()
    if kw.get("channel") is not None:
        cb.channel = kw["channel"]
    p = kw.get("payload")
    if p is not None:
        cb.payload = p.encode() if isinstance(p, str) else bytes(p)
    if kw.get("key") is not None:
        body.key = kw["key"]
    return req.SerializeToString()


def test_request_encoder_matches_protobuf_on_random_input(run):
    """Byte for byte, across request id sizes (1, 2, 3 and more varint
    bytes), payload lengths around 127/128, str and bytes payloads, keys,
    repeated shapes (the prefix cache) and negative delays."""
    rng = random.Random(SEED)

    def text(n):
        return "".join(rng.choice("ab\u00e9\u4e2d:-") for _ in range(n))

    async def main():
        ev = evd.Client("/nonexistent")  # never connected: frames stay queued
        for start in (1, 120, 16370, 2**21 - 20, 2**28 + 5):
            ev._next_id = start
            for _ in range(300):
                kind = rng.choice(["call_soon", "call_later", "call_at"])
                kw = {}
                if rng.random() < 0.7:
                    kw["channel"] = rng.choice(["jobs", "bench", text(rng.randrange(0, 200))])
                r = rng.random()
                if r < 0.4:
                    kw["payload"] = bytes(rng.randrange(256) for _ in range(
                        rng.choice([0, 1, 3, 126, 127, 128, 129, 300, rng.randrange(2000)])))
                elif r < 0.6:
                    kw["payload"] = text(rng.randrange(0, 150))
                elif r < 0.7:
                    kw["payload"] = bytearray(b"ba" * rng.randrange(0, 80))
                if rng.random() < 0.2:
                    kw["key"] = text(rng.randrange(0, 300))
                secs = rng.choice([0, 1, 3600, -1, 2**33, rng.randrange(2**31),
                                   0.5, 1e-9, 12345.678, -0.25, rng.random() * 1e6])
                clock = rng.choice([evd.Clock.MONOTONIC, evd.Clock.BOOTTIME])
                rid = ev._next_id
                if kind == "call_soon":
                    ev.call_soon(**kw)
                elif kind == "call_later":
                    ev.call_later(secs, clock=rng.choice([clock, clock.name.lower()]), **kw)
                else:
                    ev.call_at(secs, clock=clock, **kw)
                frame = ev._unsent[-1]
                assert int.from_bytes(frame[:4], "big") == len(frame) - 4
                ns = None
                if kind != "call_soon":
                    ns = secs * 10**9 if isinstance(secs, int) else int(round(secs * 1e9))
                assert frame[4:] == _want(kind, rid, ns, clock, kw), (kind, rid, secs, kw)
        await ev.close()
    run(main())


def test_bad_scheduled_body_is_a_protocol_error():
    """A handle's Scheduled body is parsed on first use: bytes protobuf
    refuses are a ProtocolError then, not a wrong Scheduled."""
    for bad in (b"\x08", b"\x08\xff", b"\x18" + b"\xff" * 11, b"\x0a\x05ab"):
        with pytest.raises(evd.ProtocolError):
            _client._decode_scheduled(bad)


def _reply_frames(rng: random.Random, rids, odd: bool) -> list:
    """A Scheduled reply per request id, and now and then an event (no
    request id) between them; with odd, some replies in layouts the fast
    path does not take (fields reversed, a body of 128 bytes or more)."""
    frames, want = [], {}
    for rid in rids:
        if rng.random() < 0.1:
            ev = pb.Reply()
            ev.fired.timer_id = 999_999
            ev.fired.fire_id = 5
            b = ev.SerializeToString()
            frames.append(len(b).to_bytes(4, "big") + b)
        s = pb.Scheduled(timer_id=rid * 7 + rng.randrange(2**33), clock=rng.choice([0, 2]),
                         deadline_ns=rng.randrange(2**62), due_realtime_ns=rng.randrange(2**62),
                         existing=rng.random() < 0.3)
        want[rid] = s.timer_id
        r = pb.Reply(request_id=rid)
        r.scheduled.CopyFrom(s)
        b = r.SerializeToString()
        if odd and rng.random() < 0.3:
            sb = s.SerializeToString()
            if rng.random() < 0.5:  # scheduled first, request_id last
                b = b"\x62" + bytes([len(sb)]) + sb + b"\x08" + _client._uvarint(rid)
            else:  # unknown trailing bytes inside the body make it >= 128
                sb += b"\x32\x7e" + b"x" * 126
                b = (b"\x08" + _client._uvarint(rid) + b"\x62" + _client._uvarint(len(sb))
                     + sb)
        frames.append(len(b).to_bytes(4, "big") + b)
    return frames, want


@pytest.mark.parametrize("odd", [False, True])
def test_reply_framing_split_across_reads(run, odd, monkeypatch):
    """Replies cut at random points (a byte at a time, inside headers,
    inside bodies, several frames per read) resolve every request to its
    own handle, whether the reply takes the hand path or protobuf's; the
    daemon's layout takes the hand path."""
    rng = random.Random(SEED + odd)
    parsed = []

    def from_string(b):
        parsed.append(b)
        return pb.Reply.FromString(b)
    monkeypatch.setattr(_client, "pb", types.SimpleNamespace(
        Reply=types.SimpleNamespace(FromString=from_string), Scheduled=pb.Scheduled))

    async def main():
        ev = evd.Client("/nonexistent")
        futs = {}
        # Ids of 1 to 5 varint bytes (the last ones take protobuf's path).
        for i in range(4000):
            if i % 1000 == 0:
                ev._next_id = (100, 16300, 2**21 - 500, 2**28 - 500)[i // 1000]
            rid = ev._next_id
            if i % 5 == 4:  # a caller timer: its handle is registered at once
                futs[rid] = ev.call_later(3600, callback=lambda f: None)
            else:
                futs[rid] = ev.call_later(3600, channel="c", payload=b"p" * (i % 3))
        frames, want = _reply_frames(rng, list(futs), odd)
        data = b"".join(frames)
        off = 0
        while off < len(data):
            step = rng.choice([1, 2, 3, 4, 5, 7, 30, 31, 64, 1000, 20000])
            ev._feed(data[off:off + step])
            off += step
        assert ev._rest == b""
        assert not ev._pending
        if not odd:  # protobuf parsed the events and ids of 5 bytes only
            events = sum(1 for f in frames if f[4] != 0x08)
            assert len(parsed) == events + sum(1 for rid in futs if rid >= 2**28)
        for rid, f in futs.items():
            h = f.result()
            assert isinstance(h, evd.TimerHandle)
            assert h.id == want[rid]
            assert h.scheduled.timer_id == want[rid]
        callers = [f.result() for rid, f in futs.items() if not f.result().durable]
        assert callers and all(ev._handles[h.id] is h for h in callers)
        await ev.close()
    run(main())


def test_unknown_request_id_is_a_protocol_error(run):
    """A reply to no request closes the connection with ProtocolError's
    reason, on the hand path as on protobuf's."""
    async def main():
        ev = evd.Client("/nonexistent")
        f = ev.call_later(1, channel="c")
        ev._connected = True  # as if connected, for _lost to act
        r = pb.Reply(request_id=12345)
        r.scheduled.timer_id = 1
        b = r.SerializeToString()
        ev._feed(len(b).to_bytes(4, "big") + b)
        assert ev.closed
        with pytest.raises(evd.ConnectionLost, match="unknown request 12345"):
            f.result()
    run(main())


def test_bad_scheduled_reply_to_a_caller_timer_fails_it(run):
    """A caller timer's reply is parsed at once: a body protobuf refuses
    loses the connection, and the request's future fails with it."""
    async def main():
        ev = evd.Client("/nonexistent")
        f = ev.call_later(1)  # a caller timer
        ev._connected = True  # as if connected, for _lost to act
        rid = ev._next_id - 1
        b = b"\x08" + _client._uvarint(rid) + b"\x62\x02\x08\xff"  # truncated varint
        ev._feed(len(b).to_bytes(4, "big") + b)
        assert ev.closed
        with pytest.raises(evd.ConnectionLost, match="bad Scheduled"):
            f.result()
    run(main())


def test_keyed_requests_of_a_reconnecting_client_match_protobuf(run):
    """With reconnect on, a durable schedule carries a key (generated when
    none was given) and is kept for a resend: its frame is protobuf's
    byte for byte, for keys and payloads on both sides of 128 bytes."""
    rng = random.Random(SEED + 2)

    async def main():
        ev = evd.Client("/nonexistent", reconnect=True)
        for start in (1, 16370, 2**21 - 20):
            ev._next_id = start
            for _ in range(300):
                kw = {}
                if rng.random() < 0.8:
                    kw["channel"] = rng.choice(["jobs", "c" * rng.randrange(1, 150)])
                if rng.random() < 0.7:
                    kw["payload"] = b"p" * rng.choice([0, 3, 127, 128, 200])
                if rng.random() < 0.3:
                    kw["key"] = "k" * rng.choice([0, 1, 100, 125, 126, 127, 128, 300])
                rid = ev._next_id
                secs = rng.choice([1, 3600, 0.5])
                ev.call_later(secs, **kw)
                p = ev._pending[rid]
                key = kw.get("key")
                if key is None and "channel" in kw:
                    key = f"{ev._key_prefix}-{ev._key_counter}"
                want = dict(kw, key=key)
                ns = secs * 10**9 if isinstance(secs, int) else int(round(secs * 1e9))
                assert p.frame[4:] == _want("call_later", rid, ns, 0, want), (rid, kw)
                assert p.retry == ("channel" in kw)
        await ev.close()
    run(main())


def test_handle_id_is_read_without_decoding(run):
    """A handle made from the reply's bytes tells its id without building
    the Scheduled (every varint length of a uint64), and the same id as
    protobuf's parse; a body in another layout is parsed for it."""
    rng = random.Random(SEED + 3)

    async def main():
        ev = evd.Client("/nonexistent")
        ev._next_id = 20000  # three-byte ids: the reader's usual path
        ids = [0, 1, 127, 128, 2**14, 2**21 + 3, 2**35, 2**63 - 1, 2**64 - 1] + \
            [rng.randrange(2**rng.randrange(1, 64)) for _ in range(200)]
        frames, futs = [], []
        for tid in ids:
            rid = ev._next_id
            futs.append(ev.call_later(60, channel="c"))
            r = pb.Reply(request_id=rid)
            r.scheduled.timer_id = tid
            r.scheduled.deadline_ns = rng.randrange(2**62)
            b = r.SerializeToString()
            frames.append(len(b).to_bytes(4, "big") + b)
        ev._feed(b"".join(frames))
        for tid, f in zip(ids, futs):
            h = f.result()
            assert h.id == tid
            assert h._sc.__class__ is bytes  # not decoded by id
            assert h.scheduled.timer_id == tid and h.id == tid
        # timer_id not first: the id comes from protobuf's parse.
        h = evd.TimerHandle(ev, None, True, None, b"\x18\x05\x08\x07")
        assert h.id == 7
        h = evd.TimerHandle(ev, None, True, None, b"\x18\x05")
        assert h.id == 0
        await ev.close()
    run(main())


def test_reply_to_a_cancelled_future_is_dropped(run):
    """A caller may cancel a schedule's future before its reply: the
    reply is consumed, the connection stays up and later replies still
    resolve theirs, on the usual path and the general one."""
    async def main():
        ev = evd.Client("/nonexistent")
        for start in (5, 20000):
            ev._next_id = start
            futs = [ev.call_later(60, channel="c") for _ in range(3)]
            futs[1].cancel()
            data = b""
            for i in range(3):
                r = pb.Reply(request_id=start + i)
                r.scheduled.timer_id = 100 + i
                b = r.SerializeToString()
                data += len(b).to_bytes(4, "big") + b
            ev._feed(data)
            assert not ev.closed and not ev._pending and ev._rest == b""
            assert futs[0].result().id == 100 and futs[2].result().id == 102
            assert futs[1].cancelled()
        await ev.close()
    run(main())


def test_stats_carry_the_cluster_node_only_in_cluster_mode() -> None:
    """A single node's Stats have cluster None; a cluster node's have
    every field of ClusterStats, converted from the reply."""
    from evd._types import conv_stats
    m = pb.StatsReply(pending_timers=3)
    s = conv_stats(m)
    assert s.pending_timers == 3 and s.cluster is None
    m.cluster.node = "7"
    m.cluster.lease_live = True
    m.cluster.claims_held = 90
    m.cluster.fence_losses = 2
    m.cluster.db_rtt_p99_ns = 1500000
    s = conv_stats(m)
    assert isinstance(s.cluster, evd.ClusterStats)
    assert (s.cluster.node, s.cluster.lease_live, s.cluster.claims_held,
            s.cluster.fence_losses, s.cluster.db_rtt_p99_ns) == \
        ("7", True, 90, 2, 1500000)
    # Every field the proto has is in the dataclass, and none else.
    assert set(evd.ClusterStats.__dataclass_fields__) == \
        {f.name for f in pb.ClusterStats.DESCRIPTOR.fields}


@pytest.mark.parametrize("reconnect", [False, True])
def test_pipeline_frames_match_protobuf_and_replies_land_by_position(run, reconnect):
    """A pipeline's frames are protobuf's byte for byte (its own queueing
    shortcut, the fast path's shapes, keys generated under reconnection,
    other requests), over request ids of 1 to 5 varint bytes; its replies,
    cut at random points and in layouts for every reader path (the hand
    path, _feed_frame's, protobuf's), each land at their request's
    position, error replies as the single call's exception."""
    rng = random.Random(SEED + 3 + reconnect)

    async def main():
        ev = evd.Client("/nonexistent", reconnect=reconnect)
        for start in (1, 120, 16370, 2**21 - 20, 2**28 + 5):
            ev._next_id = start
            p = ev.pipeline()
            want = []
            for i in range(300):
                if rng.random() < 0.1:
                    p.get(1000 + i)
                    want.append(("get", 1000 + i, None, None, None))
                    continue
                kind = rng.choice(["call_soon", "call_later", "call_later", "call_at"])
                kw = {}
                if rng.random() < 0.8:
                    kw["channel"] = rng.choice(["bench", "jobs", "c" * rng.randrange(1, 150)])
                r = rng.random()
                if r < 0.5:
                    kw["payload"] = b"job"
                elif r < 0.7:
                    kw["payload"] = "p\u00e9" * rng.choice([0, 1, 63, 64, 100])
                elif r < 0.8:
                    kw["payload"] = bytearray(b"x" * rng.choice([0, 127, 128]))
                if rng.random() < 0.2:
                    kw["key"] = "k" * rng.choice([0, 1, 126, 127, 128, 300])
                secs = rng.choice([3600, 3600, 1, 0.5, 12345.678])
                clock = evd.Clock.MONOTONIC
                if kind == "call_soon":
                    p.call_soon(**kw)
                    ns = None
                elif kind == "call_later":
                    clock = rng.choice([evd.Clock.MONOTONIC, evd.Clock.BOOTTIME])
                    p.call_later(secs, clock=clock, **kw)
                    ns = secs * 10**9 if isinstance(secs, int) else int(round(secs * 1e9))
                else:
                    p.call_at(secs, **kw)
                    ns = secs * 10**9 if isinstance(secs, int) else int(round(secs * 1e9))
                if reconnect and "channel" in kw and "key" not in kw:
                    kw["key"] = f"{ev._key_prefix}-{ev._key_counter}"
                want.append((kind, ns, kw, "channel" in kw, clock))
            task = asyncio.ensure_future(p.execute(raise_on_error=False))
            await asyncio.sleep(0)
            frames = ev._unsent[-300:]  # never connected: never written
            for i, (frame, w) in enumerate(zip(frames, want)):
                rid = start + i
                assert int.from_bytes(frame[:4], "big") == len(frame) - 4
                if w[0] == "get":
                    req = pb.Request(request_id=rid)
                    req.get.timer_id = w[1]
                    assert frame[4:] == req.SerializeToString()
                else:
                    assert frame[4:] == _want(w[0], rid, w[1], w[4], w[2]), (rid, w)
            # The replies: Scheduled (some in layouts off the hand path),
            # TimerInfo or NotFound for the gets.
            out = []
            for i, w in enumerate(want):
                rid = start + i
                r = pb.Reply(request_id=rid)
                if w[0] == "get":
                    if i % 2:
                        r.error.code = evd.ErrorCode.NOT_FOUND
                        r.error.message = f"no timer {w[1]}"
                    else:
                        r.timer.timer_id = w[1]
                    b = r.SerializeToString()
                else:
                    s = pb.Scheduled(timer_id=rid * 3, deadline_ns=rng.randrange(2**62))
                    r.scheduled.CopyFrom(s)
                    b = r.SerializeToString()
                    if rng.random() < 0.2:  # scheduled first, request_id last
                        sb = s.SerializeToString()
                        b = b"\x62" + bytes([len(sb)]) + sb + b"\x08" + _client._uvarint(rid)
                out.append(len(b).to_bytes(4, "big") + b)
            data = b"".join(out)
            off = 0
            while off < len(data):
                step = rng.choice([1, 3, 7, 31, 64, 1000, 20000])
                ev._feed(data[off:off + step])
                off += step
            res = await asyncio.wait_for(task, 5)
            assert not ev._pending and len(res) == 300
            for i, (w, x) in enumerate(zip(want, res)):
                if w[0] == "get":
                    if i % 2:
                        assert type(x) is evd.NotFound and x.message == f"no timer {w[1]}"
                    else:
                        assert isinstance(x, evd.TimerInfo) and x.timer_id == w[1]
                else:
                    assert isinstance(x, evd.TimerHandle) and x.id == (start + i) * 3
                    assert x.durable == w[3]
                    if not w[3]:
                        assert ev._handles[x.id] is x  # a caller timer, registered
        await ev.close()
    run(main())
