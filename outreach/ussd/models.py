"""USSD end-of-session notifications, kept for drop-off reporting."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Column, Numeric, Text
from sqlmodel import Field, SQLModel

from outreach.timeutil import utcnow


class UssdSessionEvent(SQLModel, table=True):
    __tablename__ = "ussd_session_event"

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(max_length=100, unique=True)
    service_code: str | None = Field(default=None, max_length=40)
    phone_number: str | None = Field(default=None, max_length=20)
    network_code: str | None = Field(default=None, max_length=10)
    status: str = Field(max_length=20)
    cost: Decimal | None = Field(default=None, sa_column=Column(Numeric(12, 4)))
    duration_ms: int | None = None
    hops_count: int | None = None
    input: str | None = Field(default=None, sa_column=Column(Text))
    last_app_response: str | None = Field(default=None, sa_column=Column(Text))
    error_message: str | None = Field(default=None, sa_column=Column(Text))
    event_date: str | None = Field(default=None, max_length=30)
    # The screen the caller last saw (our step name), for drop-off per screen.
    last_screen: str | None = Field(default=None, max_length=60, index=True)
    received_at: datetime = Field(default_factory=utcnow)
