"""Outbox tasks. They carry IDs only; the database row says what to do."""

from __future__ import annotations

import os
import socket

from sqlalchemy.exc import OperationalError

from outreach.db import unit_of_work
from outreach.gateways.factory import get_gateway
from outreach.outbox import delivery, service
from workers.app import celery_app

_OWNER = f"{socket.gethostname()}:{os.getpid()}"


@celery_app.task(
    name="outbox.send_message",
    queue="outbox",
    autoretry_for=(OperationalError,),
    max_retries=3,
    retry_backoff=1,
    retry_backoff_max=5,
    retry_jitter=True,
)
def send_message(message_id: int) -> str:
    """Send one outbox message if it is still due; do nothing otherwise."""
    return delivery.send_one(message_id=message_id, gateway=get_gateway(), owner=_OWNER)


@celery_app.task(
    name="outbox.sweep",
    queue="maintenance",
    autoretry_for=(OperationalError,),
    max_retries=2,
    retry_backoff=1,
    retry_backoff_max=5,
)
def sweep() -> dict[str, int]:
    """Reclaim expired leases and wake due messages that no worker is handling."""
    with unit_of_work() as session:
        result = service.sweep(session)
    return {
        "reclaimed": result.reclaimed,
        "woken": result.woken,
        "reports_matched": result.reports_matched,
    }
