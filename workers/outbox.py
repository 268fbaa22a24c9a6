"""Outbox tasks. They carry IDs at most; the database rows say what to do."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError

from outreach.config import get_settings
from outreach.db import unit_of_work
from outreach.gateways.factory import get_gateway
from outreach.outbox import delivery, service
from outreach.outbox.ratelimit import get_bucket
from outreach.redis import get_redis
from workers.app import celery_app

log = logging.getLogger(__name__)

# Held by whichever process runs the sweeper, so a busy fleet runs it once per interval.
SWEEP_LOCK = "outreach:outbox:sweep"


# Celery's own retries are only for a database that is briefly unreachable; gateway
# retries are due times in the database.
DB_RETRY: dict[str, Any] = {
    "autoretry_for": (OperationalError,),
    "max_retries": 3,
    "retry_backoff": 1,
    "retry_backoff_max": 5,
    "retry_jitter": True,
}


def _owner() -> str:
    # Read at call time: prefork children share the parent's import but not its pid.
    return f"{socket.gethostname()}:{os.getpid()}"


@celery_app.task(
    name="outbox.drain",
    queue="outbox",
    **DB_RETRY,
)
def drain() -> dict[str, int]:
    """Send due messages in batches, highest lane first, until none is due or time is up."""
    settings = get_settings()
    service.wake_taken()
    result = delivery.drain(
        gateway=get_gateway(),
        bucket=get_bucket(),
        owner=_owner(),
        max_seconds=settings.drain_max_seconds,
        on_idle_tick=_sweep_when_due,
    )
    if result.more:
        # Hand over rather than run forever; the successor keeps the backlog moving
        # even without beat.
        celery_app.send_task(service.DRAIN_TASK, queue=service.SEND_QUEUE)
    return {
        "batches": result.batches,
        "calls": result.calls,
        "accepted": result.accepted,
        "released": result.released,
    }


@celery_app.task(
    name="outbox.sweep",
    queue="maintenance",
    **DB_RETRY,
)
def sweep() -> dict[str, int]:
    """Reclaim expired leases, apply quiet hours and validity, and wake a drain if due."""
    result = _sweep()
    return {
        "reclaimed": result.reclaimed,
        "deferred": result.deferred,
        "cancelled": result.cancelled,
        "reports_matched": result.reports_matched,
        "due": int(result.due),
    }


def _sweep() -> service.SweepResult:
    with unit_of_work() as session:
        result = service.sweep(session)
    if result.due:
        service.wake()
    return result


def _sweep_when_due() -> None:
    # While every worker is busy draining, the maintenance queue may wait: the drains
    # take turns at the sweeper themselves, once per interval across the fleet.
    interval_ms = int(get_settings().sweep_interval_seconds * 1000)
    try:
        if not get_redis().set(SWEEP_LOCK, _owner(), nx=True, px=max(interval_ms, 100)):
            return
    except RedisError:
        return
    try:
        with unit_of_work() as session:
            service.sweep(session)
    except OperationalError as exc:
        log.warning("sweep inside a drain failed: %s", exc)
