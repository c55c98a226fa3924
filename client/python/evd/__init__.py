"""evd for asyncio: asyncio's call_soon / call_later / call_at / cancel /
time() as a system service, from Python.

    import evd

    async with evd.connect() as ev:          # EVD_SOCKET, then as evctl
        h = await ev.call_later(5, channel="jobs", payload=b"x", key="job-42")
        h.cancel()                             # like asyncio.TimerHandle
        h2 = await ev.call_at(ev.time() + 5)   # ev.time(): the daemon's loop.time()
        run = await h2                         # wait for the fire, get its Run
        async for msg in ev.subscribe("jobs", visibility=30, max_inflight=8):
            try:
                await handle(msg.payload)
                await msg.ack()
            except Exception as e:             # back after a backoff, with
                await msg.reject(reason=repr(e))  # msg.reason; then dead letters

A pure-Python client over asyncio.open_unix_connection (no thread, no C
extension); requests are pipelined on one connection. Errors from the
daemon raise subclasses of evd.Error (NotFound, PermissionDenied, ...),
one per protocol ErrorCode. See connect() for reconnection, evd.sync for
scripts and ``python3 -m evd.worker`` for a channel worker.

Many requests at once, as redis-py's pipeline()/execute(): one write and
one awaitable for all the results (see Pipeline)::

    async with ev.pipeline() as p:
        for job in jobs:
            p.call_later(60, channel="jobs", payload=job)
        handles = await p.execute()
"""
from ._client import (PROTOCOL_VERSION, Client, Message, Subscription,
                      TimerHandle, connect, default_socket)
from ._pipeline import Pipeline
from ._errors import (ConnectionLost, Error, FailedPrecondition, Internal,
                      InvalidArgument, NotFound, PermissionDenied,
                      ProtocolError, ResourceExhausted, TimersLost,
                      Unavailable, UnsupportedVersion)
from ._types import (Callback, ChannelGrantEntry, ChannelInfo, Clock,
                     ClusterStats,
                     ConnectionEvent, DeadList, Delivery, Downtime, DstGap,
                     DstOverlap, ErrorCode, Exec, Fired, Misfire, Overlap,
                     Rejected, Repeat, Run, RunOutcome,
                     Scheduled, ServerInfo, Stats,
                     TimeInfo, TimerInfo, TimerList, TimerOptions, TimerState)

__version__ = "0.1.0"

__all__ = [
    "connect", "default_socket", "Client", "TimerHandle", "Subscription",
    "Message", "Pipeline", "PROTOCOL_VERSION",
    "Error", "InvalidArgument", "NotFound", "PermissionDenied",
    "ResourceExhausted", "Unavailable", "Internal", "ProtocolError",
    "UnsupportedVersion", "FailedPrecondition", "ConnectionLost",
    "TimersLost",
    "Callback", "ChannelGrantEntry", "ChannelInfo", "Clock", "ClusterStats",
    "ConnectionEvent", "DeadList", "Delivery", "Downtime", "DstGap",
    "DstOverlap", "ErrorCode", "Exec", "Fired", "Misfire", "Overlap",
    "Rejected", "Repeat", "Run", "RunOutcome", "Scheduled", "ServerInfo", "Stats",
    "TimeInfo", "TimerInfo", "TimerList", "TimerOptions", "TimerState",
]
