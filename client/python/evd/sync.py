"""A synchronous facade for scripts, built on the asyncio client: each
call runs the client's own private event loop until the reply (no thread).

    import evd.sync
    t = evd.sync.call_later(60, channel="jobs", payload=b"x")   # one shared client
    t.cancel()

    with evd.sync.connect() as ev:                                # or your own
        ev.call_soon(exec=["/usr/bin/make", "-C", "/srv", "backup"]).wait()
        p = ev.pipeline()                                         # many at once
        for i in range(1000):
            p.call_later(60, channel="jobs", payload=str(i))
        timers = p.execute()

Arguments and results are those of evd.Client (see its methods). Events
are only read while a call runs; caller timers (no channel, no exec) die
when the client closes, so scripts normally schedule into channels or
exec hooks. Do not use it from inside a running event loop.
"""
from __future__ import annotations

import asyncio
import atexit
import functools
from typing import Any, Callable, Iterator, List, Optional

from . import _client as client
from ._types import Rejected, Run, Scheduled

__all__ = ["Client", "SyncTimer", "SyncSubscription", "SyncPipeline", "connect",
           "call_soon", "call_later", "call_at", "call_on", "cancel", "get",
           "list", "stats", "time", "daemon_time", "pause", "resume",
           "trigger", "retry", "wait", "close"]


class SyncTimer:
    """A scheduled timer (the synchronous TimerHandle)."""

    def __init__(self, owner: "Client", h: client.TimerHandle) -> None:
        self._owner = owner
        self.handle = h

    id = property(lambda self: self.handle.id, doc="the timer id")
    scheduled: Scheduled = property(lambda self: self.handle.scheduled)  # type: ignore[assignment]
    existing = property(lambda self: self.handle.existing)

    def cancel(self) -> bool:
        """Cancels it; False when it was no longer pending."""
        try:
            self._owner._run(self._owner._ev.cancel(self.id))
            return True
        except client.NotFound:
            return False

    def wait(self, timeout: Optional[float] = None) -> Run:
        """Blocks until its fire is done; returns the Run."""
        return self._owner._run(asyncio.wait_for(self._owner._ev.wait(self.id), timeout))

    def __repr__(self) -> str:
        return f"<evd.sync.SyncTimer id={self.id}>"


class SyncSubscription:
    """A subscription read with get() or iteration; ack with msg_ack()."""

    def __init__(self, owner: "Client", sub: client.Subscription) -> None:
        self._owner = owner
        self.sub = sub

    def get(self, timeout: Optional[float] = None) -> client.Message:
        return self._owner._run(self.sub.get(timeout))

    def ack(self, msg: client.Message, **kw: Any) -> Optional[Scheduled]:
        return self._owner._run(msg.ack(**kw))

    def reject(self, msg: client.Message, reason: str = "", *,
               dead_letter: bool = False) -> Rejected:
        """Rejects the message (see evd.Message.reject)."""
        return self._owner._run(msg.reject(reason, dead_letter=dead_letter))

    def close(self) -> None:
        """Ends the subscription (see evd.Subscription.aclose); the
        connection stays open."""
        self._owner._run(self.sub.aclose())

    def __iter__(self) -> Iterator[client.Message]:
        while True:
            try:
                yield self._owner._run(self.sub.__anext__())
            except StopAsyncIteration:
                return


class SyncPipeline:
    """evd.Pipeline for scripts: queue with the Client's method names
    (each returns the pipeline), then execute() sends them in one write
    and blocks until every result is in. TimerHandles come back as
    SyncTimers and Subscriptions as SyncSubscriptions; errors as in
    evd.Pipeline.execute (raise_on_error)."""

    def __init__(self, owner: "Client") -> None:
        self._owner = owner
        self._p = owner._ev.pipeline()

    def __getattr__(self, name: str) -> Callable[..., "SyncPipeline"]:
        meth = getattr(self._p, name)
        if name.startswith("_") or name == "execute" or not callable(meth):
            raise AttributeError(name)

        def queue(*a: Any, **kw: Any) -> "SyncPipeline":
            meth(*a, **kw)
            return self
        queue.__doc__ = meth.__doc__
        return queue

    def __len__(self) -> int:
        return len(self._p)

    def __enter__(self) -> "SyncPipeline":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._p._ops = []  # not executed: nothing is sent

    def execute(self, *, raise_on_error: bool = True) -> List[Any]:
        out = self._owner._run(self._p.execute(raise_on_error=raise_on_error))
        for i, x in enumerate(out):
            if isinstance(x, client.TimerHandle):
                out[i] = SyncTimer(self._owner, x)
            elif isinstance(x, client.Subscription):
                out[i] = SyncSubscription(self._owner, x)
        return out  # type: ignore[no-any-return]


def _plain(name: str) -> Callable[..., Any]:
    meth = getattr(client.Client, name)

    @functools.wraps(meth)
    def f(self: "Client", *a: Any, **kw: Any) -> Any:
        return self._run(getattr(self._ev, name)(*a, **kw))
    return f


def _timer(name: str) -> Callable[..., Any]:
    meth = getattr(client.Client, name)

    @functools.wraps(meth)
    def f(self: "Client", *a: Any, **kw: Any) -> SyncTimer:
        return SyncTimer(self, self._run(getattr(self._ev, name)(*a, **kw)))
    f.__doc__ = (meth.__doc__ or "") + "\n\nReturns a SyncTimer."
    return f


class Client:
    """A blocking client with its own event loop and connection."""

    def __init__(self, path: Optional[str] = None, *, name: str = "evd-sync",
                 reconnect: Any = False, timeout: Optional[float] = 10.0) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._ev: client.Client = self._loop.run_until_complete(
                client.connect(path, name=name, reconnect=reconnect, timeout=timeout))
        except BaseException:
            self._loop.close()
            raise

    def _run(self, coro: Any) -> Any:
        return self._loop.run_until_complete(coro)

    call_soon = _timer("call_soon")
    call_later = _timer("call_later")
    call_at = _timer("call_at")
    call_on = _timer("call_on")
    cancel = _plain("cancel")
    get = _plain("get")
    list = _plain("list")
    stats = _plain("stats")
    daemon_time = _plain("daemon_time")
    pause = _plain("pause")
    resume = _plain("resume")
    trigger = _plain("trigger")
    retry = _plain("retry")
    wait = _plain("wait")
    ack = _plain("ack")
    reject = _plain("reject")
    grant = _plain("grant")
    revoke = _plain("revoke")
    get_channel = _plain("get_channel")
    list_dead = _plain("list_dead")
    requeue_dead = _plain("requeue_dead")
    purge_dead = _plain("purge_dead")
    purge = _plain("purge")

    def pipeline(self) -> SyncPipeline:
        """A SyncPipeline: requests queued, then sent in one write by
        execute(), which returns all their results in order."""
        return SyncPipeline(self)

    def time(self) -> float:
        """The daemon's loop.time() (see evd.Client.time)."""
        return self._ev.time()

    def subscribe(self, channel: str, *, visibility: Optional[float] = None,
                  max_inflight: Optional[int] = None) -> SyncSubscription:
        sub = self._ev.subscribe(channel, visibility=visibility, max_inflight=max_inflight)
        self._run(sub._wait_ready())
        return SyncSubscription(self, sub)

    @property
    def closed(self) -> bool:
        return self._ev.closed or self._loop.is_closed()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._run(self._ev.close())
        self._loop.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def connect(path: Optional[str] = None, **kw: Any) -> Client:
    """A synchronous Client (use it with ``with``)."""
    return Client(path, **kw)


_default: Optional[Client] = None


def _shared() -> Client:
    global _default
    if _default is None or _default.closed:
        _default = Client()
        atexit.register(_default.close)
    return _default


def close() -> None:
    """Closes the shared client of the module-level functions."""
    global _default
    if _default is not None:
        _default.close()
        _default = None


def _module_fn(name: str) -> Callable[..., Any]:
    meth = getattr(Client, name)

    @functools.wraps(meth)
    def f(*a: Any, **kw: Any) -> Any:
        return getattr(_shared(), name)(*a, **kw)
    return f


# The module-level calls use one shared client (EVD_SOCKET, then as evctl),
# connected on first use and closed at exit.
call_soon = _module_fn("call_soon")
call_later = _module_fn("call_later")
call_at = _module_fn("call_at")
call_on = _module_fn("call_on")
cancel = _module_fn("cancel")
get = _module_fn("get")
list = _module_fn("list")  # noqa: A001 (the protocol's name)
stats = _module_fn("stats")
time = _module_fn("time")
daemon_time = _module_fn("daemon_time")
pause = _module_fn("pause")
resume = _module_fn("resume")
trigger = _module_fn("trigger")
retry = _module_fn("retry")
wait = _module_fn("wait")
