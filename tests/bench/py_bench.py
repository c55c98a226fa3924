#!/usr/bin/env python3
"""py_bench: pipelined call_later from one Python process with the asyncio
client evd, on asyncio's default loop and on uvloop, against redis-py's
asyncio client doing pipelined ZADD (the delayed-job idiom) to a
redis-server on a private Unix socket, and against evctl (one process per
call), all started by this script in the same run.

    tests/bench/py_bench.py [--build build] [--n 10000] [--rounds 7]

Two placements: "memory" (evd --store memory; redis without persistence)
and "durable" (evd's SQLite store, fsync per commit; redis with
appendonly yes and appendfsync always). Each round schedules --n timers
(channel message, 3-byte payload; ZADD of a member with a score) through
one connection, all in flight at once, and times until the last reply; the
first round is a warm-up. Prints each client's median rate and evd's ratio
to redis-py on the same loop. Needs python3-redis and redis-server
(Debian); python3-uvloop for the uvloop rows. A benchmark, not a test.
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


async def evd_rounds(sock: str, n: int, rounds: int) -> list:
    import evd
    rates = []
    async with evd.connect(sock, name="py_bench") as ev:
        for r in range(rounds + 1):
            t0, c0 = time.perf_counter(), time.process_time()
            futs = [ev.call_later(3600, channel="bench", payload=b"job") for _ in range(n)]
            # Replies come in request order: awaiting each in turn is the
            # cheapest way to collect them (gather adds a callback each).
            for f in futs:
                await f
            dt = time.perf_counter() - t0
            if r:
                rates.append((n / dt, (time.process_time() - c0) / n * 1e6))
    return rates


async def redis_rounds(sock: str, n: int, rounds: int) -> list:
    import redis.asyncio as aioredis
    rates = []
    r_ = aioredis.Redis(unix_socket_path=sock)
    try:
        base = 0
        for r in range(rounds + 1):
            t0, c0 = time.perf_counter(), time.process_time()
            async with r_.pipeline(transaction=False) as p:
                for i in range(n):
                    p.zadd("delayed", {f"job-{base + i}": time.time() + 3600})
                await p.execute()
            dt = time.perf_counter() - t0
            base += n
            if r:
                rates.append((n / dt, (time.process_time() - c0) / n * 1e6))
    finally:
        await r_.close()
    return rates


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
    print("(cpu us/op: this process's CPU time per schedule, median; it depends less on\n"
          " what else the machine runs than the rates do)")
    print(f"{'placement':<9} {'loop':<8} {'client':<22} {'median/s':>10} {'min/s':>10} "
          f"{'max/s':>10} {'evd/redis':>9} {'cpu us/op':>9} {'cpu ratio':>9}")
    for pl in placements:
        d = tempfile.mkdtemp(prefix="py_bench.")
        try:
            e = start_evd(evd_bin, d, ["--store", "memory"] if pl == "memory" else [])
            rs = start_redis(d, pl == "durable") if have_redis else None
            sock = os.path.join(d, "evd.sock")
            try:
                for lk in loops:
                    ev_rates = run_loop(lk, evd_rounds(sock, a.n, a.rounds))
                    rows = [("evd call_later", ev_rates)]
                    if rs is not None:
                        rows.append(("redis-py ZADD", run_loop(lk, redis_rounds(
                            os.path.join(d, "redis.sock"), a.n, a.rounds))))
                    ratio = cratio = ""
                    med = [statistics.median(x for x, _ in rates) for _, rates in rows]
                    cpu = [statistics.median(c for _, c in rates) for _, rates in rows]
                    if len(rows) == 2:
                        ratio = f"{med[0] / med[1]:.2f}x"
                        cratio = f"{cpu[1] / cpu[0]:.2f}x"
                    for i, (name, rates) in enumerate(rows):
                        rs_ = [x for x, _ in rates]
                        ev_row = name.startswith("evd")
                        print(f"{pl:<9} {lk:<8} {name:<22} {med[i]:>10.0f} "
                              f"{min(rs_):>10.0f} {max(rs_):>10.0f} "
                              f"{ratio if ev_row else '':>9} {cpu[i]:>9.1f} "
                              f"{cratio if ev_row else '':>9}")
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
