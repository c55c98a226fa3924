"""Pipelines: many requests queued, written in one go, and one awaitable
for all their results, in the shape of redis-py's ``pipeline()`` /
``execute()``.

Ownership and invariants:
- A Pipeline belongs to its Client (and so to that client's loop). It
  only queues until execute(); nothing is sent before, and a pipeline
  left without execute() sends nothing.
- execute() takes the next len(pipeline) request ids of the client at
  once, so that a reply's index in the batch is its id minus the first;
  every id maps to one _Batch in Client._pending, whose one future the
  reader resolves with the list of results once the last reply is in
  (see _client._Batch). No future, _Pending or callback per request for
  the usual requests (durable schedules without exec or options).
- Every request is built by the code the single call uses (the
  scheduling calls' fast-path shapes and _schedule_req, the Client._r_*
  methods), so a pipeline's request is byte for byte the single call's,
  with the same idempotency key rule under reconnection (a durable
  schedule always carries a key, generated when none was given, and is
  resent on a new connection; what is not safe to repeat fails with
  ConnectionLost at its position).
- A pipeline is used once: queueing to it or executing it after
  execute() raises RuntimeError.
"""
from __future__ import annotations

import asyncio
import datetime
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Sequence, Union

from . import _client as _c
from ._errors import ProtocolError
from ._types import Clock, Exec, Fired, enum_value

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["Pipeline"]

_Number = Union[int, float]
_SHAPES = _c._SHAPES
_TAG_LATER = _c._TAG_LATER
_LONG = object()  # an op whose data is its frame after the request id
_GEN = object()  # an op whose data is a pb.Request without its id


def _spec_hook(spec: tuple) -> Callable[[Any], Any]:
    """The reader hook of a Client._r_* request in a batch: what the
    single call's _do does with the reply, run in the reader."""
    _, body, _, conv, pre = spec

    def hook(rep: Any) -> Any:
        if pre is not None:
            rep = pre(rep)
        got = rep.WhichOneof("body")
        if got != body:
            raise ProtocolError(f"expected {body} in reply, got {got}")
        return conv(getattr(rep, body))
    return hook


class Pipeline:
    """Requests queued on one client and sent together: one write, one
    awaitable for all the results (redis-py's ``pipeline()`` /
    ``execute()``)::

        async with ev.pipeline() as p:
            for job in jobs:
                p.call_later(60, channel="jobs", payload=job)
            p.get(some_id).stats()          # each method returns the pipeline
            handles = await p.execute()     # [TimerHandle, ..., TimerInfo, Stats]

    Each queueing method takes the arguments of the Client method of the
    same name and returns the pipeline (so calls chain); execute() sends
    them all and returns the list of their results in queue order, each
    what the single call returns (a TimerHandle, a TimerInfo, None for
    cancel(), ...). An error reply is the exception the single call would
    raise, at its position: execute() raises the first one (by position,
    after every reply is in, with a note naming the request) unless
    ``raise_on_error=False``, when it stays in the list. The requests
    still all take effect or fail independently: a pipeline is not a
    transaction.

    Cheaper than as many single calls gathered: one future for the batch
    instead of one per request. Works with reconnect=True like the single
    calls (durable schedules resent with their idempotency keys, reads
    resent, others failing with ConnectionLost at their position) and on
    uvloop. subscribe()'s result is the Subscription once subscribed;
    wait(timer_id)'s is the fire's Run, so execute() returns once that
    fire is done.

    A pipeline is used once: queueing or executing after execute() raises
    RuntimeError. Leaving ``async with`` without execute() sends nothing
    (as redis-py discards what was not executed). Call its methods from
    the client's loop only.
    """

    __slots__ = ("_client", "_ops", "_items", "_waits", "_subs", "_done")

    def __init__(self, client: "Client") -> None:
        self._client = client
        # (shape, data, item): shape a _client._shape tuple (data: the
        # payload and key tail), _LONG or _GEN; item None (a durable fast
        # schedule) or the _Pending a _Batch keeps for the request.
        self._ops: List[tuple] = []
        self._items = 0  # ops whose item is not None
        self._waits: List[int] = []  # indices of wait() requests
        self._subs: List[tuple] = []  # (index, Subscription) of subscribe()
        self._done = False

    def __len__(self) -> int:
        return len(self._ops)

    async def __aenter__(self) -> "Pipeline":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._ops = []  # not executed: nothing is sent

    def _check(self) -> "Client":
        if self._done:
            raise RuntimeError("this pipeline was executed already; "
                               "make another with Client.pipeline()")
        return self._client

    # ---- queueing ----

    def _add(self, op: tuple) -> "Pipeline":
        self._ops.append(op)
        if op[2] is not None:
            self._items += 1
        return self

    def _spec(self, spec: tuple) -> "Pipeline":
        req, _, retry, _, _ = spec
        return self._add((_GEN, req, _c._Pending(None, b"", retry,  # type: ignore[arg-type]
                                                 _spec_hook(spec))))

    def _fast(self, tag: bytes, ns: Optional[int], clock: int, channel: Optional[str],
              payload: Union[bytes, str, None], key: Optional[str],
              callback: Optional[Callable[[Fired], Any]]) -> "Pipeline":
        # Client._fast_schedule's checks and encoding but the request id,
        # which execute() adds.
        if self._done:
            self._check()
        c = self._client
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
        reconnect = c._reconnect is not None
        if key is None and durable and reconnect:
            key = c._autokey()
        sh: Any
        if key is None:
            sh = _c._SHAPES.get((tag, ns, clock, channel, n))
            if sh is None:
                sh = _c._shape(tag, ns, clock, channel, n, None)
        elif key.__class__ is str:
            kb = key.encode()
            sh = _c._SHAPES.get((tag, ns, clock, channel, n, len(kb)))
            if sh is None:
                sh = _c._shape(tag, ns, clock, channel, n, len(kb))
            if sh is not None:
                payload = payload + sh[1] + kb  # type: ignore[operator]
        else:
            raise TypeError(f"key: a str, not {type(key).__name__}")
        if sh is None:  # a payload or key too long for a shape
            sh = _LONG
            payload = tag + _c._body(ns, clock, channel, payload, n, key)  # type: ignore[arg-type]
        if durable:
            item = None  # see _client._Batch.items
        else:
            item = _c._Pending(None, b"", False, _c._SCHED, False, callback)  # type: ignore[arg-type]
        self._ops.append((sh, payload, item))
        if item is not None:
            self._items += 1
        return self

    def _slow(self, req: Any, body: Any, channel: Optional[str],
              payload: Union[bytes, str, None], key: Optional[str],
              exec: Union[Exec, Sequence[str], None],
              callback: Optional[Callable[[Fired], Any]], options: Any) -> "Pipeline":
        c = self._check()
        retry, hook = c._schedule_req(body, channel, payload, key, exec, callback, options)
        return self._add((_GEN, req, _c._Pending(None, b"", retry, hook)))  # type: ignore[arg-type]

    def call_soon(self, *, channel: Optional[str] = None,
                  payload: Union[bytes, str, None] = None, key: Optional[str] = None,
                  exec: Union[Exec, Sequence[str], None] = None,
                  callback: Optional[Callable[[Fired], Any]] = None,
                  **options: Any) -> "Pipeline":
        """Queues Client.call_soon(...); its result is the TimerHandle."""
        if exec is None and not options:
            return self._fast(_c._TAG_SOON, None, 0, channel, payload, key, callback)
        req = _c.pb.Request()
        return self._slow(req, req.call_soon, channel, payload, key, exec, callback, options)

    def call_later(self, delay: _Number, *, clock: Union[Clock, str] = Clock.MONOTONIC,
                   channel: Optional[str] = None, payload: Union[bytes, str, None] = None,
                   key: Optional[str] = None, exec: Union[Exec, Sequence[str], None] = None,
                   callback: Optional[Callable[[Fired], Any]] = None,
                   **options: Any) -> "Pipeline":
        """Queues Client.call_later(...); its result is the TimerHandle."""
        if exec is None and not options:
            if channel.__class__ is str and payload.__class__ is bytes and key is None \
                    and delay.__class__ is int and clock.__class__ is Clock and \
                    callback is None and not self._done and self._client._reconnect is None:
                # The usual request (a durable message, no key to add),
                # queued here once its shape is known: a call less per
                # request than _fast, about a tenth of a pipeline's cost.
                sh = _SHAPES.get((_TAG_LATER, delay * 1_000_000_000, clock, channel,
                                  len(payload)))
                if sh is not None:
                    self._ops.append((sh, payload, None))
                    return self
            return self._fast(_TAG_LATER, delay * 1_000_000_000
                              if delay.__class__ is int else _c._ns(delay, "delay"),
                              clock if clock.__class__ is Clock else enum_value(Clock, clock),
                              channel, payload, key, callback)
        req = _c.pb.Request()
        body = req.call_later
        body.delay_ns = _c._ns(delay, "delay")
        body.clock = enum_value(Clock, clock)
        return self._slow(req, body, channel, payload, key, exec, callback, options)

    def call_at(self, when: Union[_Number, datetime.datetime], *,
                clock: Union[Clock, str, None] = None,
                channel: Optional[str] = None, payload: Union[bytes, str, None] = None,
                key: Optional[str] = None, exec: Union[Exec, Sequence[str], None] = None,
                callback: Optional[Callable[[Fired], Any]] = None,
                **options: Any) -> "Pipeline":
        """Queues Client.call_at(...); its result is the TimerHandle."""
        req = _c.pb.Request()
        body = req.call_at
        if isinstance(when, datetime.datetime):
            if clock is not None and enum_value(Clock, clock) != Clock.REALTIME:
                raise ValueError("a datetime is a wall-clock instant: clock realtime")
            body.when_ns = _c._ns(when.timestamp(), "when")
            body.clock = Clock.REALTIME
        else:
            if exec is None and not options:
                return self._fast(
                    _c._TAG_AT, _c._ns(when, "when"),
                    enum_value(Clock, clock if clock is not None else Clock.MONOTONIC),
                    channel, payload, key, callback)
            body.when_ns = _c._ns(when, "when")
            body.clock = enum_value(Clock, clock if clock is not None else Clock.MONOTONIC)
        return self._slow(req, body, channel, payload, key, exec, callback, options)

    def call_on(self, calendar: str, *, tz: Optional[str] = None,
                channel: Optional[str] = None, payload: Union[bytes, str, None] = None,
                key: Optional[str] = None, exec: Union[Exec, Sequence[str], None] = None,
                callback: Optional[Callable[[Fired], Any]] = None,
                **options: Any) -> "Pipeline":
        """Queues Client.call_on(...); its result is the TimerHandle."""
        req = _c.pb.Request()
        body = req.call_on
        body.calendar = calendar
        if tz:
            body.tz = tz
        return self._slow(req, body, channel, payload, key, exec, callback, options)

    def cancel(self, timer_id: int) -> "Pipeline":
        """Queues Client.cancel(timer_id); its result is None."""
        return self._spec(self._check()._r_cancel(timer_id))

    def get(self, timer_id: int) -> "Pipeline":
        """Queues Client.get(timer_id); its result is the TimerInfo."""
        return self._spec(self._check()._r_by_id("get", timer_id, True))

    def pause(self, timer_id: int) -> "Pipeline":
        """Queues Client.pause(timer_id); its result is the TimerInfo."""
        return self._spec(self._check()._r_by_id("pause", timer_id, False))

    def resume(self, timer_id: int) -> "Pipeline":
        """Queues Client.resume(timer_id); its result is the TimerInfo."""
        return self._spec(self._check()._r_by_id("resume", timer_id, False))

    def trigger(self, timer_id: int) -> "Pipeline":
        """Queues Client.trigger(timer_id); its result is the TimerInfo."""
        return self._spec(self._check()._r_by_id("trigger", timer_id, False))

    def retry(self, timer_id: int) -> "Pipeline":
        """Queues Client.retry(timer_id); its result is the TimerInfo."""
        return self._spec(self._check()._r_by_id("retry", timer_id, False))

    def subscribe(self, channel: str, *, visibility: Optional[_Number] = None,
                  max_inflight: Optional[int] = None) -> "Pipeline":
        """Queues Client.subscribe(...); its result is the Subscription,
        subscribed (or, when the daemon refused, the error, with which
        the Subscription ended)."""
        c = self._check()
        sub = c._new_sub(channel, visibility, max_inflight)
        self._subs.append((len(self._ops), sub))
        return self._spec(c._r_subscribe(sub))

    def wait(self, timer_id: int) -> "Pipeline":
        """Queues Client.wait(timer_id); its result is the fire's Run, so
        execute() returns only once that fire is done."""
        c = self._check()
        self._waits.append(len(self._ops))
        return self._spec(c._r_wait(timer_id))

    def list(self, channel: Optional[str] = None, *, after_id: int = 0,
             limit: int = 0) -> "Pipeline":
        """Queues Client.list(...); its result is the TimerList."""
        return self._spec(self._check()._r_list(channel, after_id, limit))

    def stats(self) -> "Pipeline":
        """Queues Client.stats(); its result is the Stats."""
        return self._spec(self._check()._r_stats())

    def daemon_time(self) -> "Pipeline":
        """Queues Client.daemon_time(); its result is the TimeInfo."""
        return self._spec(self._check()._r_time())

    def ack(self, fire_id: int, *, reschedule_delay: Optional[_Number] = None,
            reschedule_at: Union[None, _Number, datetime.datetime] = None) -> "Pipeline":
        """Queues Client.ack(...); its result is the new Scheduled or None."""
        return self._spec(self._check()._r_ack(fire_id, reschedule_delay, reschedule_at))

    def reject(self, fire_id: int, *, reason: str = "", dead_letter: bool = False,
               channel: Optional[str] = None) -> "Pipeline":
        """Queues Client.reject(...); its result is the Rejected."""
        return self._spec(self._check()._r_reject(fire_id, reason, dead_letter, channel))

    def grant(self, channel: str, *, uid: Optional[int] = None, gid: Optional[int] = None,
              subscribe: bool = False, publish: bool = False) -> "Pipeline":
        """Queues Client.grant(...); its result is the ChannelInfo."""
        return self._spec(self._check()._r_grant(channel, uid, gid, subscribe, publish, False))

    def revoke(self, channel: str, *, uid: Optional[int] = None, gid: Optional[int] = None,
               subscribe: bool = False, publish: bool = False) -> "Pipeline":
        """Queues Client.revoke(...); its result is the ChannelInfo."""
        return self._spec(self._check()._r_grant(channel, uid, gid, subscribe, publish, True))

    def get_channel(self, channel: str) -> "Pipeline":
        """Queues Client.get_channel(channel); its result is the ChannelInfo."""
        return self._spec(self._check()._r_get_channel(channel))

    def list_dead(self, channel: str, *, after_fire_id: int = 0,
                  limit: int = 0) -> "Pipeline":
        """Queues Client.list_dead(...); its result is the DeadList."""
        return self._spec(self._check()._r_list_dead(channel, after_fire_id, limit))

    def requeue_dead(self, channel: str, fire_id: int = 0) -> "Pipeline":
        """Queues Client.requeue_dead(...); its result is the count."""
        return self._spec(self._check()._r_requeue_dead(channel, fire_id))

    def purge_dead(self, channel: str, fire_id: int = 0) -> "Pipeline":
        """Queues Client.purge_dead(...); its result is the count."""
        return self._spec(self._check()._r_purge_dead(channel, fire_id))

    def purge(self, channel: str, *, from_uid: Optional[int] = None) -> "Pipeline":
        """Queues Client.purge(...); its result is the count."""
        return self._spec(self._check()._r_purge(channel, from_uid))

    # ---- sending ----

    async def execute(self, *, raise_on_error: bool = True) -> List[Any]:
        """Sends every queued request in one write and returns their
        results in queue order once all replies are in (an empty
        pipeline: []). raise_on_error (redis-py's): raise the first
        error by position; False: errors stay in the list as exception
        objects. Cancelling the await does not unsend: the requests take
        effect or not as without it."""
        c = self._check()
        self._done = True
        c._check_open()
        ops, self._ops = self._ops, []
        n = len(ops)
        if not n:
            return []
        base = c._next_id
        frames = self._frames(c, ops, base)
        c._next_id = base + n
        fut = c._future()
        b = _c._Batch(fut, base, [op[2] for op in ops] if self._items else None, frames)
        c._pending.update(dict.fromkeys(range(base, base + n), b))
        c._unsent.extend(frames)
        if c._flush_handle is None and c._connected:
            c._flush_handle = c._loop.call_soon(c._flush)
        try:
            results: List[Any] = await fut
        except Exception as e:  # the client closed: what never subscribed ends
            for _, sub in self._subs:
                if not sub._ready.done():
                    c._sub_failed(sub, e, False)
            raise
        for i, sub in self._subs:
            if isinstance(results[i], BaseException):
                c._sub_failed(sub, results[i], False)
        first = b.first_error
        for i in self._waits:  # a Run after the fire: wait for each
            w = results[i]
            if asyncio.isfuture(w):
                try:
                    results[i] = await w
                except _c.Error as e:
                    results[i] = e
                    if first < 0 or i < first:
                        first = i
        if first >= 0 and raise_on_error:
            e = results[first]
            e.add_note(f"(request {first} of the {n} in the pipeline)")
            raise e
        return results

    @staticmethod
    def _frames(c: "Client", ops: List[tuple], base: int) -> List[bytes]:
        """The frames of ops with request ids from base: the request id's
        varint spliced into each op's pre-encoded parts (as
        Client._fast_schedule does, sharing its _rid_block), or the
        request serialised with its id."""
        frames: List[bytes] = []
        append = frames.append
        join = _c._join
        cont = _c._CONT
        rid = base
        blk = c._rid_block
        for sh, data, _ in ops:
            if sh.__class__ is tuple:
                lo = rid - blk[0]
                if lo < 0x80 and lo >= 0:
                    append(join((sh[blk[1]], cont[lo], blk[2], sh[0], data)))
                else:
                    append(c._rid_frame(sh, rid, data))
                    blk = c._rid_block
            elif sh is _LONG:
                d = b"\x08" + _c._uvarint(rid) + data
                append(_c._HDR.pack(len(d)) + d)
            else:
                data.request_id = rid
                d = data.SerializeToString()
                append(_c._HDR.pack(len(d)) + d)
            rid += 1
        return frames
