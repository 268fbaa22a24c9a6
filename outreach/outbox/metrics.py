"""Outbox metrics for `/metrics`, correct across every API and worker process.

Gauges (messages per state, queue lag, phones per state) are read from the
database at scrape time. Counters, the gateway latency histogram and the send
rate are events that happen in worker processes, possibly on other hosts: they are
added up in Redis (one pipelined round trip per batch) and exposed by the API at
scrape time. A Redis restart resets them, which Prometheus treats as any counter
reset. Recording never fails the caller.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from sqlalchemy import func
from sqlmodel import Session, col, select

from outreach.db import get_engine
from outreach.outbox.models import OutboundMessage, is_sendable
from outreach.registry.models import Phone
from outreach.timeutil import utcnow

log = logging.getLogger(__name__)

_COUNTERS_KEY = "outreach:metrics:counters"
_LATENCY_KEY = "outreach:metrics:gateway_latency"
_SENT_KEY = "outreach:metrics:sent:"
RATE_WINDOW = 60
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# name -> (help, label names). Every counter the pipeline may increment.
COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "outreach_outbox_transitions": (
        "Messages entering a state, by the reason (send code, report failureReason, rule)",
        ("status", "reason"),
    ),
    "outreach_gateway_calls": (
        "Gateway send calls by outcome (accepted, http_error, timeout, connection_error)",
        ("outcome",),
    ),
    "outreach_gateway_account_problems": (
        "Recipients held because the gateway account is at fault (402, 405)",
        ("code",),
    ),
    "outreach_phones_marked": (
        "Phones marked invalid, opted out or unreachable by gateway answers and reports",
        ("status",),
    ),
    "outreach_outbox_possible_duplicates": (
        "Recipients sent again after a try the gateway may have accepted",
        ("cause",),
    ),
    "outreach_chw_pin_lockouts": ("CHW accounts locked out of USSD by wrong PINs", ()),
    "outreach_chw_pin_lockout_alerts": (
        "Alerts to staff about a CHW locked out repeatedly within the window",
        (),
    ),
}

Event = tuple[str, tuple[str, ...], int]


def transition(status: str, reason: str | None = None, amount: int = 1) -> Event:
    """A counter event: `amount` messages moved to `status`."""
    return ("outreach_outbox_transitions", (str(status), reason or ""), amount)


def event(name: str, *labels: str, amount: int = 1) -> Event:
    """A counter event for one of COUNTERS."""
    return (name, labels, amount)


def record(
    events: Iterable[Event] = (),
    *,
    latency: float | None = None,
    sent: int = 0,
) -> None:
    """Add counter events, one gateway latency and accepted recipients, in one round trip."""
    totals: Counter[str] = Counter()
    for name, labels, amount in events:
        if amount:
            totals[_field(name, labels)] += amount
    if not totals and latency is None and not sent:
        return
    try:
        from outreach.redis import get_redis

        pipe = get_redis().pipeline(transaction=False)
        for fld, amount in totals.items():
            pipe.hincrby(_COUNTERS_KEY, fld, amount)
        if latency is not None:
            for bound in LATENCY_BUCKETS:
                if latency <= bound:
                    pipe.hincrby(_LATENCY_KEY, f"le:{bound}", 1)
            pipe.hincrby(_LATENCY_KEY, "count", 1)
            pipe.hincrbyfloat(_LATENCY_KEY, "sum", latency)
        if sent:
            key = f"{_SENT_KEY}{int(time.time())}"
            pipe.incrby(key, sent)
            pipe.expire(key, RATE_WINDOW * 3)
        pipe.execute()
    except (RedisError, RuntimeError, OSError) as exc:
        log.warning("metrics not recorded: %s", exc)


def _field(name: str, labels: tuple[str, ...]) -> str:
    return "\x1f".join((name, *labels))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _counter_families(raw: dict[Any, Any]) -> Iterator[Metric]:
    families = {
        name: CounterMetricFamily(name, help_, labels=list(labels))
        for name, (help_, labels) in COUNTERS.items()
    }
    for fld, value in sorted(raw.items()):
        name, *labels = _text(fld).split("\x1f")
        family = families.get(name)
        if family is not None and len(labels) == len(COUNTERS[name][1]):
            family.add_metric(labels, int(value))
    yield from families.values()


def _latency_family(raw: dict[Any, Any]) -> HistogramMetricFamily:
    values = {_text(k): _text(v) for k, v in raw.items()}
    count = int(values.get("count", 0))
    buckets = [(str(b), int(values.get(f"le:{b}", 0))) for b in LATENCY_BUCKETS]
    buckets.append(("+Inf", count))
    family = HistogramMetricFamily(
        "outreach_gateway_latency_seconds", "Duration of gateway send calls"
    )
    family.add_metric([], buckets, sum_value=float(values.get("sum", 0.0)))
    return family


def _send_rate(redis: Any) -> float:
    now = int(time.time())
    # Whole seconds only: the current one is still filling up.
    keys = [f"{_SENT_KEY}{second}" for second in range(now - RATE_WINDOW, now)]
    return sum(int(v) for v in redis.mget(keys) if v) / RATE_WINDOW


class OutboxCollector(Collector):
    """Messages per state, queue lag, phones per state, and the pipeline's counters."""

    def collect(self) -> Iterator[Metric]:
        by_state = GaugeMetricFamily(
            "outreach_outbox_messages", "Outbox messages by state", labels=["status"]
        )
        lag = GaugeMetricFamily(
            "outreach_outbox_lag_seconds", "Age of the oldest due message not yet sent"
        )
        phones = GaugeMetricFamily(
            "outreach_phones",
            "Phones by state (unreachable: repeated failed deliveries, for staff to check)",
            labels=["status"],
        )
        with Session(get_engine()) as session:
            for status, count in session.exec(
                select(OutboundMessage.status, func.count()).group_by(col(OutboundMessage.status))
            ):
                by_state.add_metric([status], count)
            oldest = session.exec(
                select(func.min(OutboundMessage.due_at)).where(
                    is_sendable(),
                    col(OutboundMessage.due_at) <= utcnow(),
                )
            ).first()
            for status, count in session.exec(
                select(Phone.status, func.count()).group_by(col(Phone.status))
            ):
                phones.add_metric([status], count)
        lag.add_metric([], (utcnow() - oldest).total_seconds() if oldest else 0.0)
        yield by_state
        yield lag
        yield phones
        try:
            from outreach.redis import get_redis

            redis = get_redis()
            counters = redis.hgetall(_COUNTERS_KEY)
            latency = redis.hgetall(_LATENCY_KEY)
            rate = _send_rate(redis)
        except (RedisError, RuntimeError, OSError) as exc:
            log.warning("pipeline counters unavailable: %s", exc)
            return
        yield from _counter_families(counters)
        yield _latency_family(latency)
        send_rate = GaugeMetricFamily(
            "outreach_outbox_send_rate",
            f"Recipients accepted by the gateway per second, over the last {RATE_WINDOW} s",
        )
        send_rate.add_metric([], rate)
        yield send_rate
