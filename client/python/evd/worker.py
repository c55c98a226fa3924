"""A channel worker: ``python3 -m evd.worker MODULE:FUNCTION --channel jobs
--concurrency N``.

FUNCTION is called once per message with the evd.Message (payload,
fire_id, attempt, timer_id, ...). A coroutine function runs on the loop;
a plain function runs in a worker thread (asyncio.to_thread), so that a
blocking handler does not stall the others. When it returns the message
is acked; when it raises, the exception is logged and the message is
rejected with the reason ``repr(exception)`` (cut to the 4096 bytes the
daemon keeps): evd delivers it again after the channel's redelivery
backoff, the next delivery's ``msg.reason`` saying why, and after
max_attempts deliveries moves it to the channel's dead letters, where
``evctl dead`` and Client.list_dead() show the reason.

At most N messages are handled at once, and the worker subscribes with
max_inflight N, so the daemon hands this connection no more than N at a
time: the rest wait in the channel's queue (for this or another worker)
instead of waiting out their visibility timeout here. The worker
reconnects across evd restarts and subscribes again. SIGTERM or SIGINT:
stop taking messages, finish those being handled, exit 0.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import logging
import signal
import sys
from typing import Any, Callable, Optional, Set

from . import _client as client
from ._errors import Error

log = logging.getLogger("evd.worker")

REASON_MAX = 4096  # bytes of UTF-8 the daemon keeps with a rejected message
_ELLIPSIS = "\u2026"


def reject_reason(exc: BaseException, limit: int = REASON_MAX) -> str:
    """repr(exc) as a reject reason: at most limit bytes of UTF-8, cut on
    a character boundary and marked with an ellipsis when cut."""
    r = repr(exc)
    b = r.encode("utf-8", "backslashreplace")  # lone surrogates: escaped
    if len(b) <= limit:
        return b.decode("utf-8")
    cut = limit - len(_ELLIPSIS.encode("utf-8"))
    # "ignore" drops only the partial character the cut left at the end.
    return b[:cut].decode("utf-8", "ignore") + _ELLIPSIS


def load(spec: str) -> Callable[..., Any]:
    """MODULE:FUNCTION (FUNCTION may be dotted: MODULE:Class.method)."""
    mod_name, sep, attr = spec.partition(":")
    if not sep or not mod_name or not attr:
        raise ValueError(f"{spec!r}: expected MODULE:FUNCTION")
    obj: Any = importlib.import_module(mod_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"{spec} is not callable")
    return obj  # type: ignore[no-any-return]


async def run_worker(func: Callable[..., Any], channel: str, *, concurrency: int = 1,
                     socket: Optional[str] = None, visibility: Optional[float] = None,
                     reconnect: Any = True, stop: Optional[asyncio.Event] = None) -> int:
    """Runs the worker until stop is set (or the connection ends for good
    without reconnection): subscribes to channel with max_inflight
    concurrency, calls func for each message, acks it when func returns
    and rejects it with reject_reason(exception) when it raises.
    Returns the number of messages acked."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    stop = stop or asyncio.Event()
    sem = asyncio.Semaphore(concurrency)
    tasks: Set["asyncio.Task[None]"] = set()
    acked = 0
    is_coro = inspect.iscoroutinefunction(func)

    async def handle(msg: client.Message) -> None:
        nonlocal acked
        try:
            if is_coro:
                await func(msg)
            else:
                r = await asyncio.to_thread(func, msg)
                if inspect.isawaitable(r):
                    await r
        except Exception as exc:
            log.exception("evd.worker: message %d of timer %d (attempt %d) failed; "
                          "rejecting it", msg.fire_id, msg.timer_id, msg.attempt)
            try:
                rj = await msg.reject(reject_reason(exc))
                if rj.dead:
                    log.warning("evd.worker: message %d moved to the dead letters",
                                msg.fire_id)
            except Error as e:  # e.g. the visibility timeout passed it on
                log.warning("evd.worker: reject of message %d failed: %s", msg.fire_id, e)
        else:
            try:
                await msg.ack()
                acked += 1
            except Error as e:  # e.g. the visibility timeout passed it on
                log.warning("evd.worker: ack of message %d failed: %s", msg.fire_id, e)
        finally:
            sem.release()

    async with client.connect(socket, name=f"evd.worker {channel}", reconnect=reconnect) as ev:
        sub = await ev.subscribe(channel, visibility=visibility, max_inflight=concurrency)
        log.info("evd.worker: subscribed to %s (concurrency %d)", sub.channel, concurrency)
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                await sem.acquire()
                nxt = asyncio.ensure_future(sub.__anext__())
                await asyncio.wait({nxt, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not nxt.done():
                    nxt.cancel()
                    sem.release()
                    break
                try:
                    msg = nxt.result()
                except StopAsyncIteration:
                    break
                t = asyncio.ensure_future(handle(msg))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
        finally:
            stopping.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
    return acked


def main(argv: Optional[list] = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m evd.worker",
                                description="Handle the messages of an evd channel.")
    p.add_argument("target", metavar="MODULE:FUNCTION")
    p.add_argument("--channel", required=True, help="the channel (NAME or UID:NAME)")
    p.add_argument("--concurrency", type=int, default=1, help="messages handled at once, and held from the daemon "
                        "at once (max_inflight) (1)")
    p.add_argument("--socket", help="evd's socket (default: $EVD_SOCKET, then as evctl)")
    p.add_argument("--visibility", type=float,
                   help="seconds a message may take before it is redelivered (daemon default 30)")
    p.add_argument("--no-reconnect", action="store_true",
                   help="exit when the connection to evd is lost")
    p.add_argument("--uvloop", action="store_true", help="run on uvloop")
    p.add_argument("--log-level", default="INFO")
    a = p.parse_args(argv)
    logging.basicConfig(level=a.log_level.upper(), format="%(name)s: %(message)s")
    sys.path.insert(0, "")
    try:
        func = load(a.target)
    except (ImportError, AttributeError, ValueError) as e:
        p.error(f"cannot load {a.target}: {e}")

    async def go() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for s in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(s, stop.set)
        return await run_worker(func, a.channel, concurrency=a.concurrency, socket=a.socket,
                                visibility=a.visibility, reconnect=not a.no_reconnect,
                                stop=stop)

    factory = None
    if a.uvloop:
        import uvloop
        factory = uvloop.new_event_loop
    try:
        with asyncio.Runner(loop_factory=factory) as r:
            n = r.run(go())
    except Error as e:
        print(f"evd.worker: {e}", file=sys.stderr)
        return 1
    log.info("evd.worker: stopped after %d message(s)", n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
