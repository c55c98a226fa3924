"""The asyncio client: one connection, pipelined requests, events routed
to timer handles and subscriptions, optional reconnection.

Ownership and invariants:
- A Client belongs to the event loop it was connected on; every method
  (and TimerHandle.cancel()) must be called from that loop's thread. No
  thread is started.
- Requests are framed (4-byte big-endian length + protobuf Request) into
  ``_unsent`` and written once per loop iteration (``_flush``), so that
  many requests in flight cost one write. Every request carries a unique
  request_id; ``_pending`` maps it to its waiter until the reply (the
  daemon answers in request order, but we match by id anyway). A request
  is written once its id is below ``_sent_below``.
- Replies are read by an asyncio.Protocol (no reader task, no
  StreamReader copy) and dispatched synchronously in data_received, frame
  by frame, so a hook run on a reply (Wait registering for its
  ExecFinished event, a scheduling reply creating its TimerHandle,
  Subscribe learning the channel's canonical name) happens before the
  next frame is looked at.
- The hot path is encoded and framed by hand, for its cost: the
  scheduling requests without exec or options (_fast_schedule, one join
  of cached per-shape parts), and the Scheduled reply in its canonical
  layout (_feed, which reads the request id and the body's bounds from
  one unpack of the header), whose body the TimerHandle keeps and parses
  on first use (_decode_scheduled; its id alone is read without it).
  Every other frame goes through the generated bindings; tests compare
  both. Its cost is counted in bytecodes and in CPython 3.11's
  specialisations (int +, - and * are cheap, &, | and << are not; a
  comparison whose jump needs EXTENDED_ARG stays generic), which is why
  _feed's loop is short and its rare cases live in _feed_frame.
- A Pipeline's requests (see _pipeline.py) take consecutive ids that all
  map to one _Batch in ``_pending``: the reader stores each reply's
  result at its index and resolves the batch's one future with the last,
  so a batch costs no future, _Pending or callback per request.
- Loss of the connection: without reconnection every waiter fails with
  ConnectionLost and the client is closed. With it, requests safe to
  repeat (reads, Subscribe, Unsubscribe, durable schedules, which then always carry an
  idempotency key) and requests never written are kept and sent again on
  the next connection after Hello and the re-subscriptions; every other
  request written fails with ConnectionLost (it may have taken effect).
  Caller timers died with the connection: their handles fail with
  TimersLost and on_event/logging says so.
"""
from __future__ import annotations

import asyncio
import collections
import datetime
import logging
import os
import pwd
import random
import struct
import time as _time
from typing import (TYPE_CHECKING, Any, AsyncIterator, Callable, Deque, Dict, Generator,
                    List, Optional, Sequence, Union)

from google.protobuf.message import DecodeError

from . import evd_pb2 as pb
from ._errors import (ConnectionLost, Error, NotFound, ProtocolError,
                      TimersLost, UnsupportedVersion, from_code)
from ._types import (ChannelInfo, Clock, ConnectionEvent, DeadList, Delivery,
                     Downtime, DstGap, DstOverlap, ErrorCode, Exec, Fired,
                     Misfire, Overlap, Rejected, Run, Scheduled, ServerInfo, Stats,
                     TimeInfo, TimerInfo, TimerList, TimerState, conv_channel,
                     conv_fired, conv_run, conv_scheduled, conv_stats,
                     conv_time, conv_timer, enum_value)

__all__ = ["Client", "TimerHandle", "Subscription", "Message", "connect",
           "default_socket", "PROTOCOL_VERSION"]

log = logging.getLogger("evd")

PROTOCOL_VERSION = 1
FRAME_MAX = 1 << 20  # the daemon's default max_frame
_HDR = struct.Struct(">I")
# A reply's first ten bytes: length, then (a Scheduled reply to a request
# id of three varint bytes) the id's key, the id, the body's key and length.
_HDR10 = struct.Struct(">IBBBBBB")

_Number = Union[int, float]

if TYPE_CHECKING:
    from ._pipeline import Pipeline


def _uvarint(n: int) -> bytes:
    """A protobuf varint (negative int64 as its 10-byte two's complement)."""
    if 0 <= n < 0x80:
        return _SMALL[n]
    if 0 < n < 0x4000:  # request ids, lengths: no loop
        return bytes(((n & 0x7F) | 0x80, n >> 7))
    if 0 < n < 0x200000:
        return bytes(((n & 0x7F) | 0x80, ((n >> 7) & 0x7F) | 0x80, n >> 14))
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = [bytes((i,)) for i in range(0x80)]
_parse_scheduled = pb.Scheduled.FromString


def _decode_scheduled(b: bytes) -> Scheduled:
    """A Scheduled message's bytes (a handle's, on first use). protobuf's
    parser, not a hand-written one: for a message of five varints it is
    the faster of the two, 3-4x."""
    try:
        return conv_scheduled(_parse_scheduled(b))
    except DecodeError as e:
        raise ProtocolError(f"the daemon sent a bad Scheduled reply: {e}") from None


_CONT = [bytes((i | 0x80,)) for i in range(0x80)]  # a varint's non-final byte
_SHAPES: Dict[tuple, tuple] = {}
_SHAPES_MAX = 4096
# Request body keys (field << 3 | length-delimited) of the scheduling calls
# the fast path encodes: call_soon 11, call_later 12, call_at 13.
_TAG_SOON, _TAG_LATER, _TAG_AT = b"\x5a", b"\x62", b"\x6a"


def _body(ns: Optional[int], clock: int, channel: Optional[str], payload: bytes,
          n: int, key: Optional[str]) -> bytes:
    """A CallSoon (ns None) or CallLater/CallAt body with a callback (a
    channel or none, a payload unless n < 0) and an optional key, after
    its length."""
    cb = b""
    if channel is not None:
        c = channel.encode()
        cb = b"\x0a" + _uvarint(len(c)) + c
    if n >= 0:
        cb += b"\x12" + _uvarint(n) + payload
    if ns is None:  # CallSoon: callback 1, key 2
        body = b"\x0a" + _uvarint(len(cb)) + cb
        ktag = b"\x12"
    else:  # CallLater/CallAt: when 1, clock 2, callback 3, key 4
        body = (b"\x08" + _uvarint(ns) + b"\x10" + _SMALL[clock] +
                b"\x1a" + _uvarint(len(cb)) + cb)
        ktag = b"\x22"
    if key is not None:
        k = key.encode()
        body += ktag + _uvarint(len(k)) + k
    return _uvarint(len(body)) + body


def _shape(tag: bytes, ns: Optional[int], clock: int, channel: Optional[str],
           n: int, k: Optional[int]) -> Optional[tuple]:
    """For a request whose payload (n bytes; -1: none) and key (k bytes;
    None: none) are each under 128 bytes: the frame's parts that depend
    only on these arguments, (mid, ktail, head1, head2, head3, head4). The
    frame is then headL + the request id's varint of L bytes + mid +
    payload, then ktail + key when there is one. Remembered up to a bound
    (call_at's deadlines vary) under the key _fast_schedule looks up.
    None for a longer payload or key."""
    if n >= 0x80 or k is not None and k >= 0x80:
        return None
    # The body with placeholders of n and k bytes, which are cut out.
    pad = n if n > 0 else 0
    full = tag + _body(ns, clock, channel, b"\0" * pad, n, None if k is None else "\0" * k)
    kend = len(full) - (k or 0)  # where the key starts
    ktail = b"" if k is None else full[kend - 2:kend]  # its tag and length
    mid = full[:kend - len(ktail) - pad]
    sh = (mid, ktail) + tuple(_HDR.pack(1 + L + len(full)) + b"\x08" for L in (1, 2, 3, 4))
    if len(_SHAPES) < _SHAPES_MAX and (channel is None or channel.__class__ is str):
        _SHAPES[(tag, ns, clock, channel, n) if k is None
                else (tag, ns, clock, channel, n, k)] = sh
    return sh


_join = b"".join


def default_socket() -> str:
    """The socket evctl and libevclient use: $EVD_SOCKET; else, for a user
    other than root, $XDG_RUNTIME_DIR/evd.sock; else /run/evd/evd.sock."""
    env = os.environ.get("EVD_SOCKET")
    if env:
        return env
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if os.geteuid() != 0 and xdg:
        return os.path.join(xdg, "evd.sock")
    return "/run/evd/evd.sock"


def _ns(seconds: _Number, what: str) -> int:
    if seconds.__class__ is int:
        return seconds * 1_000_000_000  # type: ignore[operator]
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{what}: seconds as int or float, not {type(seconds).__name__}")
    return int(round(seconds * 1_000_000_000))


def _self_user() -> Optional[str]:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return None


# Keyword options every scheduling call takes (see Client.call_later).
_OPTION_NAMES = frozenset({
    "misfire", "delivery", "max_attempts", "downtime", "every", "count",
    "dst_gap", "dst_overlap", "overlap", "randomized_delay", "accuracy"})


def _fill_exec(m: Any, e: Union[Exec, Sequence[str]]) -> None:
    if isinstance(e, str):
        raise TypeError("exec: a list of arguments (or evd.Exec), not a string; "
                        "use Exec([cmd], shell=True) for a shell command")
    if not isinstance(e, Exec):
        e = Exec(argv=list(e))
    if not e.argv:
        raise ValueError("exec hook without argv")
    if e.shell and len(e.argv) != 1:
        raise ValueError("a shell exec hook has one argv element, the command, "
                         f"not {len(e.argv)}")
    m.argv.extend(e.argv)
    if e.shell:
        m.shell = True
    if isinstance(e.env, dict):
        m.env.extend(f"{k}={v}" for k, v in e.env.items())
    else:
        m.env.extend(e.env)
    if e.cwd is not None:
        m.cwd = e.cwd
    if e.timeout is not None:
        m.timeout_ns = _ns(e.timeout, "exec timeout")
    user = e.user if e.user is not None else _self_user()
    if user:
        m.user = user
    m.properties.extend(e.properties)
    if e.retry:
        m.retry = e.retry
    if e.retry_delay is not None:
        m.retry_delay_ns = _ns(e.retry_delay, "exec retry_delay")
    if e.on_failure is not None:
        m.on_failure = e.on_failure


def _fill_options(m: Any, opts: Dict[str, Any]) -> bool:
    """TimerOptions from keyword options; False when none was given."""
    bad = set(opts) - _OPTION_NAMES
    if bad:
        raise TypeError(f"unknown option(s): {', '.join(sorted(bad))}")
    given = {k: v for k, v in opts.items() if v is not None}
    if not given:
        return False
    if "misfire" in given:
        m.misfire = enum_value(Misfire, given["misfire"])
    if "delivery" in given:
        m.delivery = enum_value(Delivery, given["delivery"])
    if "max_attempts" in given:
        m.max_attempts = given["max_attempts"]
    if "downtime" in given:
        m.downtime = enum_value(Downtime, given["downtime"])
    if "overlap" in given:
        m.overlap = enum_value(Overlap, given["overlap"])
    if "randomized_delay" in given:
        m.randomized_delay_ns = _ns(given["randomized_delay"], "randomized_delay")
    if "accuracy" in given:
        m.accuracy_ns = _ns(given["accuracy"], "accuracy")
    if given.keys() & {"every", "count", "dst_gap", "dst_overlap"}:
        r = m.repeat
        r.SetInParent()
        if "every" in given:
            r.every_ns = _ns(given["every"], "every")
        if "count" in given:
            r.count = given["count"]
        if "dst_gap" in given:
            r.dst_gap = enum_value(DstGap, given["dst_gap"])
        if "dst_overlap" in given:
            r.dst_overlap = enum_value(DstOverlap, given["dst_overlap"])
    return True


class _Pending:
    """A request in flight: its frame (kept for a resend), its waiter,
    whether it may be repeated on a new connection, and an optional hook
    the reader runs on the reply before the next frame: its return value
    (or the Error it raises) is what the waiter gets instead of the
    reply. Whether it was written is told by its id (Client._sent_below),
    not stored: one attribute less to set per request."""

    __slots__ = ("fut", "frame", "retry", "hook", "durable", "callback")

    def __init__(self, fut: "asyncio.Future[Any]", frame: bytes, retry: bool,
                 hook: Any, durable: bool = False,
                 callback: Optional[Callable[[Fired], Any]] = None) -> None:
        self.fut = fut
        self.frame = frame
        self.retry = retry
        self.hook = hook  # a callable, _SCHED, or None
        # _SCHED's arguments: kept here rather than in a closure per
        # request, which (with its cells) the garbage collector would scan.
        self.durable = durable
        self.callback = callback


_SCHED = object()  # the hook of _fast_schedule's requests: Client._on_scheduled
# A durable _fast_schedule request's (see _Batch.items and _on_scheduled).
_DURABLE = _Pending(None, b"", True, _SCHED, True)  # type: ignore[arg-type]


class _Batch:
    """A Pipeline's requests in flight: ids base to base + n - 1, each of
    which maps to this one object in Client._pending, and one future for
    all their results (the list, in request order). The reader puts each
    reply's result (or its Error) at its index; the last one resolves the
    future. items[i]: None for a durable _fast_schedule request (the
    usual one; items is None when all are), else a _Pending whose fut is
    unused (its retry, hook, durable and callback are). frames[i] is
    request i's frame, kept for a resend. first_error: the lowest index
    whose result is an exception, or -1."""

    __slots__ = ("fut", "base", "items", "frames", "results", "left", "first_error")

    def __init__(self, fut: "asyncio.Future[Any]", base: int, items: Optional[List[Any]],
                 frames: List[bytes]) -> None:
        self.fut = fut
        self.base = base
        self.items = items
        self.frames = frames
        n = len(frames)
        self.results: List[Any] = [None] * n
        self.left = n
        self.first_error = -1

    def item(self, rid: int) -> Any:
        return _DURABLE if self.items is None else (self.items[rid - self.base] or _DURABLE)

    def put(self, rid: int, val: Any) -> None:
        i = rid - self.base
        self.results[i] = val
        if isinstance(val, BaseException) and (self.first_error < 0 or i < self.first_error):
            self.first_error = i
        self.left -= 1
        if not self.left and not self.fut.done():
            self.fut.set_result(self.results)

# What Client._r_* return (see there): (request without its id, the reply
# body expected, retry, conversion of that body, reader hook or None).
_Spec = tuple


def _none(m: Any) -> None:
    return None


def _conv_timer_list(m: Any) -> TimerList:
    return TimerList([conv_timer(t) for t in m.timers], m.next_after_id)


def _conv_dead_list(m: Any) -> DeadList:
    return DeadList([conv_fired(f) for f in m.messages], m.next_after_fire_id)


def _conv_count(m: Any) -> int:
    return int(m.count)


def _conv_acked(m: Any) -> Optional[Scheduled]:
    return conv_scheduled(m.rescheduled) if m.HasField("rescheduled") else None


def _conv_rejected(m: Any) -> Rejected:
    return Rejected(m.fire_id, m.dead, m.redeliver_in_ns)


class _Protocol(asyncio.Protocol):
    """The connection's reading side: hands what it reads to its client
    (while it is the client's current connection)."""

    def __init__(self, client: "Client") -> None:
        self._client = client
        self.closed: asyncio.Future[None] = client._loop.create_future()

    def data_received(self, data: bytes) -> None:
        if self._client._proto is self:
            self._client._feed(data)

    def eof_received(self) -> None:
        return None  # the transport closes; connection_lost follows

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        self._client._conn_lost(self, exc)


def _swallow(fut: "asyncio.Future[Any]") -> None:
    # For fire-and-forget requests (TimerHandle.cancel()): an unretrieved
    # exception is not an error worth a log line at garbage collection.
    if not fut.cancelled():
        fut.exception()


class TimerHandle:
    """A scheduled timer, like asyncio.TimerHandle.

    ``h.cancel()`` sends Cancel at once and returns (like
    TimerHandle.cancel()); ``await h.cancelled()`` tells whether the timer
    ended cancelled. ``await h`` waits until the timer's fire is done (a
    Wait request) and returns its Run. For a caller timer (no channel, no
    exec) ``await h.fired()`` returns the Fired event itself, and the
    call's ``callback`` runs on each fire.
    """

    # _fired and _cancel_fut are set on first use (read with getattr): a
    # handle the reader makes for a durable schedule sets only _client,
    # _sc and durable, three stores instead of __init__'s call.
    __slots__ = ("_client", "_sc", "durable", "_fired", "_callback",
                 "_cancel_fut", "_repeating", "__weakref__")

    def __init__(self, client: "Client", scheduled: Optional[Scheduled], durable: bool,
                 callback: Optional[Callable[[Fired], Any]],
                 raw: Optional[bytes] = None) -> None:
        self._client = client
        # The Scheduled reply, or (from the reader's fast path) its
        # protobuf body, decoded on first use: most handles of pipelined
        # schedules are never looked at.
        self._sc: Union[Scheduled, bytes] = scheduled if scheduled is not None \
            else raw  # type: ignore[assignment]
        self.durable = durable
        self._callback = callback
        self._repeating = False  # a repeating caller timer fires again

    @property
    def scheduled(self) -> Scheduled:
        """The daemon's reply to the scheduling request."""
        sc = self._sc
        if sc.__class__ is bytes:
            sc = self._sc = _decode_scheduled(sc)  # type: ignore[arg-type]
        return sc  # type: ignore[return-value]

    @property
    def id(self) -> int:
        """The daemon's timer id."""
        b = self._sc
        if b.__class__ is not bytes:
            return b.timer_id  # type: ignore[union-attr]
        # Undecoded: the daemon writes timer_id first (field 1, a
        # varint); read it alone rather than building the Scheduled.
        # (+, - and * only: the int operations CPython 3.11 specialises.)
        n = len(b)
        if n > 1 and b[0] == 0x08:  # type: ignore[index]
            v = b[1]  # type: ignore[index]
            if v < 0x80:
                return v  # type: ignore[no-any-return]
            v -= 0x80
            m = 0x80
            i = 2
            if n > 11:
                n = 11
            while i < n:
                c = b[i]  # type: ignore[index]
                if c < 0x80:
                    return v + c * m  # type: ignore[no-any-return]
                v += (c - 0x80) * m
                m *= 0x80
                i += 1
        return self.scheduled.timer_id

    @property
    def existing(self) -> bool:
        """The key matched a timer that already existed."""
        return self.scheduled.existing

    def when(self) -> float:
        """The deadline in seconds on the timer's clock (for a monotonic
        timer: comparable with Client.time(), as asyncio's when())."""
        return self.scheduled.deadline_ns / 1e9

    def cancel(self) -> None:
        """Cancels the timer: sends Cancel without waiting for the reply
        (await cancelled() for it). Idempotent on this handle."""
        if getattr(self, "_cancel_fut", None) is None:
            self._cancel_fut = self._client._submit_cancel(self.id)
            self._cancel_fut.add_done_callback(_swallow)

    async def cancelled(self) -> bool:
        """True when the timer ended cancelled (by cancel() or otherwise);
        after cancel(), waits for its reply."""
        fut = getattr(self, "_cancel_fut", None)
        if fut is not None:
            try:
                await asyncio.shield(fut)
                return True
            except NotFound:
                pass
        info = await self._client.get(self.id)
        return info.state == TimerState.CANCELLED

    def fired(self) -> "asyncio.Future[Fired]":
        """A future for this caller timer's (first) Fired event. It fails
        with TimersLost if the connection is lost first."""
        fut = getattr(self, "_fired", None)
        if fut is None:
            fut = self._fired = self._client._loop.create_future()
        return fut

    def __await__(self) -> Generator[Any, None, Run]:
        return self._client.wait(self.id).__await__()

    def __repr__(self) -> str:
        return f"<evd.TimerHandle id={self.id} deadline_ns={self.scheduled.deadline_ns}>"

    # -- the client's side --
    def _on_fired(self, ev: Fired) -> None:
        fut = self.fired()
        if not fut.done():
            fut.set_result(ev)
        if self._callback is not None:
            try:
                self._callback(ev)
            except Exception:  # like asyncio's loop: report, go on
                log.exception("evd: callback of timer %d raised", self.id)

    def _on_lost(self, exc: BaseException) -> None:
        fut = self.fired()
        if not fut.done():
            fut.set_exception(exc)
            fut.add_done_callback(_swallow)


_new_handle = object.__new__  # (see TimerHandle.__slots__)
_Future = asyncio.Future  # what Client._future makes on the usual loops


class Message(Fired):
    """A channel message delivered to a subscription. Ack it with
    ``await msg.ack()`` once handled, or give it back with ``await
    msg.reject(reason=...)`` when it cannot be; a message neither acked
    nor rejected is redelivered after the subscription's visibility
    timeout (at-least-once). ``msg.attempt`` counts deliveries and
    ``msg.reason`` says why the previous one failed (None on the
    first)."""

    __slots__ = ()
    _client: "Client"

    async def ack(self, *, reschedule_delay: Optional[_Number] = None,
                  reschedule_at: Union[None, _Number, datetime.datetime] = None
                  ) -> Optional[Scheduled]:
        """Acks the message; with reschedule_delay (seconds from now,
        monotonic) or reschedule_at (a wall-clock instant: a datetime or
        seconds since the epoch) the timer that fired it is scheduled again
        in the same commit. Returns the new schedule, or None."""
        return await self._client.ack(self.fire_id, reschedule_delay=reschedule_delay,
                                      reschedule_at=reschedule_at)

    async def reject(self, reason: str = "", *, dead_letter: bool = False) -> Rejected:
        """Rejects (nacks) the message: the daemon takes it back at once
        and keeps reason with it (str, at most 4096 bytes of UTF-8). It
        is delivered again after the channel's redelivery backoff (1 s
        doubling per attempt, capped), its next delivery carrying reason
        as ``msg.reason``; or, after max_attempts deliveries or with
        dead_letter=True, it goes to the channel's dead letters (see
        Client.list_dead()). NotFound as ack() (not held unacked here);
        InvalidArgument for a reason that is too long."""
        return await self._client.reject(self.fire_id, reason=reason,
                                         dead_letter=dead_letter)


def _message(client: "Client", m: Any) -> Message:
    f = conv_fired(m)
    msg = Message.__new__(Message)
    msg.__dict__.update(f.__dict__)
    msg._client = client
    return msg


_END = object()


class Subscription:
    """A channel subscription: an async iterator of Messages.

    ``async for msg in ev.subscribe("jobs")`` or ``sub = await
    ev.subscribe("jobs")``. Leaving the ``async for`` loop (break, return,
    an exception) ends the subscription, as do close() and ``await
    sub.aclose()``: the client sends Unsubscribe and the connection, which
    stays open, gets no more of the channel's messages; those it received
    and did not ack or reject yet (delivered, or still queued here) go
    back to the channel's queue at once, for this or another subscriber
    (acking one afterwards is NotFound). To take messages without ending
    the subscription, use get() (or iterate with ``sub.__anext__()``)."""

    def __init__(self, client: "Client", channel: str, visibility: Optional[_Number],
                 max_inflight: Optional[int] = None) -> None:
        self._client = client
        self.requested = channel
        self.channel = channel  # the daemon's name for it once subscribed
        self.visibility = visibility
        self.max_inflight = max_inflight
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._ready: asyncio.Future[None] = client._loop.create_future()
        self._ready.add_done_callback(_swallow)
        self._closed = False
        self._left = False  # close() ran: never registered again

    async def _wait_ready(self) -> "Subscription":
        await asyncio.shield(self._ready)
        return self

    def __await__(self) -> Generator[Any, None, "Subscription"]:
        return self._wait_ready().__await__()

    def __aiter__(self) -> AsyncIterator[Message]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Message]:
        # An async generator, so that leaving the loop closes it (its
        # finaliser runs aclose() on the loop once the loop drops it) and
        # the subscription ends with it.
        try:
            while True:
                try:
                    msg = await self.__anext__()
                except StopAsyncIteration:
                    return
                yield msg
        finally:
            self.close()

    async def __anext__(self) -> Message:
        if self._closed:
            raise StopAsyncIteration
        await self._wait_ready()
        item = await self._queue.get()
        if item is _END:
            self._closed = True
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            self._closed = True
            raise item
        return item  # type: ignore[no-any-return]

    async def get(self, timeout: Optional[float] = None) -> Message:
        """The next message (asyncio.TimeoutError after timeout seconds)."""
        return await asyncio.wait_for(self.__anext__(), timeout)

    def close(self) -> None:
        """Ends the subscription (see the class note): stops delivering
        here and sends Unsubscribe without waiting for its answer.
        Idempotent; a no-op once the client is closed."""
        if self._left:
            return
        self._left = True
        self._client._unsubscribe(self)
        self._end(_END)

    async def aclose(self) -> None:
        """close(), then waits until the daemon has ended the
        subscription (its unacked messages are back in the queue)."""
        fut = None if self._left else self._client._unsubscribe(self)
        self._left = True
        self._end(_END)
        if fut is not None:
            await asyncio.shield(fut)

    def _end(self, item: Any) -> None:
        if not self._ready.done():
            self._ready.set_exception(item if isinstance(item, BaseException)
                                      else ConnectionLost("subscription closed"))
        self._queue.put_nowait(item)


class Client:
    """A connection to evd. Make one with ``evd.connect()``.

    All scheduling calls return a TimerHandle once the daemon answered
    (durable requests: once committed). Requests may be issued from many
    tasks at once; they are pipelined on this one connection.
    """

    # Slots, for the hot path's attribute reads and writes: CPython 3.11
    # keeps at most 29 or so attributes of an instance out of a dict, and
    # past that every self.x on the hot path is a dict lookup. __dict__
    # still takes any other attribute (a caller's own, say).
    __slots__ = ("path", "name", "_loop", "_reconnect", "_on_event", "_plain_futures",
                 "_transport", "_proto", "_rest", "_handshake", "_reconnect_task",
                 "_next_id", "_sent_below", "_pending", "_unsent", "_flush_handle",
                 "_connected", "_closed", "_close_exc", "_proto_error", "_handles",
                 "_early", "_waits", "_subs", "_rid_block", "_key_prefix", "_key_counter",
                 "_mono_offset_ns", "server", "reconnects", "__dict__", "__weakref__")

    def __init__(self, path: str, *, name: str = "evd-python",
                 reconnect: Union[bool, tuple] = False,
                 on_event: Optional[Callable[[ConnectionEvent], Any]] = None) -> None:
        self.path = path
        self.name = name
        self._loop = asyncio.get_running_loop()
        if reconnect is True:
            reconnect = (0.1, 5.0)
        self._reconnect: Optional[tuple] = tuple(reconnect) if reconnect else None
        self._on_event = on_event
        # Futures: the loop's own when it makes something else than
        # asyncio.Future (both the default loop and uvloop make exactly
        # that, and the constructor costs half of create_future()).
        self._plain_futures = self._loop.create_future().__class__ is asyncio.Future
        self._transport: Optional[asyncio.Transport] = None
        self._proto: Optional[_Protocol] = None
        self._rest = b""  # the start of a frame not complete yet
        self._handshake: Optional[asyncio.Queue[Any]] = None  # frames while in _hello
        self._reconnect_task: Optional[asyncio.Task[None]] = None
        self._next_id = 1
        self._sent_below = 1  # requests with a lower id were written
        # By request id: a _Pending, or for a durable schedule of a client
        # without reconnection (never resent, no hook but _SCHED, no
        # callback) its bare future: one object less per request.
        self._pending: Dict[int, Any] = {}
        self._unsent: List[bytes] = []  # frames not written yet
        self._flush_handle: Optional[asyncio.Handle] = None
        self._connected = False
        self._closed = False
        self._close_exc: Optional[BaseException] = None
        self._proto_error: Optional[Error] = None
        self._handles: Dict[int, TimerHandle] = {}  # caller timers alive
        self._early: Dict[int, List[Fired]] = {}  # Fired before its Scheduled
        self._waits: Dict[int, Deque["asyncio.Future[Any]"]] = {}
        self._subs: Dict[str, Subscription] = {}
        # (see _rid_frame; no id is in this block)
        self._rid_block: tuple = (-0x100, 0, b"")
        self._key_prefix = "py-" + os.urandom(16).hex()
        self._key_counter = 0
        self._mono_offset_ns = 0
        self.server: Optional[ServerInfo] = None
        self.reconnects = 0

    # ---- connecting ----

    async def _open(self, timeout: Optional[float]) -> None:
        async def go() -> None:
            proto = _Protocol(self)
            self._proto = proto
            self._rest = b""
            self._handshake = asyncio.Queue()
            transport: Any = None
            try:
                transport, _ = await self._loop.create_unix_connection(
                    lambda: proto, self.path)
                await self._hello(transport)
            except BaseException:
                if transport is not None:
                    transport.close()
                raise
            finally:
                self._handshake = None
            # In the same step as the handshake's end: every frame read
            # from now on is dispatched.
            self._transport = transport
            self._connected = True
        await asyncio.wait_for(go(), timeout)

    async def _hello(self, transport: asyncio.Transport) -> None:
        """Hello, then one Time request to learn the daemon's monotonic
        clock (both before anything else is sent or dispatched)."""
        req = pb.Request(request_id=self._take_id())
        req.hello.protocol_version = PROTOCOL_VERSION
        req.hello.client_name = self.name
        rep = await self._raw_call(transport, req)
        if rep.WhichOneof("body") == "error":
            raise from_code(rep.error.code, rep.error.message)
        w = rep.welcome
        if w.HasField("protocol_version") and w.protocol_version != PROTOCOL_VERSION:
            raise UnsupportedVersion(f"the daemon speaks protocol version "
                                     f"{w.protocol_version}, this client {PROTOCOL_VERSION}")
        self.server = ServerInfo(w.protocol_version or PROTOCOL_VERSION, w.server_version,
                                 w.monotonic_now_ns, w.realtime_now_ns, w.boot_id)
        req = pb.Request(request_id=self._take_id())
        req.time.SetInParent()
        t0 = _time.monotonic_ns()
        rep = await self._raw_call(transport, req)
        t1 = _time.monotonic_ns()
        if rep.WhichOneof("body") != "time":
            raise ProtocolError(f"Time answered with {rep.WhichOneof('body')}")
        off = rep.time.monotonic_ns - (t0 + t1) // 2
        # Same clock (the usual case: same machine, same time namespace):
        # the offset is below the measurement's error; keep it exact.
        self._mono_offset_ns = 0 if abs(off) <= (t1 - t0) // 2 + 1000 else off

    async def _raw_call(self, transport: asyncio.Transport, req: Any) -> Any:
        data = req.SerializeToString()
        transport.write(_HDR.pack(len(data)) + data)
        q = self._handshake
        assert q is not None
        while True:
            frame = await q.get()
            if isinstance(frame, BaseException):
                raise frame
            rep = pb.Reply.FromString(frame)
            if not rep.HasField("request_id"):
                if rep.WhichOneof("body") == "error":
                    raise from_code(rep.error.code, rep.error.message)
                continue  # no events can be ours yet
            if rep.request_id == req.request_id:
                return rep

    def _take_id(self) -> int:
        rid = self._next_id
        self._next_id += 1
        return rid

    # ---- sending ----

    def _check_open(self) -> None:
        if self._closed:
            raise self._close_exc or ConnectionLost("the client is closed")

    def _future(self) -> "asyncio.Future[Any]":
        if self._plain_futures:
            return asyncio.Future(loop=self._loop)
        return self._loop.create_future()

    def _submit(self, req: Any, retry: bool = False,
                hook: Optional[Callable[[Any], Any]] = None) -> "asyncio.Future[Any]":
        self._check_open()
        rid = self._next_id
        self._next_id = rid + 1
        req.request_id = rid
        data = req.SerializeToString()
        fut = self._future()
        frame = _HDR.pack(len(data)) + data
        self._pending[rid] = _Pending(fut, frame, retry, hook)
        self._unsent.append(frame)
        if self._flush_handle is None and self._connected:
            self._flush_handle = self._loop.call_soon(self._flush)
        return fut

    def _flush(self) -> None:
        self._flush_handle = None
        if not self._connected or not self._unsent or self._transport is None:
            return
        batch, self._unsent = self._unsent, []
        self._sent_below = self._next_id
        self._transport.write(b"".join(batch))

    async def _call(self, req: Any, body: str, retry: bool = False,
                    hook: Optional[Callable[[Any], Any]] = None) -> Any:
        rep = await self._submit(req, retry, hook)
        got = rep.WhichOneof("body")
        if got != body:
            raise ProtocolError(f"expected {body} in reply, got {got}")
        return getattr(rep, body)

    # ---- receiving ----

    def _feed(self, chunk: bytes) -> None:
        """What the protocol read: every complete frame is dispatched, the
        rest kept for the next read. A Scheduled reply in its canonical
        layout (request_id, then the scheduled body, nothing else) to a
        _fast_schedule request is handled without protobuf: its handle
        keeps the body's bytes. Any other frame is parsed."""
        # bytes, so that each frame is sliced (copied) once.
        data = self._rest + chunk if self._rest else chunk
        off, end = 0, len(data)
        unpack10 = _HDR10.unpack_from
        pop = self._pending.pop
        new = _new_handle
        futcls = _Future
        try:
            if self._handshake is not None:
                off = end = self._feed_handshake(data)  # the rest is kept
            # The loop is kept short: in CPython 3.11 a comparison is
            # specialised only when its jump needs no EXTENDED_ARG.
            while True:  # (not "while off < end": its test would be unspecialised)
                if off >= end:
                    break
                # The usual frame is read from its first ten bytes as
                # small ints: a Scheduled reply (its body under 128 bytes,
                # nothing after it) to a schedule's request id of three
                # varint bytes (16384 to 2**21 - 1, most of a
                # connection's). Any other goes to _feed_frame.
                if end - off >= 10:
                    n, t, a, b, c, x, bl = unpack10(data, off)
                else:
                    t = 0
                if t != 0x08 or x != 0x62 or bl != n - 6 or bl >= 0x80 or a < 0x80 or \
                        b < 0x80 or c >= 0x80 or n > end - off - 4:
                    o = self._feed_frame(data, off, end)
                    if o < 0:
                        break  # not complete yet
                    off = o
                    continue
                # (a & 0x7F) | (b & 0x7F) << 7 | c << 14, in the operations
                # 3.11 specialises for ints (a, b >= 0x80)
                rid = a + b * 0x80 + c * 0x4000 - 0x4080
                p = pop(rid, None)
                s = off + 10
                if p.__class__ is futcls:  # a bare future (see _pending)
                    off = s + bl
                    h = new(TimerHandle)
                    h._client = self
                    h._sc = data[s:off]
                    h.durable = True
                    try:
                        p.set_result(h)
                    except asyncio.InvalidStateError:
                        pass  # the caller cancelled it
                    continue
                if p.__class__ is _Batch:
                    if p.items is None or p.items[rid - p.base] is None:
                        off = s + bl
                        h = new(TimerHandle)
                        h._client = self
                        h._sc = data[s:off]
                        h.durable = True
                        p.results[rid - p.base] = h
                        p.left -= 1
                        if not p.left and not p.fut.done():
                            p.fut.set_result(p.results)
                        continue
                elif p.__class__ is _Pending:
                    if p.hook is _SCHED:
                        off = s + bl
                        self._scheduled_reply(p, rid, data[s:off])
                        continue
                elif p is not None:  # a bare future of the loop's own class
                    off = s + bl
                    self._scheduled_reply(p, rid, data[s:off])
                    continue
                # Unknown (_feed_frame says so), or another hook's
                if p is not None:
                    self._pending[rid] = p
                off = self._feed_frame(data, off, end)
        except ConnectionLost as e:
            self._rest = b""
            self._lost(e)
            return
        except Error as e:
            self._rest = b""
            self._lost(ConnectionLost(str(e)))
            return
        self._rest = data[off:] if off < len(data) else b""

    def _feed_frame(self, data: bytes, off: int, end: int) -> int:
        """_feed's general path: dispatches the frame at data[off:], and
        returns the offset after it; -1 when it is not complete."""
        if end - off < 4:
            return -1
        n = _HDR.unpack_from(data, off)[0]
        if not 0 < n <= FRAME_MAX:
            raise ProtocolError(f"the daemon sent a frame of {n} bytes")
        s = off + 4
        if end - s < n:
            return -1
        off = s + n
        p = None
        if data[s] == 0x08 and n > 3:  # request_id first: maybe ours
            rid = data[s + 1]
            i = s + 2
            if rid >= 0x80:  # ids of 2 to 4 bytes here (n > 3 covers 3)
                c = data[i]
                rid = (rid & 0x7F) | (c & 0x7F) << 7
                i += 1
                if c >= 0x80:
                    c = data[i]
                    rid |= (c & 0x7F) << 14
                    i += 1
                    if c >= 0x80:
                        c = data[i] if i < off else 0x80
                        rid = rid | c << 21 if c < 0x80 else -1
                        i += 1
            # A Scheduled body (under 128 bytes) and nothing after it.
            if i + 1 < off and data[i] == 0x62 and data[i + 1] + i + 2 == off \
                    and data[i + 1] < 0x80:
                p = self._pending.pop(rid, None)
                if p.__class__ is _Batch:
                    it = p.item(rid)
                    if it.hook is _SCHED:
                        try:
                            h = self._scheduled_handle(it, data[i + 2:off])
                        except Error:
                            self._pending[rid] = p  # it fails with the connection
                            raise
                        p.put(rid, h)
                        return off
                elif p is not None and (p.__class__ is not _Pending or p.hook is _SCHED):
                    self._scheduled_reply(p, rid, data[i + 2:off])
                    return off
                # else: unknown (protobuf's path says so), or another
                # request's hook
        try:
            rep = pb.Reply.FromString(data[s:off])
        except DecodeError as e:
            if p is not None:
                self._pending[rid] = p  # it fails with the connection
            raise ProtocolError(f"the daemon sent a frame that does not parse: {e}")
        self._dispatch(rep, p)
        return off

    def _scheduled_reply(self, p: Any, rid: int, body: bytes) -> None:
        """_feed's end of a _fast_schedule request (p, taken from
        _pending: a bare future or a _Pending) given its Scheduled reply's
        body."""
        if p.__class__ is not _Pending:
            fut = p
            p = None
        else:
            fut = p.fut
        if p is None or p.durable:
            h = _new_handle(TimerHandle)
            h._client = self
            h._sc = body
            h.durable = True
        else:
            try:
                sc = _decode_scheduled(body)
            except Error:
                self._pending[rid] = p  # it fails with the connection
                raise
            h = self._caller_handle(sc, p.callback)
        try:
            fut.set_result(h)
        except asyncio.InvalidStateError:
            pass  # the caller cancelled it

    def _scheduled_handle(self, p: _Pending, body: bytes) -> TimerHandle:
        """The TimerHandle of a _fast_schedule request in a _Batch (p:
        its item) from its Scheduled reply's body."""
        if p.durable:
            h = _new_handle(TimerHandle)
            h._client = self
            h._sc = body
            h.durable = True
            return h
        return self._caller_handle(_decode_scheduled(body), p.callback)

    def _feed_handshake(self, data: bytes) -> int:
        """While in _hello: complete frames go to its queue, undispatched.
        Returns the offset of the first incomplete one."""
        q = self._handshake
        assert q is not None
        off, end = 0, len(data)
        while end - off >= 4:
            n = _HDR.unpack_from(data, off)[0]
            if not 0 < n <= FRAME_MAX:
                raise ProtocolError(f"the daemon sent a frame of {n} bytes")
            if end - off - 4 < n:
                break
            q.put_nowait(data[off + 4:off + 4 + n])
            off += 4 + n
        return off

    def _conn_lost(self, proto: "_Protocol", exc: Optional[BaseException]) -> None:
        """The protocol's connection_lost: the daemon closed the
        connection, or it failed, or we closed it (then nothing to do)."""
        if proto is not self._proto:
            return  # an earlier connection's
        err = ConnectionLost("the daemon closed the connection" if exc is None
                             else f"connection to evd failed: {exc!r}")
        if self._handshake is not None:
            self._handshake.put_nowait(err)
            return
        self._lost(err)

    def _dispatch(self, rep: Any, p: Any = None) -> None:
        """A parsed frame: a reply (p: its pending request when _feed took
        it from _pending already) or an event."""
        body = rep.WhichOneof("body")
        if rep.HasField("request_id"):
            if p is None:
                p = self._pending.pop(rep.request_id, None)
            if p is None:
                raise ProtocolError(f"the daemon answered unknown request {rep.request_id}")
            if p.__class__ is _Batch:
                self._batch_reply(p, rep.request_id, rep, body)
                return
            if p.__class__ is not _Pending:  # a bare future (see _pending)
                p = _Pending(p, b"", False, _SCHED, True)
            if body == "error":
                exc = from_code(rep.error.code, rep.error.message)
                if not p.fut.done():
                    p.fut.set_exception(exc)
                if exc.code == ErrorCode.PROTOCOL:
                    self._proto_error = exc
                return
            hook = p.hook
            if hook is None:
                if not p.fut.done():
                    p.fut.set_result(rep)
                return
            try:
                val = self._on_scheduled(p, rep) if hook is _SCHED else hook(rep)
            except Error as e:
                if not p.fut.done():
                    p.fut.set_exception(e)
                return
            if not p.fut.done():
                p.fut.set_result(val)
            return
        if body == "fired":
            self._on_fired(rep.fired)
        elif body == "exec_finished":
            q = self._waits.get(rep.exec_finished.timer_id)
            if q:
                fut = q.popleft()
                if not q:
                    del self._waits[rep.exec_finished.timer_id]
                if not fut.done():
                    fut.set_result(conv_run(rep.exec_finished.run))
        elif body == "error":
            # Sent before the daemon closes this connection.
            raise from_code(rep.error.code, rep.error.message)

    def _batch_reply(self, b: _Batch, rid: int, rep: Any, body: str) -> None:
        """_dispatch's end of a request of a Pipeline: its result, or the
        exception the single call would raise, goes to its index."""
        it = b.item(rid)
        val: Any
        if body == "error":
            val = from_code(rep.error.code, rep.error.message)
            if val.code == ErrorCode.PROTOCOL:
                self._proto_error = val
        else:
            try:
                val = self._on_scheduled(it, rep) if it.hook is _SCHED else it.hook(rep)
            except Error as e:
                val = e
        b.put(rid, val)

    def _on_fired(self, m: Any) -> None:
        if m.HasField("channel"):
            sub = self._subs.get(m.channel)
            if sub is not None and not sub._closed:
                sub._queue.put_nowait(_message(self, m))
            # else: left unacked; the daemon redelivers it elsewhere later
            return
        ev = conv_fired(m)
        h = self._handles.get(m.timer_id)
        if h is None:
            early = self._early.setdefault(m.timer_id, [])
            early.append(ev)
            if len(self._early) > 10000:  # handles never made: forget old ones
                self._early.pop(next(iter(self._early)))
            return
        self._on_fired_handle(h, ev)

    # ---- losing the connection ----

    def _lost(self, exc: ConnectionLost) -> None:
        if self._closed or not self._connected:
            return
        self._connected = False
        proto = self._proto_error
        if proto is not None:
            exc = ConnectionLost(f"{exc.message}: {proto.message}")
            self._proto_error = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        self._proto = None  # its connection_lost is no news
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        # Caller timers died with the connection.
        lost_ids = sorted(self._handles)
        if lost_ids:
            tl = TimersLost(f"{len(lost_ids)} caller timer(s) died with the lost "
                            f"connection ({exc.message}): they will not fire", lost_ids)
            for h in self._handles.values():
                h._on_lost(tl)
            self._handles.clear()
        self._early.clear()
        for q in self._waits.values():
            for fut in q:
                if not fut.done():
                    fut.set_exception(ConnectionLost(
                        f"the connection to evd was lost while waiting ({exc.message}); "
                        "the wait is not repeated on a new connection"))
        self._waits.clear()
        if self._reconnect is None:
            self._shut(exc)
            self._event(ConnectionEvent("lost", exc.message, lost_ids))
            return
        sent_below = self._sent_below
        for rid, p in list(self._pending.items()):
            # (No bare futures here: a client that reconnects makes none.)
            if p.__class__ is _Batch:
                if rid < sent_below and not p.item(rid).retry:
                    del self._pending[rid]
                    p.put(rid, ConnectionLost(
                        f"the connection to evd was lost before the reply ({exc.message}); "
                        "the request is not repeated because it may have taken effect"))
                continue
            if rid < sent_below and not p.retry:
                del self._pending[rid]
                if not p.fut.done():
                    p.fut.set_exception(ConnectionLost(
                        f"the connection to evd was lost before the reply ({exc.message}); "
                        "the request is not repeated because it may have taken effect"))
        self._event(ConnectionEvent("lost", exc.message, lost_ids))
        self._reconnect_task = self._loop.create_task(self._reconnect_loop())

    def _event(self, ev: ConnectionEvent) -> None:
        if self._on_event is not None:
            try:
                self._on_event(ev)
            except Exception:
                log.exception("evd: on_event raised")
        elif ev.lost_timers or ev.kind != "restored":
            # Never hidden: without a handler, the log says it.
            log.warning("evd: connection %s: %s%s", ev.kind, ev.reason,
                        f" (caller timers lost: {ev.lost_timers})" if ev.lost_timers else "")

    async def _reconnect_loop(self) -> None:
        lo, hi = self._reconnect  # type: ignore[misc]
        backoff = lo
        while not self._closed:
            await asyncio.sleep(backoff * (0.5 + random.random() / 2))
            try:
                await self._open(10.0)
                break
            except asyncio.CancelledError:
                raise
            except (OSError, Error, asyncio.TimeoutError, EOFError,
                    asyncio.IncompleteReadError) as e:
                log.debug("evd: reconnect failed: %r", e)
                backoff = min(backoff * 2, hi)
        if self._closed:
            return
        self.reconnects += 1
        # Re-subscriptions first, then what was kept, in request order.
        kept = [p.frames[rid - p.base] if p.__class__ is _Batch else p.frame
                for rid, p in self._pending.items()]
        self._unsent = []
        for sub in list(self._subs.values()):
            self._subscribe_req(sub, resubscribe=True)
        resubs = self._unsent
        self._unsent = resubs + kept
        self._flush()
        self._event(ConnectionEvent("restored", "reconnected"))

    def _shut(self, exc: BaseException) -> None:
        self._closed = True
        self._close_exc = exc
        for p in self._pending.values():
            fut = p.fut if p.__class__ is _Pending or p.__class__ is _Batch else p
            if not fut.done():
                fut.set_exception(exc)
        self._pending.clear()
        self._unsent.clear()
        for sub in list(self._subs.values()):
            sub._end(exc)
        self._subs.clear()

    async def close(self) -> None:
        """Writes what is queued (a cancel() just made, say) and closes.
        Requests still waiting for replies fail with ConnectionLost."""
        if self._closed:
            return
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
        if self._connected and self._transport is not None:
            self._flush()
        self._connected = False
        self._shut(ConnectionLost("the client is closed"))
        if self._handles:
            tl = TimersLost("the client closed: its caller timers ended",
                            sorted(self._handles))
            for h in self._handles.values():
                h._on_lost(tl)
            self._handles.clear()
        for q in self._waits.values():
            for fut in q:
                if not fut.done():
                    fut.set_exception(ConnectionLost("the client is closed"))
        self._waits.clear()
        proto, transport = self._proto, self._transport
        self._proto = self._transport = None
        if transport is not None:
            transport.close()  # once what is buffered is written
            if proto is not None:
                await asyncio.shield(proto.closed)

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def pipeline(self) -> "Pipeline":
        """A Pipeline on this client: requests queued, then sent in one
        write by ``await p.execute()``, which returns all their results
        in order (redis-py's pipeline()/execute())::

            async with ev.pipeline() as p:
                for i in range(1000):
                    p.call_later(60, channel="jobs", payload=str(i))
                handles = await p.execute()

        Cheaper per request than single calls gathered (one future for
        the whole batch). See evd.Pipeline."""
        from ._pipeline import Pipeline
        return Pipeline(self)

    # ---- time ----

    def time(self) -> float:
        """The daemon's loop.time(): its CLOCK_MONOTONIC in seconds, from
        the local monotonic clock plus the offset measured when connecting
        (0 on the same machine). No request is made."""
        return (_time.monotonic_ns() + self._mono_offset_ns) / 1e9

    def time_ns(self) -> int:
        """time() in integer nanoseconds."""
        return _time.monotonic_ns() + self._mono_offset_ns

    def _r_time(self) -> "_Spec":
        req = pb.Request()
        req.time.SetInParent()
        return req, "time", True, conv_time, None

    async def daemon_time(self) -> TimeInfo:
        """The daemon's clocks now (a Time request)."""
        return await self._do(self._r_time())  # type: ignore[no-any-return]

    # ---- scheduling ----

    def _autokey(self) -> str:
        self._key_counter += 1
        return f"{self._key_prefix}-{self._key_counter}"

    def _schedule(self, req: Any, body: Any, channel: Optional[str],
                  payload: Union[bytes, str, None], key: Optional[str],
                  exec: Union[Exec, Sequence[str], None],
                  callback: Optional[Callable[[Fired], Any]],
                  options: Dict[str, Any]) -> "asyncio.Future[TimerHandle]":
        retry, hook = self._schedule_req(body, channel, payload, key, exec, callback, options)
        # A future, not a coroutine: thousands in flight cost no task each.
        return self._submit(req, retry, hook)

    def _schedule_req(self, body: Any, channel: Optional[str],
                      payload: Union[bytes, str, None], key: Optional[str],
                      exec: Union[Exec, Sequence[str], None],
                      callback: Optional[Callable[[Fired], Any]],
                      options: Dict[str, Any]) -> tuple:
        """Fills the scheduling request's body (the general path: exec,
        options, call_on); returns (retry, the reader hook making the
        TimerHandle)."""
        if channel is not None and exec is not None:
            raise ValueError("a timer has a channel or an exec hook, not both")
        durable = channel is not None or exec is not None
        if callback is not None and durable:
            raise ValueError("callback is for caller timers (no channel, no exec): "
                             "a channel timer's fire goes to its subscribers")
        cb = body.callback
        cb.SetInParent()
        if channel is not None:
            cb.channel = channel
        elif exec is not None:
            _fill_exec(cb.exec, exec)
        if payload is not None:
            cb.payload = payload.encode() if isinstance(payload, str) else payload
        if options:
            _fill_options(body.options, options)
        retry = False
        if key is None and durable and self._reconnect is not None:
            key = self._autokey()
        if key is not None:
            body.key = key
            retry = durable and self._reconnect is not None
        repeating = bool(options) and body.options.HasField("repeat")

        def hook(rep: Any) -> TimerHandle:
            # Runs in the reader, before any later frame: the handle exists
            # before a Fired that follows the reply.
            if rep.WhichOneof("body") != "scheduled":
                raise ProtocolError(f"expected scheduled, got {rep.WhichOneof('body')}")
            sc = conv_scheduled(rep.scheduled)
            h = TimerHandle(self, sc, durable, callback)
            if not durable:
                h._repeating = repeating
                self._handles[sc.timer_id] = h
                for ev in self._early.pop(sc.timer_id, []):
                    self._on_fired_handle(h, ev)
            return h
        return retry, hook

    def _fast_schedule(self, tag: bytes, ns: Optional[int], clock: int,
                       channel: Optional[str], payload: Union[bytes, str, None],
                       key: Optional[str],
                       callback: Optional[Callable[[Fired], Any]]) -> "asyncio.Future[TimerHandle]":
        """The common shapes (no exec, no options) encoded by hand and
        submitted in one function: the protobuf objects (and each call
        more) cost more than the rest of a request. Produces the bytes
        protobuf would (tests compare the two)."""
        if self._closed:
            self._check_open()
        if channel is not None:
            if callback is not None:
                raise ValueError("callback is for caller timers (no channel, no exec): "
                                 "a channel timer's fire goes to its subscribers")
            durable = True
        else:
            durable = False
        if payload is None:
            payload = b""
            n = -1
        else:
            if payload.__class__ is not bytes:
                payload = (payload.encode() if isinstance(payload, str)
                           else bytes(memoryview(payload)))
            n = len(payload)
        if key is None and durable and self._reconnect is not None:
            key = self._autokey()
        if key is None:
            sh = _SHAPES.get((tag, ns, clock, channel, n))
            if sh is None:
                sh = _shape(tag, ns, clock, channel, n, None)
        elif key.__class__ is str:
            kb = key.encode()
            sh = _SHAPES.get((tag, ns, clock, channel, n, len(kb)))
            if sh is None:
                sh = _shape(tag, ns, clock, channel, n, len(kb))
            if sh is not None:
                payload = payload + sh[1] + kb  # type: ignore[operator]
        else:
            sh = None  # _body fails as protobuf would
        rid = self._next_id
        self._next_id = rid + 1
        if sh is None:  # a payload or key too long for a shape
            data = b"\x08" + _uvarint(rid) + tag + _body(ns, clock, channel, payload,  # type: ignore[arg-type]
                                                         n, key)
            frame = _HDR.pack(len(data)) + data
        else:
            # The id's varint: its low byte, then the bytes all 128 ids
            # of its block share (see _rid_frame), with no &, >> or new
            # int, which CPython 3.11 does not specialise.
            b = self._rid_block
            lo = rid - b[0]
            if lo < 0x80 and lo >= 0:
                frame = _join((sh[b[1]], _CONT[lo], b[2], sh[0], payload))
            else:
                frame = self._rid_frame(sh, rid, payload)
        fut = (asyncio.Future(loop=self._loop) if self._plain_futures
               else self._loop.create_future())
        if durable and self._reconnect is None:
            # Never resent, no callback: the future alone (see _pending).
            self._pending[rid] = fut
        else:
            self._pending[rid] = _Pending(fut, frame, key is not None and durable and
                                          self._reconnect is not None,
                                          _SCHED, durable, callback)
        self._unsent.append(frame)
        if self._flush_handle is None and self._connected:
            self._flush_handle = self._loop.call_soon(self._flush)
        return fut

    def _rid_frame(self, sh: tuple, rid: int, payload: bytes) -> bytes:
        """_fast_schedule's frame for an id outside the current block of
        128 (_rid_block: its first id, the index in a shape of the head
        for its varint's length, its varint but for the first byte),
        which it starts when the id has 2 to 4 varint bytes."""
        if rid < 0x80:
            return _join((sh[2], _SMALL[rid], sh[0], payload))
        high = _uvarint(rid >> 7)
        if len(high) > 3:  # from 2**28: no head in a shape
            data = b"\x08" + _CONT[rid & 0x7F] + high + sh[0] + payload
            return _HDR.pack(len(data)) + data
        self._rid_block = (rid & ~0x7F, len(high) + 2, high)
        return _join((sh[len(high) + 2], _CONT[rid & 0x7F], high, sh[0], payload))

    def _caller_handle(self, sc: Scheduled,
                       callback: Optional[Callable[[Fired], Any]]) -> TimerHandle:
        """A caller timer's handle, made in the reader before any later
        frame: its Fired events are routed to it (and those that came
        before the reply are handed over)."""
        h = TimerHandle(self, sc, False, callback)
        self._handles[sc.timer_id] = h
        if self._early:
            for ev in self._early.pop(sc.timer_id, []):
                self._on_fired_handle(h, ev)
        return h

    def _on_scheduled(self, p: _Pending, rep: Any) -> TimerHandle:
        """The reply of a _fast_schedule request not taken by _feed's own
        decoding (an unusual layout, an error)."""
        if rep.WhichOneof("body") != "scheduled":
            raise ProtocolError(f"expected scheduled, got {rep.WhichOneof('body')}")
        sc = conv_scheduled(rep.scheduled)
        if not p.durable:
            return self._caller_handle(sc, p.callback)
        return TimerHandle(self, sc, True, None)

    def _on_fired_handle(self, h: TimerHandle, ev: Fired) -> None:
        if not h._repeating:
            self._handles.pop(h.id, None)
        h._on_fired(ev)

    def call_soon(self, *, channel: Optional[str] = None,
                  payload: Union[bytes, str, None] = None, key: Optional[str] = None,
                  exec: Union[Exec, Sequence[str], None] = None,
                  callback: Optional[Callable[[Fired], Any]] = None,
                  **options: Any) -> "asyncio.Future[TimerHandle]":
        """Fires at the daemon's next loop iteration, after everything
        scheduled before (FIFO, as asyncio's call_soon).

        channel: a message to this channel (durable); exec: a command run
        as the caller (durable; a list of arguments or evd.Exec); neither:
        a Fired event to this connection (a caller timer: it dies with the
        connection), on which ``callback(fired)`` runs. payload: bytes (a
        str is UTF-8 encoded). key: an idempotency key, per owner.
        options: misfire ("fire"|"skip"|"all"), delivery
        ("at_least_once"|"at_most_once"), max_attempts, downtime
        ("counts"|"paused"), every (seconds) and count (repeat), dst_gap,
        dst_overlap, overlap ("skip"|"queue_one"|"allow"|
        "terminate_previous"), randomized_delay and accuracy (seconds).
        Returns (awaitable) the TimerHandle."""
        if exec is None and not options:
            return self._fast_schedule(_TAG_SOON, None, 0, channel, payload, key, callback)
        req = pb.Request()
        return self._schedule(req, req.call_soon, channel, payload, key, exec,
                              callback, options)

    def call_later(self, delay: _Number, *, clock: Union[Clock, str] = Clock.MONOTONIC,
                   channel: Optional[str] = None, payload: Union[bytes, str, None] = None,
                   key: Optional[str] = None, exec: Union[Exec, Sequence[str], None] = None,
                   callback: Optional[Callable[[Fired], Any]] = None,
                   **options: Any) -> "asyncio.Future[TimerHandle]":
        """Fires delay seconds from now on clock ("monotonic", the
        default, or "boottime"). Other arguments as call_soon()."""
        if exec is None and not options:
            return self._fast_schedule(_TAG_LATER, delay * 1_000_000_000
                                       if delay.__class__ is int else _ns(delay, "delay"),
                                       clock if clock.__class__ is Clock else enum_value(Clock, clock),
                                       channel, payload, key, callback)
        req = pb.Request()
        body = req.call_later
        body.delay_ns = _ns(delay, "delay")
        body.clock = enum_value(Clock, clock)
        return self._schedule(req, body, channel, payload, key, exec, callback, options)

    def call_at(self, when: Union[_Number, datetime.datetime], *,
                clock: Union[Clock, str, None] = None,
                channel: Optional[str] = None, payload: Union[bytes, str, None] = None,
                key: Optional[str] = None, exec: Union[Exec, Sequence[str], None] = None,
                callback: Optional[Callable[[Fired], Any]] = None,
                **options: Any) -> "asyncio.Future[TimerHandle]":
        """Fires at when: seconds on clock (default "monotonic": a value
        of time(), as asyncio's call_at(loop.time() + d)), or a datetime
        (the wall clock; a naive one is local time). "realtime" takes
        seconds since the epoch. Other arguments as call_soon()."""
        req = pb.Request()
        body = req.call_at
        if isinstance(when, datetime.datetime):
            if clock is not None and enum_value(Clock, clock) != Clock.REALTIME:
                raise ValueError("a datetime is a wall-clock instant: clock realtime")
            body.when_ns = _ns(when.timestamp(), "when")
            body.clock = Clock.REALTIME
        else:
            if exec is None and not options:
                return self._fast_schedule(
                    _TAG_AT, _ns(when, "when"),
                    enum_value(Clock, clock if clock is not None else Clock.MONOTONIC),
                    channel, payload, key, callback)
            body.when_ns = _ns(when, "when")
            body.clock = enum_value(Clock, clock if clock is not None else Clock.MONOTONIC)
        return self._schedule(req, body, channel, payload, key, exec, callback, options)

    def call_on(self, calendar: str, *, tz: Optional[str] = None,
                channel: Optional[str] = None, payload: Union[bytes, str, None] = None,
                key: Optional[str] = None, exec: Union[Exec, Sequence[str], None] = None,
                callback: Optional[Callable[[Fired], Any]] = None,
                **options: Any) -> "asyncio.Future[TimerHandle]":
        """A calendar timer: fires at every occurrence of a cron or systemd
        OnCalendar= expression, in IANA zone tz (default: the daemon's).
        count, dst_gap and dst_overlap apply; every does not."""
        req = pb.Request()
        body = req.call_on
        body.calendar = calendar
        if tz:
            body.tz = tz
        return self._schedule(req, body, channel, payload, key, exec, callback, options)

    # ---- timers by id ----

    # Requests other than the scheduling ones are built by _r_* methods
    # into a _Spec (the request without its id, the reply body expected,
    # whether it may be repeated on a new connection, the conversion of
    # that body into the call's result, and a hook run in the reader or
    # None), which the single call awaits (_do) and a Pipeline queues: one
    # definition of each request for both.

    def _r_cancel(self, timer_id: int) -> "_Spec":
        req = pb.Request()
        req.cancel.timer_id = timer_id

        def hook(rep: Any) -> Any:
            self._handles.pop(timer_id, None)
            return rep
        return req, "cancelled", False, _none, hook

    def _submit_cancel(self, timer_id: int) -> "asyncio.Future[Any]":
        req, _, retry, _, hook = self._r_cancel(timer_id)
        return self._submit(req, retry, hook)

    async def _do(self, spec: "_Spec") -> Any:
        req, body, retry, conv, hook = spec
        return conv(await self._call(req, body, retry, hook))

    async def cancel(self, timer_id: int) -> None:
        """Cancels a pending or paused timer; NotFound when it is not
        pending (unknown, another owner's, fired, cancelled)."""
        await self._do(self._r_cancel(timer_id))

    def _r_by_id(self, field: str, timer_id: int, retry: bool) -> "_Spec":
        req = pb.Request()
        getattr(req, field).timer_id = timer_id
        return req, "timer", retry, conv_timer, None

    async def get(self, timer_id: int) -> TimerInfo:
        """One timer with its history (pending, or ended and still kept)."""
        return await self._do(self._r_by_id("get", timer_id, True))  # type: ignore[no-any-return]

    async def pause(self, timer_id: int) -> TimerInfo:
        """The timer does not fire until resumed."""
        return await self._do(self._r_by_id("pause", timer_id, False))  # type: ignore[no-any-return]

    async def resume(self, timer_id: int) -> TimerInfo:
        return await self._do(self._r_by_id("resume", timer_id, False))  # type: ignore[no-any-return]

    async def trigger(self, timer_id: int) -> TimerInfo:
        """Fires once now without changing the schedule."""
        return await self._do(self._r_by_id("trigger", timer_id, False))  # type: ignore[no-any-return]

    async def retry(self, timer_id: int) -> TimerInfo:
        """Runs an exec timer's command once now (a finished one comes back)."""
        return await self._do(self._r_by_id("retry", timer_id, False))  # type: ignore[no-any-return]

    def _r_list(self, channel: Optional[str], after_id: int, limit: int) -> "_Spec":
        req = pb.Request()
        req.list.SetInParent()
        if channel is not None:
            req.list.channel = channel
        if after_id:
            req.list.after_id = after_id
        if limit:
            req.list.limit = limit
        return req, "timer_list", True, _conv_timer_list, None

    async def list(self, channel: Optional[str] = None, *, after_id: int = 0,
                   limit: int = 0) -> TimerList:
        """One page of the caller's pending timers (root: everyone's)."""
        return await self._do(self._r_list(channel, after_id, limit))  # type: ignore[no-any-return]

    async def timers(self, channel: Optional[str] = None) -> AsyncIterator[TimerInfo]:
        """Every pending timer, page by page."""
        after = 0
        while True:
            page = await self.list(channel, after_id=after)
            for t in page.timers:
                yield t
            if not page.next_after_id:
                return
            after = page.next_after_id

    def _r_stats(self) -> "_Spec":
        req = pb.Request()
        req.stats.SetInParent()
        return req, "stats", True, conv_stats, None

    async def stats(self) -> Stats:
        return await self._do(self._r_stats())  # type: ignore[no-any-return]

    def _r_wait(self, timer_id: int) -> "_Spec":
        """Wait: its result is a future of the Run, registered (in the
        reader, before any later frame) once the daemon said waiting."""
        final: asyncio.Future[Run] = self._loop.create_future()
        req = pb.Request()
        req.wait.timer_id = timer_id

        def hook(rep: Any) -> Any:
            if rep.WhichOneof("body") == "waiting":
                self._waits.setdefault(timer_id, collections.deque()).append(final)
            return rep
        return req, "waiting", False, lambda m: final, hook

    async def wait(self, timer_id: int) -> Run:
        """asyncio's run_until_complete: waits until the timer's fire is
        done (or it is cancelled) and returns that Run. A wait is not
        repeated on a new connection (ConnectionLost)."""
        return await (await self._do(self._r_wait(timer_id)))  # type: ignore[no-any-return]

    # ---- channels ----

    def subscribe(self, channel: str, *, visibility: Optional[_Number] = None,
                  max_inflight: Optional[int] = None) -> Subscription:
        """Subscribes to a channel ("NAME", or "UID:NAME" for another
        uid's). visibility: seconds a message may stay unacked here before
        it is redelivered (default: the daemon's, 30 s). max_inflight: at
        most this many messages delivered here and neither acked nor
        rejected at once (default, 0 or above 256: the daemon's bound,
        256); the others wait in the channel's queue for this or another
        subscriber, so a worker running N at a time asks for N and no
        message waits out its visibility timeout unstarted. Both are kept
        and sent again when the client resubscribes after a reconnection.
        Iterate the result with ``async for``, or await it to wait for
        the subscription."""
        self._check_open()
        sub = self._new_sub(channel, visibility, max_inflight)
        self._subscribe_req(sub, resubscribe=False)
        return sub

    def _new_sub(self, channel: str, visibility: Optional[_Number],
                 max_inflight: Optional[int]) -> Subscription:
        if max_inflight is not None and (isinstance(max_inflight, bool) or
                                         not isinstance(max_inflight, int) or
                                         not 0 <= max_inflight <= 0xFFFFFFFF):
            raise ValueError(f"max_inflight: an int from 0, not {max_inflight!r}")
        return Subscription(self, channel, visibility, max_inflight)

    def _r_subscribe(self, sub: Subscription) -> "_Spec":
        """Subscribe for sub; its hook registers sub under the channel's
        canonical name before any later frame (a message may follow)."""
        req = pb.Request()
        req.subscribe.channel = sub.requested
        if sub.visibility is not None:
            req.subscribe.visibility_timeout_ns = _ns(sub.visibility, "visibility")
        if sub.max_inflight is not None:
            req.subscribe.max_inflight = sub.max_inflight

        def hook(rep: Any) -> None:
            name = rep.subscribed.channel or sub.requested
            if self._subs.get(sub.channel) is sub:
                del self._subs[sub.channel]
            sub.channel = name
            if not sub._left:  # closed while subscribing: its Unsubscribe follows
                self._subs[name] = sub
            if not sub._ready.done():
                sub._ready.set_result(None)
            return rep
        return req, "subscribed", True, lambda m: sub, hook

    def _subscribe_req(self, sub: Subscription, resubscribe: bool) -> None:
        req, _, retry, _, hook = self._r_subscribe(sub)
        fut = self._submit(req, retry, hook)

        def done(f: "asyncio.Future[Any]") -> None:
            if f.cancelled():
                return
            exc = f.exception()
            if exc is None:
                return
            self._sub_failed(sub, exc, resubscribe)
        fut.add_done_callback(done)

    def _sub_failed(self, sub: Subscription, exc: BaseException, resubscribe: bool) -> None:
        """The Subscribe of sub failed with exc: sub ends with it."""
        if self._subs.get(sub.channel) is sub:
            del self._subs[sub.channel]
        if resubscribe:
            self._event(ConnectionEvent("resubscribe_failed", str(exc),
                                        channel=sub.channel, error=exc))
        sub._end(exc)

    def _drop_sub(self, sub: Subscription) -> None:
        if self._subs.get(sub.channel) is sub:
            del self._subs[sub.channel]

    def _unsubscribe(self, sub: Subscription) -> "Optional[asyncio.Future[Any]]":
        """Forgets sub and sends Unsubscribe for its channel, unless the
        client is closed or a newer Subscription of the same channel on
        this client holds it (the daemon has one subscription per
        connection and channel). Idempotent at the daemon, so it is sent
        again after a reconnection. Returns the reply's future (errors
        already retrieved), or None when nothing was sent."""
        other = self._subs.get(sub.channel)
        self._drop_sub(sub)
        if self._closed or (other is not None and other is not sub):
            return None
        if sub._ready.done() and not sub._ready.cancelled() and \
                sub._ready.exception() is not None:
            return None  # never subscribed
        req = pb.Request()
        req.unsubscribe.channel = sub.channel
        fut = self._submit(req, True)
        fut.add_done_callback(_swallow)
        return fut

    def _r_ack(self, fire_id: int, reschedule_delay: Optional[_Number],
               reschedule_at: Union[None, _Number, datetime.datetime]) -> "_Spec":
        req = pb.Request()
        req.ack.fire_id = fire_id
        if reschedule_delay is not None and reschedule_at is not None:
            raise ValueError("reschedule_delay or reschedule_at, not both")
        if reschedule_delay is not None:
            req.ack.reschedule_delay_ns = _ns(reschedule_delay, "reschedule_delay")
        elif reschedule_at is not None:
            t = reschedule_at.timestamp() if isinstance(reschedule_at, datetime.datetime) \
                else reschedule_at
            req.ack.reschedule_at_ns = _ns(t, "reschedule_at")
        return req, "acked", False, _conv_acked, None

    async def ack(self, fire_id: int, *, reschedule_delay: Optional[_Number] = None,
                  reschedule_at: Union[None, _Number, datetime.datetime] = None
                  ) -> Optional[Scheduled]:
        """Acks a channel message received on this connection (NotFound
        after its visibility timeout passed it on). See Message.ack()."""
        return await self._do(  # type: ignore[no-any-return]
            self._r_ack(fire_id, reschedule_delay, reschedule_at))

    async def reject(self, fire_id: int, *, reason: str = "", dead_letter: bool = False,
                     channel: Optional[str] = None) -> Rejected:
        """Rejects (nacks) a channel message received on this connection
        and not acked yet, for reason (see Message.reject()). channel,
        when given, is a check: the fire must be a message of it.
        NotFound when the fire is not a message this connection holds
        unacked (or not of channel); InvalidArgument for a reason over
        4096 bytes. Not repeated on a new connection (ConnectionLost):
        the message comes back by itself."""
        return await self._do(  # type: ignore[no-any-return]
            self._r_reject(fire_id, reason, dead_letter, channel))

    def _r_reject(self, fire_id: int, reason: str, dead_letter: bool,
                  channel: Optional[str]) -> "_Spec":
        if not isinstance(reason, str):
            raise TypeError(f"reason: a str, not {type(reason).__name__}")
        req = pb.Request()
        req.reject.fire_id = fire_id
        if reason:
            req.reject.reason = reason
        if dead_letter:
            req.reject.dead_letter = True
        if channel is not None:
            req.reject.channel = channel
        return req, "rejected", False, _conv_rejected, None

    def _r_grant(self, channel: str, uid: Optional[int], gid: Optional[int],
                 subscribe: bool, publish: bool, revoke: bool) -> "_Spec":
        if (uid is None) == (gid is None):
            raise ValueError("uid= or gid=, exactly one")
        req = pb.Request()
        g = req.channel_grant
        g.channel = channel
        if uid is not None:
            g.uid = uid
        else:
            g.gid = gid  # type: ignore[assignment]
        g.subscribe = subscribe
        g.publish = publish
        if revoke:
            g.revoke = True
        return req, "channel_info", False, conv_channel, None

    async def grant(self, channel: str, *, uid: Optional[int] = None,
                    gid: Optional[int] = None, subscribe: bool = False,
                    publish: bool = False) -> ChannelInfo:
        """Grants a uid or gid the right to subscribe to and/or publish
        into a channel of the caller's. Returns the channel's info."""
        return await self._do(  # type: ignore[no-any-return]
            self._r_grant(channel, uid, gid, subscribe, publish, False))

    async def revoke(self, channel: str, *, uid: Optional[int] = None,
                     gid: Optional[int] = None, subscribe: bool = False,
                     publish: bool = False) -> ChannelInfo:
        """Removes rights granted with grant()."""
        return await self._do(  # type: ignore[no-any-return]
            self._r_grant(channel, uid, gid, subscribe, publish, True))

    def _r_get_channel(self, channel: str) -> "_Spec":
        req = pb.Request()
        req.get_channel.channel = channel
        return req, "channel_info", True, conv_channel, None

    async def get_channel(self, channel: str) -> ChannelInfo:
        return await self._do(self._r_get_channel(channel))  # type: ignore[no-any-return]

    def _r_list_dead(self, channel: str, after_fire_id: int, limit: int) -> "_Spec":
        req = pb.Request()
        req.list_dead.channel = channel
        if after_fire_id:
            req.list_dead.after_fire_id = after_fire_id
        if limit:
            req.list_dead.limit = limit
        return req, "dead_list", True, _conv_dead_list, None

    async def list_dead(self, channel: str, *, after_fire_id: int = 0,
                        limit: int = 0) -> DeadList:
        """One page of a channel's dead letters (messages that reached
        max_attempts, or were rejected with dead_letter=True), each with
        the reason its last delivery failed (Fired.reason)."""
        return await self._do(  # type: ignore[no-any-return]
            self._r_list_dead(channel, after_fire_id, limit))

    def _r_requeue_dead(self, channel: str, fire_id: int) -> "_Spec":
        req = pb.Request()
        req.requeue_dead.channel = channel
        if fire_id:
            req.requeue_dead.fire_id = fire_id
        return req, "requeued", False, _conv_count, None

    async def requeue_dead(self, channel: str, fire_id: int = 0) -> int:
        """Puts dead letters back in the queue (fire_id 0: all); returns
        how many."""
        return await self._do(self._r_requeue_dead(channel, fire_id))  # type: ignore[no-any-return]

    def _r_purge_dead(self, channel: str, fire_id: int) -> "_Spec":
        req = pb.Request()
        req.purge_dead.channel = channel
        if fire_id:
            req.purge_dead.fire_id = fire_id
        return req, "purged", False, _conv_count, None

    async def purge_dead(self, channel: str, fire_id: int = 0) -> int:
        """Deletes dead letters (fire_id 0: all); returns how many."""
        return await self._do(self._r_purge_dead(channel, fire_id))  # type: ignore[no-any-return]

    def _r_purge(self, channel: str, from_uid: Optional[int]) -> "_Spec":
        req = pb.Request()
        req.purge.channel = channel
        if from_uid is not None:
            req.purge.from_uid = from_uid
        return req, "purged", False, _conv_count, None

    async def purge(self, channel: str, *, from_uid: Optional[int] = None) -> int:
        """Deletes the messages waiting in a channel's queue (not those in
        flight, not dead letters); returns how many."""
        return await self._do(self._r_purge(channel, from_uid))  # type: ignore[no-any-return]


class _Connector:
    """What connect() returns: await it, or use it with ``async with``."""

    def __init__(self, path: Optional[str], kw: Dict[str, Any], timeout: Optional[float]) -> None:
        self._path = path
        self._kw = kw
        self._timeout = timeout
        self._client: Optional[Client] = None

    async def _go(self) -> Client:
        c = Client(self._path or default_socket(), **self._kw)
        await c._open(self._timeout)
        self._client = c
        return c

    def __await__(self) -> Generator[Any, None, Client]:
        return self._go().__await__()

    async def __aenter__(self) -> Client:
        return await self._go()

    async def __aexit__(self, *exc: Any) -> None:
        if self._client is not None:
            await self._client.close()


def connect(path: Optional[str] = None, *, name: str = "evd-python",
            reconnect: Union[bool, tuple] = False,
            on_event: Optional[Callable[[ConnectionEvent], Any]] = None,
            timeout: Optional[float] = 10.0) -> _Connector:
    """Connects to evd (``async with evd.connect() as ev`` or ``ev = await
    evd.connect()``).

    path: the socket; default default_socket() (EVD_SOCKET, then as
    evctl). reconnect: True, or (min, max) seconds of backoff, to survive
    daemon restarts: the client reconnects, subscribes again, and resends
    reads and durable schedules (which then always carry an idempotency
    key, generated when none was given, so nothing is scheduled twice).
    Caller timers die with each connection: on_event gets a
    ConnectionEvent("lost", lost_timers=[...]) and their handles raise
    TimersLost (without on_event the loss is logged at warning).
    timeout: seconds for connecting and the handshake."""
    return _Connector(path, {"name": name, "reconnect": reconnect, "on_event": on_event},
                      timeout)
