"""USSD end-of-session notifications, kept for drop-off reporting."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Column, Numeric, Text
from sqlmodel import Field, SQLModel

from outreach.encryption import service as encryption
from outreach.encryption.types import EncryptedText
from outreach.timeutil import utcnow


class UssdSessionEvent(SQLModel, table=True):
    __tablename__ = "ussd_session_event"

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(max_length=100, unique=True)
    service_code: str | None = Field(default=None, max_length=40)
    phone_number: str | None = Field(default=None, sa_column=Column(EncryptedText))
    # Found by this keyed hash when one woman's data is exported or erased.
    phone_index: str | None = Field(
        default=None,
        max_length=32,
        index=True,
        sa_column_kwargs={"info": {encryption.BLIND_INDEX_OF: "phone_number"}},
    )
    network_code: str | None = Field(default=None, max_length=10)
    status: str = Field(max_length=20)
    cost: Decimal | None = Field(default=None, sa_column=Column(Numeric(12, 4)))
    duration_ms: int | None = None
    hops_count: int | None = None
    # What was typed and shown: names among them, so both are encrypted.
    input: str | None = Field(default=None, sa_column=Column(EncryptedText))
    last_app_response: str | None = Field(default=None, sa_column=Column(EncryptedText))
    error_message: str | None = Field(default=None, sa_column=Column(Text))
    event_date: str | None = Field(default=None, max_length=30)
    # The screen the caller last saw (our step name), for drop-off per screen.
    last_screen: str | None = Field(default=None, max_length=60, index=True)
    received_at: datetime = Field(default_factory=utcnow)


encryption.keep_derived(UssdSessionEvent)
