"""Enums and reply dataclasses of the evd protocol (proto/evd.proto).

Values mirror the protocol's enums number for number (the protocol never
renumbers). Reply dataclasses carry times as integer nanoseconds, with the
protocol's field names (``*_ns``); arguments to the client's calls take
seconds as floats, as asyncio does.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, Type, TypeVar, Union


class ErrorCode(enum.IntEnum):
    """evd.ErrorCode: the code of an Error reply."""

    UNSPECIFIED = 0
    INVALID_ARGUMENT = 1
    NOT_FOUND = 2
    PERMISSION_DENIED = 3
    RESOURCE_EXHAUSTED = 4
    UNAVAILABLE = 5
    INTERNAL = 6
    PROTOCOL = 7
    UNSUPPORTED_VERSION = 8
    FAILED_PRECONDITION = 9


class Clock(enum.IntEnum):
    """The clock a deadline is on."""

    MONOTONIC = 0  # the daemon's CLOCK_MONOTONIC (asyncio's loop.time())
    REALTIME = 1  # wall clock
    BOOTTIME = 2  # counts suspend


class TimerState(enum.IntEnum):
    UNSPECIFIED = 0
    PENDING = 1
    FIRED = 2
    CANCELLED = 3
    PAUSED = 4


class Misfire(enum.IntEnum):
    """What a timer whose deadline passed while evd was down does."""

    FIRE = 0
    SKIP = 1
    ALL = 2


class DstGap(enum.IntEnum):
    SHIFT = 0
    SKIP = 1
    UTC = 2


class DstOverlap(enum.IntEnum):
    FIRST = 0
    SECOND = 1
    BOTH = 2


class Overlap(enum.IntEnum):
    """A repeating exec hook's next fire while its previous run runs."""

    SKIP = 0
    QUEUE_ONE = 1
    ALLOW = 2
    TERMINATE_PREVIOUS = 3


class Delivery(enum.IntEnum):
    AT_LEAST_ONCE = 0
    AT_MOST_ONCE = 1


class Downtime(enum.IntEnum):
    COUNTS = 0
    PAUSED = 1


class RunOutcome(enum.IntEnum):
    UNSPECIFIED = 0
    DELIVERED = 1
    QUEUED = 2
    ACKED = 3
    REDELIVERED = 4
    DEAD_LETTERED = 5
    SKIPPED = 6
    LOST = 7
    EXEC_STARTED = 8
    EXEC_EXITED = 9
    EXEC_SIGNALED = 10
    EXEC_TIMED_OUT = 11
    EXEC_FAILED = 12
    CANCELLED = 13


E = TypeVar("E", bound=enum.IntEnum)


def enum_value(cls: Type[E], v: Union[E, str, int]) -> E:
    """Accepts an enum member, its value, or its name in any case
    ("skip", "at_most_once", "queue-one")."""
    if isinstance(v, cls):
        return v
    if isinstance(v, str):
        try:
            return cls[v.strip().upper().replace("-", "_")]
        except KeyError:
            names = ", ".join(m.name.lower() for m in cls)
            raise ValueError(f"{cls.__name__}: {v!r} is not one of {names}") from None
    return cls(v)


def _safe_enum(cls: Type[E], v: int) -> Union[E, int]:
    # A newer daemon may send a value this client does not know yet.
    try:
        return cls(v)
    except ValueError:
        return v  # type: ignore[return-value]


@dataclass
class Exec:
    """An exec hook: run a command as the timer's owner when it fires.

    argv[0] is an absolute path or a name looked up in
    /usr/local/bin:/usr/bin:/bin; with ``shell=True`` argv has one element,
    the command for /bin/sh -c. Durations are in seconds.
    """

    argv: Sequence[str]
    shell: bool = False
    env: Sequence[str] = ()  # "KEY=VALUE" entries
    cwd: Optional[str] = None
    timeout: Optional[float] = None  # seconds; None: no timeout
    user: Optional[str] = None  # default: the caller's login name
    properties: Sequence[str] = ()  # systemd-run -p style "Key=Value"
    retry: int = 0  # run a failed run again up to this many times
    retry_delay: Optional[float] = None  # seconds, doubling per retry
    on_failure: Optional[str] = None  # channel told about a final failure
    attempt: int = 0  # set by the daemon only (read back in TimerInfo)


@dataclass
class Repeat:
    every_ns: int = 0
    count: int = 0
    calendar: str = ""
    tz: str = ""
    dst_gap: DstGap = DstGap.SHIFT
    dst_overlap: DstOverlap = DstOverlap.FIRST


@dataclass
class TimerOptions:
    misfire: Misfire = Misfire.FIRE
    delivery: Delivery = Delivery.AT_LEAST_ONCE
    max_attempts: int = 0
    downtime: Downtime = Downtime.COUNTS
    repeat: Optional[Repeat] = None
    overlap: Overlap = Overlap.SKIP
    randomized_delay_ns: int = 0
    accuracy_ns: int = 0


@dataclass
class Callback:
    """What a timer does when it fires: channel, exec, or (neither) a
    Fired event to the connection that scheduled it."""

    channel: Optional[str] = None
    exec: Optional[Exec] = None
    payload: bytes = b""


@dataclass(slots=True)  # one per schedule: no __dict__ for the GC to scan
class Scheduled:
    """The reply to a scheduling request."""

    timer_id: int
    clock: Clock
    deadline_ns: int  # on `clock`
    due_realtime_ns: int
    existing: bool  # the key matched an existing timer


@dataclass
class Run:
    """One fire of a timer (history entries, and what a Wait returns)."""

    fire_id: int = 0
    due_realtime_ns: int = 0
    fired_realtime_ns: int = 0
    lateness_ns: int = 0
    outcome: RunOutcome = RunOutcome.UNSPECIFIED
    detail: str = ""
    exit_code: int = 0
    signal: int = 0
    duration_ns: int = 0
    stdout_tail: bytes = b""
    stderr_tail: bytes = b""


@dataclass
class TimerInfo:
    timer_id: int
    owner_uid: int
    owner_gid: int
    state: TimerState
    clock: Clock
    deadline_ns: int
    due_realtime_ns: int
    created_realtime_ns: int
    callback: Callback
    key: Optional[str]
    fire_count: int
    last_fired_realtime_ns: int
    history: list[Run] = field(default_factory=list)  # newest first; get() only
    options: Optional[TimerOptions] = None


@dataclass
class TimerList:
    timers: list[TimerInfo]
    next_after_id: int  # 0: no more pages


@dataclass
class TimeInfo:
    """The daemon's clocks (the Time request), in nanoseconds."""

    monotonic_ns: int
    realtime_ns: int
    boottime_ns: int

    @property
    def monotonic(self) -> float:
        """asyncio's loop.time() of the daemon, in seconds."""
        return self.monotonic_ns / 1e9


@dataclass
class ClusterStats:
    """The node, in cluster mode (evd(8), CLUSTER MODE): its id, whether
    its lease is live, the claims it holds, its fence losses, reaps and
    lease lapses, and the database's latency (heartbeat round trips)."""
    node: str = ""
    lease_live: bool = False
    claims_held: int = 0
    claimed_total: int = 0
    fence_losses: int = 0
    reaped_nodes: int = 0
    reaped_timers: int = 0
    lease_lapses: int = 0
    lease_gaps: int = 0
    db_rtt_last_ns: int = 0
    db_rtt_p99_ns: int = 0
    db_rtt_max_ns: int = 0
    db_rtt_samples: int = 0
    db_rtt_pending_ns: int = 0


@dataclass
class Stats:
    pending_timers: int = 0
    connections: int = 0
    scheduled_total: int = 0
    fired_total: int = 0
    cancelled_total: int = 0
    channels: int = 0
    queued_messages: int = 0
    inflight_messages: int = 0
    redelivered_total: int = 0
    dropped_total: int = 0
    uptime_ns: int = 0
    server_version: str = ""
    store: str = ""
    dead_messages: int = 0
    clock_steps: int = 0
    tz_changes: int = 0
    utc_offset_s: int = 0
    # The node, in cluster mode; None on a single node.
    cluster: Optional[ClusterStats] = None


@dataclass
class ChannelGrantEntry:
    uid: Optional[int]
    gid: Optional[int]
    subscribe: bool
    publish: bool


@dataclass
class ChannelInfo:
    channel: str
    owner_uid: int
    grants: list[ChannelGrantEntry]
    queued_messages: int
    inflight_messages: int
    dead_messages: int
    subscribers: int


@dataclass
class Fired:
    """A fire: a caller timer's event, or a channel message."""

    timer_id: int
    fire_id: int
    channel: Optional[str]
    payload: bytes
    due_realtime_ns: int
    fired_realtime_ns: int
    lateness_ns: int
    attempt: int
    # Why the message's last delivery failed: a reject's reason, or the
    # daemon's "not acked within the visibility timeout"; None until one
    # failed (channel messages only: redeliveries, requeued dead letters,
    # and dead letters in list_dead()).
    reason: Optional[str] = None


@dataclass
class Rejected:
    """What became of a rejected message: dead, it went to the channel's
    dead letters; otherwise it is delivered again redeliver_in_ns from
    now (the channel's redelivery backoff)."""

    fire_id: int
    dead: bool
    redeliver_in_ns: int


@dataclass
class DeadList:
    """One page of dead letters; each message's reason says why its last
    delivery failed."""

    messages: list[Fired]
    next_after_fire_id: int  # 0: no more pages


@dataclass
class ServerInfo:
    """What the daemon said in its Welcome."""

    protocol_version: int
    server_version: str
    monotonic_now_ns: int
    realtime_now_ns: int
    boot_id: str


@dataclass
class ConnectionEvent:
    """Reported to connect(on_event=...). kind: "lost" (the connection
    failed; lost_timers names the caller timers that died with it),
    "restored" (reconnected, Hello done, channels subscribed again),
    "resubscribe_failed" (channel names it; error says why)."""

    kind: str
    reason: str = ""
    lost_timers: list[int] = field(default_factory=list)
    channel: Optional[str] = None
    error: Optional[BaseException] = None


# ---- protobuf -> dataclass ----


def _opt(msg: Any, name: str) -> Any:
    return getattr(msg, name) if msg.HasField(name) else None


_CLOCKS = tuple(Clock)


def conv_scheduled(m: Any) -> Scheduled:
    c = m.clock  # hot: every schedule's reply
    return Scheduled(m.timer_id, _CLOCKS[c] if c < 3 else c, m.deadline_ns,
                     m.due_realtime_ns, m.existing)


def conv_run(m: Any) -> Run:
    return Run(m.fire_id, m.due_realtime_ns, m.fired_realtime_ns, m.lateness_ns,
               _safe_enum(RunOutcome, m.outcome), m.detail, m.exit_code,  # type: ignore[arg-type]
               m.signal, m.duration_ns, bytes(m.stdout_tail), bytes(m.stderr_tail))


def conv_exec(m: Any) -> Exec:
    return Exec(argv=list(m.argv), shell=m.shell, env=list(m.env),
                cwd=_opt(m, "cwd"),
                timeout=m.timeout_ns / 1e9 if m.timeout_ns else None,
                user=_opt(m, "user"), properties=list(m.properties),
                retry=m.retry,
                retry_delay=m.retry_delay_ns / 1e9 if m.HasField("retry_delay_ns") else None,
                on_failure=_opt(m, "on_failure"), attempt=m.attempt)


def conv_callback(m: Any) -> Callback:
    target = m.WhichOneof("target")
    return Callback(channel=m.channel if target == "channel" else None,
                    exec=conv_exec(m.exec) if target == "exec" else None,
                    payload=bytes(m.payload))


def conv_options(m: Any) -> TimerOptions:
    rep = None
    if m.HasField("repeat"):
        r = m.repeat
        rep = Repeat(r.every_ns, r.count, r.calendar, r.tz,
                     _safe_enum(DstGap, r.dst_gap), _safe_enum(DstOverlap, r.dst_overlap))  # type: ignore[arg-type]
    return TimerOptions(_safe_enum(Misfire, m.misfire), _safe_enum(Delivery, m.delivery),  # type: ignore[arg-type]
                        m.max_attempts, _safe_enum(Downtime, m.downtime), rep,  # type: ignore[arg-type]
                        _safe_enum(Overlap, m.overlap), m.randomized_delay_ns,  # type: ignore[arg-type]
                        m.accuracy_ns)


def conv_timer(m: Any) -> TimerInfo:
    return TimerInfo(m.timer_id, m.owner_uid, m.owner_gid,
                     _safe_enum(TimerState, m.state), _safe_enum(Clock, m.clock),  # type: ignore[arg-type]
                     m.deadline_ns, m.due_realtime_ns, m.created_realtime_ns,
                     conv_callback(m.callback), _opt(m, "key"), m.fire_count,
                     m.last_fired_realtime_ns, [conv_run(r) for r in m.history],
                     conv_options(m.options) if m.HasField("options") else None)


def conv_time(m: Any) -> TimeInfo:
    return TimeInfo(m.monotonic_ns, m.realtime_ns, m.boottime_ns)


def conv_stats(m: Any) -> Stats:
    s = Stats()
    for name in Stats.__dataclass_fields__:
        if name != "cluster":
            setattr(s, name, getattr(m, name))
    if m.HasField("cluster"):
        c = ClusterStats()
        for name in ClusterStats.__dataclass_fields__:
            setattr(c, name, getattr(m.cluster, name))
        s.cluster = c
    return s


def conv_channel(m: Any) -> ChannelInfo:
    grants = []
    for g in m.grants:
        who = g.WhichOneof("who")
        grants.append(ChannelGrantEntry(g.uid if who == "uid" else None,
                                        g.gid if who == "gid" else None,
                                        g.subscribe, g.publish))
    return ChannelInfo(m.channel, m.owner_uid, grants, m.queued_messages,
                       m.inflight_messages, m.dead_messages, m.subscribers)


def conv_fired(m: Any) -> Fired:
    return Fired(m.timer_id, m.fire_id, _opt(m, "channel"), bytes(m.payload),
                 m.due_realtime_ns, m.fired_realtime_ns, m.lateness_ns, m.attempt,
                 _opt(m, "reason"))
