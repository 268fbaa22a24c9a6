"""Outbox metrics, read from the database at scrape time so every process agrees."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func
from sqlmodel import Session, col, select

from outreach.db import get_engine
from outreach.outbox.models import OutboundMessage, is_sendable
from outreach.timeutil import utcnow


class OutboxCollector(Collector):
    """Messages per state and the age of the oldest due message (queue lag)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        by_state = GaugeMetricFamily(
            "outreach_outbox_messages", "Outbox messages by state", labels=["status"]
        )
        lag = GaugeMetricFamily(
            "outreach_outbox_lag_seconds", "Age of the oldest due message not yet sent"
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
        lag.add_metric([], (utcnow() - oldest).total_seconds() if oldest else 0.0)
        yield by_state
        yield lag
