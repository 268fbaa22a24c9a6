"""The outbox: every SMS the service sends is a row here before it is anything else."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import IntEnum, StrEnum

from sqlalchemy import Column, ColumnElement, Index, Numeric, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel, col

from outreach.encryption import keys
from outreach.encryption import service as encryption
from outreach.encryption.types import EncryptedText
from outreach.outbox import bodies
from outreach.timeutil import utcnow


class MessageStatus(StrEnum):
    QUEUED = "queued"
    DEFERRED = "deferred"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


# A message in one of these states is never moved again.
FINAL_STATES = frozenset(
    {
        MessageStatus.DELIVERED,
        MessageStatus.FAILED,
        MessageStatus.REJECTED,
        MessageStatus.EXPIRED,
        MessageStatus.CANCELLED,
    }
)
SENDABLE_STATES = frozenset({MessageStatus.QUEUED, MessageStatus.DEFERRED})


def is_sendable() -> ColumnElement[bool]:
    """SQL condition: the message may still be claimed for sending."""
    return col(OutboundMessage.status).in_([s.value for s in SENDABLE_STATES])


class MessageKind(StrEnum):
    REPLY = "reply"
    REMINDER = "reminder"
    PROGRAMME = "programme"
    CAMPAIGN = "campaign"


class Priority(IntEnum):
    """Lower sends first: the lanes, in the order they share the gateway's rate."""

    INTERACTIVE = 0
    REMINDER = 1
    PROGRAMME = 2
    CAMPAIGN = 3


# The claim's scan order; partial so a backlog of sent rows never slows it down.
_SENDABLE_SQL = "status IN ('queued', 'deferred')"


class OutboundMessage(SQLModel, table=True):
    __tablename__ = "outbound_message"
    __table_args__ = (
        Index("ix_outbound_message_status_due", "status", "priority", "due_at"),
        Index(
            "ix_outbound_message_sendable",
            "priority",
            "due_at",
            "id",
            postgresql_where=text(_SENDABLE_SQL),
            sqlite_where=text(_SENDABLE_SQL),
        ),
        # A campaign's progress (grouped by status) and its cancel read only this index.
        Index("ix_outbound_message_campaign", "campaign_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=160, unique=True)
    kind: str = Field(max_length=20)
    priority: int = Field(default=Priority.PROGRAMME)
    to_number: str = Field(sa_column=Column(EncryptedText, nullable=False))
    # The number's blind index, as on `phone.e164_index`: looked up, never decrypted.
    to_index: str | None = Field(
        default=None,
        max_length=32,
        index=True,
        sa_column_kwargs={"info": {encryption.BLIND_INDEX_OF: "to_number"}},
    )
    # Never a name: a name's place is a marker (outbox.bodies), filled from `addressee`
    # only when the body leaves the database.
    body: str = Field(sa_column=Column(Text, nullable=False))
    addressee: str | None = Field(default=None, sa_column=Column(EncryptedText))
    sender_id: str | None = Field(default=None, max_length=20)
    language: str | None = Field(default=None, max_length=5)
    beneficiary_id: int | None = Field(default=None, foreign_key="beneficiary.id", index=True)
    # Set on campaign rows. No foreign key: the hottest table stays cheap to bulk-insert.
    campaign_id: int | None = None
    status: str = Field(default=MessageStatus.QUEUED, max_length=20)
    # When the next try may happen: first send, retry after backoff, or quiet-hours opening.
    due_at: datetime = Field(default_factory=utcnow)
    # Past this moment the message is pointless (an appointment that is over): cancelled.
    expires_at: datetime | None = None
    enqueued_at: datetime | None = None
    lease_owner: str | None = Field(default=None, max_length=80)
    lease_expires_at: datetime | None = None
    # Bulk inserts (the daily fan-out) may leave it out.
    attempt_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    gateway_message_id: str | None = Field(default=None, max_length=80, unique=True)
    cost: Decimal | None = Field(default=None, sa_column=Column(Numeric(12, 4)))
    currency: str | None = Field(default=None, max_length=3)
    failure_reason: str | None = Field(default=None, max_length=60)
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    final_at: datetime | None = None
    # When retention or an erasure blanked the body: the row, status and cost stay.
    redacted_at: datetime | None = None

    @property
    def rendered(self) -> str:
        """The body as it is sent and shown: the name in place of its marker."""
        return bodies.render(self.body, self.addressee)


encryption.keep_derived(OutboundMessage)


def addressed_to(number: str) -> ColumnElement[bool]:
    """SQL condition: the message goes to this number (as stored), found by its blind index."""
    return col(OutboundMessage.to_index).in_(keys.blind_indexes(number))


class MessageAttempt(SQLModel, table=True):
    """One row per gateway try, whatever its outcome."""

    __tablename__ = "message_attempt"

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="outbound_message.id", index=True)
    number: int
    worker: str | None = Field(default=None, max_length=80)
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    outcome: str | None = Field(default=None, max_length=30)
    status_code: int | None = None
    gateway_message_id: str | None = Field(default=None, max_length=80)
    cost: Decimal | None = Field(default=None, sa_column=Column(Numeric(12, 4)))
    error: str | None = Field(default=None, sa_column=Column(Text))


class DeliveryReport(SQLModel, table=True):
    """Every delivery report as received, matched to its message when possible."""

    __tablename__ = "delivery_report"
    __table_args__ = (UniqueConstraint("gateway_message_id", "status", name="uq_delivery_report"),)

    id: int | None = Field(default=None, primary_key=True)
    gateway_message_id: str = Field(max_length=80, index=True)
    status: str = Field(max_length=40)
    failure_reason: str | None = Field(default=None, max_length=60)
    network_code: str | None = Field(default=None, max_length=10)
    retry_count: int | None = None
    message_id: int | None = Field(default=None, foreign_key="outbound_message.id", index=True)
    applied: bool = False
    received_at: datetime = Field(default_factory=utcnow)
