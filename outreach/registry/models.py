"""Phones, beneficiaries, children and their programme enrollments."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Column, ColumnElement, Index, String
from sqlmodel import Field, SQLModel, col

from outreach.encryption import keys
from outreach.encryption import service as encryption
from outreach.encryption.types import EncryptedText
from outreach.timeutil import utcnow

# Country code and network of a Malian number ("+22370"): what an SMS costs depends on
# it, and it says nothing about the subscriber.
NETWORK_PREFIX_LENGTH = 6


def network_prefix(e164: str) -> str:
    """The part of a number that names its country and network, kept in clear."""
    return e164[:NETWORK_PREFIX_LENGTH]


class PhoneStatus(StrEnum):
    ACTIVE = "active"
    OPTED_OUT = "opted_out"
    INVALID = "invalid"
    UNREACHABLE = "unreachable"


class BeneficiaryStatus(StrEnum):
    ACTIVE = "active"
    # Self-registered by USSD: waits for a CHW or staff to confirm; only a welcome is sent.
    PENDING = "pending"
    OPTED_OUT = "opted_out"


class ConsentChannel(StrEnum):
    """How a consent was given or withdrawn (`consent.channel`)."""

    USSD = "ussd"
    SMS = "sms"
    GATEWAY_OPTOUT = "gateway_optout"
    # Recorded by programme staff in the console or the API.
    STAFF = "staff"


class PhoneKind(StrEnum):
    OWN = "own"
    SHARED = "shared"
    NONE = "none"


class Phone(SQLModel, table=True):
    """One handset number; several beneficiaries (and a CHW) may share it."""

    __tablename__ = "phone"

    id: int | None = Field(default=None, primary_key=True)
    e164: str = Field(sa_column=Column(EncryptedText, nullable=False))
    # Every look-up by number goes through this keyed hash; it is also what keeps one
    # row per number.
    e164_index: str | None = Field(
        default=None,
        max_length=32,
        nullable=False,
        unique=True,
        sa_column_kwargs={"info": {encryption.BLIND_INDEX_OF: "e164"}},
    )
    prefix: str | None = Field(
        default=None,
        max_length=NETWORK_PREFIX_LENGTH,
        sa_column_kwargs={"info": {encryption.DERIVED_FROM: ("e164", network_prefix)}},
    )
    status: str = Field(default=PhoneStatus.ACTIVE, max_length=20)
    opted_out_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


encryption.keep_derived(Phone)


def has_number(e164: str) -> ColumnElement[bool]:
    """SQL condition: the phone row of this normalised number, found by its blind index."""
    # Every configured index key: during a rotation some rows still carry the old hash.
    return col(Phone.e164_index).in_(keys.blind_indexes(e164))


class Beneficiary(SQLModel, table=True):
    __tablename__ = "beneficiary"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=12, unique=True)
    # Encrypted; found by its words' keyed hashes (NameToken).
    name: str = Field(sa_column=Column(EncryptedText, nullable=False))
    phone_id: int | None = Field(default=None, foreign_key="phone.id", index=True)
    phone_kind: str = Field(default=PhoneKind.OWN, max_length=10)
    chw_id: int | None = Field(default=None, foreign_key="chw.id", index=True)
    village_id: int | None = Field(default=None, foreign_key="site.id", index=True)
    language: str = Field(default="fr", max_length=5)
    displaced: bool = False
    status: str = Field(default="active", max_length=20)
    created_at: datetime = Field(default_factory=utcnow)
    # Set once she is anonymised at her request: the row stays for the aggregates.
    erased_at: datetime | None = None


class Child(SQLModel, table=True):
    __tablename__ = "child"

    id: int | None = Field(default=None, primary_key=True)
    mother_id: int = Field(foreign_key="beneficiary.id", index=True)
    name: str | None = Field(default=None, sa_column=Column(EncryptedText))
    sex: str | None = Field(default=None, max_length=1)
    birth_date: date
    created_at: datetime = Field(default_factory=utcnow)


class Consent(SQLModel, table=True):
    """Who agreed, for whom, when, through which channel, to which version of the text."""

    __tablename__ = "consent"

    id: int | None = Field(default=None, primary_key=True)
    beneficiary_id: int = Field(foreign_key="beneficiary.id", index=True)
    # The CHW who read the text aloud; None when the woman answered herself.
    chw_id: int | None = Field(default=None, foreign_key="chw.id")
    # A ConsentChannel; `granted` False records a withdrawal (STOP) the same way.
    channel: str = Field(max_length=20)
    text_key: str = Field(max_length=60)
    text_version: int
    language: str = Field(max_length=5)
    granted: bool = True
    recorded_at: datetime = Field(default_factory=utcnow)


class Transfer(SQLModel, table=True):
    """A beneficiary taken over by another CHW (often after displacement)."""

    __tablename__ = "beneficiary_transfer"

    id: int | None = Field(default=None, primary_key=True)
    beneficiary_id: int = Field(foreign_key="beneficiary.id", index=True)
    from_chw_id: int | None = Field(default=None, foreign_key="chw.id")
    to_chw_id: int = Field(foreign_key="chw.id")
    from_village_id: int | None = Field(default=None, foreign_key="site.id")
    to_village_id: int | None = Field(default=None, foreign_key="site.id")
    moved_at: datetime = Field(default_factory=utcnow)


class SelfRegistration(SQLModel, table=True):
    """What a woman said about herself by USSD, until a CHW or staff confirms it."""

    __tablename__ = "self_registration"

    id: int | None = Field(default=None, primary_key=True)
    beneficiary_id: int = Field(foreign_key="beneficiary.id", unique=True)
    kind: str = Field(max_length=20)
    stated_weeks: int | None = None
    stated_child_months: int | None = None
    # Expected delivery date or estimated birth date, for duplicate checks.
    estimated_anchor: date
    # Free text a woman typed: it may name her or her family.
    village_text: str | None = Field(default=None, sa_column=Column(EncryptedText))
    created_at: datetime = Field(default_factory=utcnow)
    confirmed_at: datetime | None = None
    confirmed_by_chw_id: int | None = Field(default=None, foreign_key="chw.id")


class NameKind(StrEnum):
    """Whose name a NameToken indexes."""

    BENEFICIARY = "beneficiary"
    CHW = "chw"


class NameToken(SQLModel, table=True):
    """One word of an encrypted name, as a keyed hash: what a name search matches.

    A word is case-folded and stripped of accents first, so "TRAORÉ" finds "Traore". The
    hash hides the word from a dump, though equal words share a token (see
    docs/architecture.md, "Names at rest").
    """

    __tablename__ = "name_token"
    __table_args__ = (Index("ix_name_token_kind_token", "kind", "token"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=12)
    owner_id: int = Field(index=True)
    token: str = Field(sa_column=Column(String(64), nullable=False))
