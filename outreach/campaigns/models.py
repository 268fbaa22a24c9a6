"""Campaigns and their runs (a weekly campaign has one run per week)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from outreach.timeutil import utcnow


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


class Campaign(SQLModel, table=True):
    __tablename__ = "campaign"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    status: str = Field(default=CampaignStatus.DRAFT, max_length=20, index=True)
    # The message: a text per language ({"fr": ..., "bm": ...}) or a content-library key.
    texts: dict[str, str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    content_key: str | None = Field(default=None, max_length=60)
    # `schemas.AudienceIn` as a dict: sites, programme and stage, languages, displaced.
    audience: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # None: as soon as a manager starts it; else its first send, UTC.
    send_at: datetime | None = None
    # Weekly runs at the same local time until this day (inclusive), in Africa/Bamako.
    weekly_until: date | None = None
    # When the beat tick starts the next run; None when nothing is due.
    next_run_at: datetime | None = Field(default=None, index=True)
    runs: int = 0
    created_by_id: int = Field(foreign_key="staff_user.id")
    submitted_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    approved_by_id: int | None = Field(default=None, foreign_key="staff_user.id")
    rejection_reason: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    submitted_at: datetime | None = None
    approved_at: datetime | None = None
    cancelled_at: datetime | None = None
    finished_at: datetime | None = None


class CampaignRun(SQLModel, table=True):
    """One send of a campaign: its recipients are outbox rows tagged with the campaign id."""

    __tablename__ = "campaign_run"
    __table_args__ = (UniqueConstraint("campaign_id", "number", name="uq_campaign_run"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    number: int
    due_at: datetime
    started_at: datetime = Field(default_factory=utcnow)
    # Bumped by every committed batch: a run whose task died is picked up again.
    heartbeat_at: datetime = Field(default_factory=utcnow)
    materialised_at: datetime | None = None
    recipients: int = 0
    finished_at: datetime | None = None
