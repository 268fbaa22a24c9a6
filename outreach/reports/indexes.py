"""Indexes the dashboard's aggregates need, on tables other packages own.

Kept here so the read side's needs stay visible in one place; creating an `Index` on
table columns attaches it to the table's metadata (and so to Alembic's comparison).
"""

from __future__ import annotations

from sqlalchemy import Index

from outreach.outbox.models import DeliveryReport, OutboundMessage

_out = OutboundMessage.__table__.c  # type: ignore[attr-defined]
_dr = DeliveryReport.__table__.c  # type: ignore[attr-defined]

INDEXES = (
    # Messages per day and status: an index-only range scan over the last 30 days.
    Index("ix_outbound_message_created_status", _out.created_at, _out.status),
    # The cost this month: the range of sent_at, with the cost read from the index.
    Index("ix_outbound_message_sent_cost", _out.sent_at, _out.cost),
    # Delivery rate per network over the last 30 days.
    Index("ix_delivery_report_received", _dr.received_at, _dr.status, _dr.network_code),
)
