"""Community health workers and the sites they cover."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlmodel import Field, SQLModel

from outreach.encryption.types import EncryptedText
from outreach.timeutil import utcnow


class Chw(SQLModel, table=True):
    __tablename__ = "chw"

    id: int | None = Field(default=None, primary_key=True)
    # Encrypted; found by its words' keyed hashes (NameToken).
    name: str = Field(sa_column=Column(EncryptedText, nullable=False))
    phone_id: int = Field(foreign_key="phone.id", unique=True)
    pin_hash: str = Field(max_length=128)
    language: str = Field(default="fr", max_length=5)
    facility_id: int | None = Field(default=None, foreign_key="facility.id")
    failed_pin_attempts: int = 0
    locked_until: datetime | None = None
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class ChwSite(SQLModel, table=True):
    __tablename__ = "chw_site"

    chw_id: int = Field(foreign_key="chw.id", primary_key=True)
    site_id: int = Field(foreign_key="site.id", primary_key=True)
