#!/usr/bin/env python3
"""py_bench: pipelined call_later from one Python process with the asyncio
client evd, on asyncio's default loop and on uvloop, against redis-py's
asyncio client doing pipelined ZADD (the delayed-job idiom) to a
redis-server on a private Unix socket, and against evctl (one process per
call), all started by this script in the same run.

    tests/bench/py_bench.py [--build build] [--n 10000] [--rounds 7] [--touch]

Two placements: "memory" (evd --store memory; redis without persistence)
and "durable" (evd's SQLite store, fsync per commit; redis with
appendonly yes and appendfsync always). Each round schedules --n timers
(channel message, 3-byte payload; ZADD of a member with a score) through
one connection, all in flight at once, and times until the last reply;
the first round is a warm-up. evd's client is measured three ways:
single calls collected by awaiting each future in turn; single calls
with asyncio.gather (which adds a done-callback per future); and its
pipeline (ev.pipeline(), the n call_later queued, then one execute()
returning one list), the shape of redis-py's pipeline()/execute() that
the redis-py row uses. The
clients take turns within each round, so that a ratio compares runs made
seconds apart on the same machine; ratios are medians of the per-round
ratios. Besides rates it prints this process's CPU per schedule and the
server's (evd or redis-server, from /proc/PID/schedstat): on a shared
machine the CPU figures move less than the rates. --touch reads every
handle's timer id (evd decodes a Scheduled reply on first use). Needs
python3-redis and redis-server (Debian); python3-uvloop for the uvloop
rows. A benchmark, not a test.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def start_evd(evd_bin: str, d: str, extra: list) -> subprocess.Popen:
    npath = os.path.join(d, "notify")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(npath)
    ns.settimeout(10)
    p = subprocess.Popen([evd_bin, "--socket", os.path.join(d, "evd.sock"),
                          "--state-dir", os.path.join(d, "state"), "--log-level", "warning"]
                         + extra, env=dict(os.environ, NOTIFY_SOCKET=npath),
                         stderr=open(os.path.join(d, "evd.log"), "ab"))
    while b"READY=1" not in ns.recv(4096):
        pass
    ns.close()
    return p


def start_redis(d: str, durable: bool) -> subprocess.Popen:
    sock = os.path.join(d, "redis.sock")
    argv = ["redis-server", "--port", "0", "--unixsocket", sock, "--dir", d,
            "--save", "", "--appendonly", "yes" if durable else "no"]
    if durable:
        argv += ["--appendfsync", "always"]
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not os.path.exists(sock):
        if time.monotonic() > deadline:
            raise RuntimeError("redis-server did not start")
        time.sleep(0.02)
    return p


def stop(p: subprocess.Popen) -> None:
    os.kill(p.pid, signal.SIGTERM)
    p.wait(30)


def server_cpu(pid: int) -> float:
    """The seconds of CPU a process has run (Linux's schedstat, ns)."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return float("nan")


class Sample:
    """One round of one client: schedules/s, this process's CPU and the
    server's CPU per schedule (us)."""

    def __init__(self, n: int, wall: float, cpu: float, srv: float) -> None:
        self.rate = n / wall
        self.cpu = cpu / n * 1e6
        self.srv = srv / n * 1e6


async def timed(n: int, srv_pid: int, body) -> Sample:
    s0 = server_cpu(srv_pid)
    t0, c0 = time.perf_counter(), time.process_time()
    await body()
    dt = time.perf_counter() - t0
    return Sample(n, dt, time.process_time() - c0, server_cpu(srv_pid) - s0)


async def rounds(evd_sock: str, evd_pid: int, redis_sock: str, redis_pid: int,
                 n: int, count: int, touch: bool) -> dict:
    """count measured rounds (after one warm-up) of each client, taking
    turns within each round so that all see the same machine."""
    import evd
    out: dict = {"evd call_later, await": [], "evd call_later, gather": [],
                 "evd pipeline, execute": []}
    r_ = None
    if redis_sock:
        import redis.asyncio as aioredis
        r_ = aioredis.Redis(unix_socket_path=redis_sock)
        out["redis-py ZADD"] = []
    base = 0
    async with evd.connect(evd_sock, name="py_bench") as ev:
        async def evd_await() -> None:
            futs = [ev.call_later(3600, channel="bench", payload=b"job") for _ in range(n)]
            # Replies come in request order: awaiting each in turn is the
            # cheapest way to collect them (gather adds a callback each).
            if touch:
                for f in futs:
                    (await f).id
            else:
                for f in futs:
                    await f

        async def evd_gather() -> None:
            hs = await asyncio.gather(*[ev.call_later(3600, channel="bench", payload=b"job")
                                        for _ in range(n)])
            if touch:
                for h in hs:
                    h.id

        async def evd_pipe() -> None:
            async with ev.pipeline() as p:
                for _ in range(n):
                    p.call_later(3600, channel="bench", payload=b"job")
                hs = await p.execute()
            if touch:
                for h in hs:
                    h.id

        async def redis_pipe() -> None:
            nonlocal base
            async with r_.pipeline(transaction=False) as p:
                for i in range(n):
                    p.zadd("delayed", {f"job-{base + i}": time.time() + 3600})
                await p.execute()
            base += n

        try:
            for r in range(count + 1):
                got = [("evd call_later, await", await timed(n, evd_pid, evd_await)),
                       ("evd call_later, gather", await timed(n, evd_pid, evd_gather)),
                       ("evd pipeline, execute", await timed(n, evd_pid, evd_pipe))]
                if r_ is not None:
                    got.append(("redis-py ZADD", await timed(n, redis_pid, redis_pipe)))
                if r:
                    for name, smp in got:
                        out[name].append(smp)
        finally:
            if r_ is not None:
                await r_.close()
    return out


def evctl_rate(evctl: str, sock: str, calls: int) -> float:
    env = dict(os.environ, EVD_SOCKET=sock)
    t0 = time.perf_counter()
    for _ in range(calls):
        subprocess.run([evctl, "later", "3600", "--channel", "bench", "--payload", "job"],
                       env=env, stdout=subprocess.DEVNULL, check=True)
    return calls / (time.perf_counter() - t0)


def run_loop(kind: str, coro) -> list:
    factory = None
    if kind == "uvloop":
        import uvloop
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as r:
        return r.run(coro)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="the evd build directory")
    ap.add_argument("--n", type=int, default=10000, help="timers in flight per round")
    ap.add_argument("--rounds", type=int, default=7, help="measured rounds per row")
    ap.add_argument("--evctl-calls", type=int, default=100)
    ap.add_argument("--placement", choices=["memory", "durable", "both"], default="both")
    ap.add_argument("--touch", action="store_true",
                    help="read each handle's timer id (decodes every reply)")
    a = ap.parse_args()
    sys.path.insert(0, os.path.join(a.build, "client", "python"))
    evd_bin = os.path.join(a.build, "evd")
    evctl = os.path.join(a.build, "client", "evctl")
    loops = ["asyncio"]
    try:
        import uvloop
        del uvloop
        loops.append("uvloop")
    except ImportError:
        print("py_bench: uvloop not installed (python3-uvloop): its rows are skipped")
    have_redis = shutil.which("redis-server") is not None
    try:
        import redis.asyncio
        del redis
    except ImportError:
        have_redis = False
    if not have_redis:
        print("py_bench: redis-server or python3-redis missing: no redis-py rows")
    placements = ["memory", "durable"] if a.placement == "both" else [a.placement]
    print(f"py_bench: {a.n} pipelined schedules per round, median of {a.rounds} rounds; "
          f"python {sys.version.split()[0]}")
    print("(rounds alternate the clients; ratios are medians of per-round ratios.\n"
          " cpu: this process's CPU us per schedule; srv: the server's (evd or\n"
          " redis-server); x cpu: redis-py's cpu / evd's; x all: the same with the\n"
          " servers' added. CPU figures depend less on the machine's load than rates)")
    print(f"load average: {os.getloadavg()[0]:.2f}")
    print(f"{'placement':<9} {'loop':<8} {'client':<24} {'median/s':>9} {'min/s':>9} "
          f"{'max/s':>9} {'evd/redis':>9} {'cpu':>7} {'x cpu':>7} {'srv':>7} {'x all':>7}")
    for pl in placements:
        d = tempfile.mkdtemp(prefix="py_bench.")
        try:
            e = start_evd(evd_bin, d, ["--store", "memory"] if pl == "memory" else [])
            rs = start_redis(d, pl == "durable") if have_redis else None
            sock = os.path.join(d, "evd.sock")
            try:
                for lk in loops:
                    res = run_loop(lk, rounds(sock, e.pid,
                                              os.path.join(d, "redis.sock") if rs else "",
                                              rs.pid if rs else 0, a.n, a.rounds, a.touch))
                    red = res.get("redis-py ZADD")
                    for name, smp in res.items():
                        med = statistics.median(x.rate for x in smp)
                        cpu = statistics.median(x.cpu for x in smp)
                        srv = statistics.median(x.srv for x in smp)
                        ratio = cratio = tratio = ""
                        if red is not None and name.startswith("evd"):
                            # Per round: the two ran back to back.
                            ratio = "%.2fx" % statistics.median(
                                x.rate / y.rate for x, y in zip(smp, red))
                            cratio = "%.2fx" % statistics.median(
                                y.cpu / x.cpu for x, y in zip(smp, red))
                            tratio = "%.2fx" % statistics.median(
                                (y.cpu + y.srv) / (x.cpu + x.srv) for x, y in zip(smp, red))
                        rates = [x.rate for x in smp]
                        print(f"{pl:<9} {lk:<8} {name:<24} {med:>9.0f} {min(rates):>9.0f} "
                              f"{max(rates):>9.0f} {ratio:>9} {cpu:>7.2f} {cratio:>7} "
                              f"{srv:>7.2f} {tratio:>7}")
                if os.path.exists(evctl):
                    r = evctl_rate(evctl, sock, a.evctl_calls)
                    print(f"{pl:<9} {'-':<8} {'evctl later (1/proc)':<22} {r:>10.0f}")
            finally:
                stop(e)
                if rs is not None:
                    stop(rs)
        finally:
            shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
