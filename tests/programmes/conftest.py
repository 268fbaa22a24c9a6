"""Fixtures for the programme tests: people, phones, CHWs and an approved library."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from datetime import date

import pytest
from sqlmodel import Session

from messages import texts
from messages.texts import Message
from outreach.chws.models import Chw
from outreach.programmes.models import Enrollment
from outreach.registry.models import Beneficiary, Phone, PhoneKind

_numbers = itertools.count(1)


def new_phone(session: Session, *, status: str = "active") -> Phone:
    phone = Phone(e164=f"+2237{next(_numbers):07d}", status=status)
    session.add(phone)
    session.flush()
    return phone


@pytest.fixture
def make_chw(db: Session) -> Callable[..., Chw]:
    """`make_chw(language="fr")`: a CHW with her own active phone."""

    def make(*, language: str = "fr", name: str = "Aminata Coulibaly") -> Chw:
        phone = new_phone(db)
        assert phone.id is not None
        chw = Chw(name=name, phone_id=phone.id, pin_hash="x", language=language)
        db.add(chw)
        db.flush()
        return chw

    return make


@pytest.fixture
def make_beneficiary(db: Session) -> Callable[..., Beneficiary]:
    """`make_beneficiary(name=, language=, phone_kind=, chw=, phone=, ...)`."""

    def make(
        *,
        name: str = "Awa Traoré",
        language: str = "fr",
        phone_kind: str = PhoneKind.OWN,
        phone: Phone | None = None,
        chw: Chw | None = None,
        village_id: int | None = None,
        displaced: bool = False,
        status: str = "active",
    ) -> Beneficiary:
        if phone is None and phone_kind != PhoneKind.NONE:
            phone = new_phone(db)
        beneficiary = Beneficiary(
            code=f"{next(_numbers):06d}",
            name=name,
            phone_id=phone.id if phone else None,
            phone_kind=phone_kind,
            chw_id=chw.id if chw else None,
            village_id=village_id,
            language=language,
            displaced=displaced,
            status=status,
        )
        db.add(beneficiary)
        db.flush()
        return beneficiary

    return make


def approved(keys: set[str] | None = None) -> dict[str, Message]:
    """The shipped library with `keys` (default: every message) approved by a reviewer."""
    out = {}
    for key, message in texts.load().items():
        if keys is None or key in keys:
            message = dataclasses.replace(
                message,
                review_status="approved",
                reviewer="Test reviewer",
                reviewed_on=date(2026, 11, 1),
            )
        out[key] = message
    return out


@pytest.fixture
def approved_library() -> dict[str, Message]:
    """Every shipped message, approved (as after a full review)."""
    return approved()


@pytest.fixture
def approve() -> Callable[[set[str]], dict[str, Message]]:
    """`approve({"preg_w20"})`: the shipped library with only these keys approved."""
    return approved


@pytest.fixture
def enroll(db: Session) -> Callable[..., Enrollment]:
    """`enroll(beneficiary, programme, anchor, start=)`: an enrollment row as of `start`."""

    def make(beneficiary: Beneficiary, programme: str, anchor: date, *, start: date) -> Enrollment:
        assert beneficiary.id is not None
        enrollment = Enrollment(
            beneficiary_id=beneficiary.id,
            programme=programme,
            anchor_date=anchor,
            start_date=start,
            addressee=texts.addressee(beneficiary.name, beneficiary.language),
        )
        db.add(enrollment)
        db.flush()
        return enrollment

    return make
