"""SMS received from beneficiaries, and gateway opt-out notifications."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from outreach.timeutil import utcnow


class InboundMessage(SQLModel, table=True):
    __tablename__ = "inbound_message"

    id: int | None = Field(default=None, primary_key=True)
    # The gateway retries until it gets a 200, so its id is the idempotency key.
    gateway_id: str = Field(max_length=100, unique=True)
    from_number: str = Field(max_length=40, index=True)
    to: str | None = Field(default=None, max_length=40)
    text: str = Field(sa_column=Column(Text, nullable=False))
    link_id: str | None = Field(default=None, max_length=100)
    network_code: str | None = Field(default=None, max_length=10)
    sent_date: str | None = Field(default=None, max_length=30)
    beneficiary_id: int | None = Field(default=None, foreign_key="beneficiary.id", index=True)
    # What it was understood as (outreach.inbound.service.Kind); `other` is the staff inbox.
    intent: str | None = Field(default=None, max_length=20, index=True)
    received_at: datetime = Field(default_factory=utcnow)
    # Staff inbox: who follows it up, and when it was dealt with.
    assigned_user_id: int | None = Field(default=None, foreign_key="staff_user.id")
    handled_at: datetime | None = None
    handled_by_user_id: int | None = Field(default=None, foreign_key="staff_user.id")


class OptOutNotice(SQLModel, table=True):
    __tablename__ = "optout_notice"

    id: int | None = Field(default=None, primary_key=True)
    phone_number: str = Field(max_length=40, index=True)
    sender_id: str | None = Field(default=None, max_length=40)
    received_at: datetime = Field(default_factory=utcnow)
