"""SMS received from beneficiaries, and gateway opt-out notifications."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from outreach.encryption import service as encryption
from outreach.encryption.types import EncryptedText
from outreach.timeutil import utcnow


class InboundMessage(SQLModel, table=True):
    __tablename__ = "inbound_message"

    id: int | None = Field(default=None, primary_key=True)
    # The gateway retries until it gets a 200, so its id is the idempotency key.
    gateway_id: str = Field(max_length=100, unique=True)
    # As received when it is no valid number, else normalised.
    from_number: str = Field(sa_column=Column(EncryptedText, nullable=False))
    from_index: str | None = Field(
        default=None,
        max_length=32,
        index=True,
        sa_column_kwargs={"info": {encryption.BLIND_INDEX_OF: "from_number"}},
    )
    to: str | None = Field(default=None, max_length=40)
    # Encrypted: a reply may give a name.
    text: str = Field(sa_column=Column(EncryptedText, nullable=False))
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
    # When retention or an erasure blanked the text: the row still counts.
    redacted_at: datetime | None = None


encryption.keep_derived(InboundMessage)


class OptOutNotice(SQLModel, table=True):
    __tablename__ = "optout_notice"

    id: int | None = Field(default=None, primary_key=True)
    phone_number: str = Field(sa_column=Column(EncryptedText, nullable=False))
    phone_index: str | None = Field(
        default=None,
        max_length=32,
        index=True,
        sa_column_kwargs={"info": {encryption.BLIND_INDEX_OF: "phone_number"}},
    )
    sender_id: str | None = Field(default=None, max_length=40)
    received_at: datetime = Field(default_factory=utcnow)


encryption.keep_derived(OptOutNotice)
