"""Fixtures for the campaign tests: staff of every role, places, and women to reach."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from campaign_helpers import draft
from sqlmodel import Session

from messages import texts
from outreach.accounts.models import Role, StaffUser
from outreach.accounts.security import hash_password
from outreach.campaigns import service
from outreach.campaigns.models import Campaign
from outreach.chws.models import Chw
from outreach.config import get_settings
from outreach.programmes.models import Enrollment
from outreach.registry.models import Beneficiary, Phone, PhoneKind
from outreach.sites.models import Site
from outreach.timeutil import local_today

_numbers = itertools.count(1)
PASSWORD = "motdepasse-2026"


@dataclass
class Staff:
    officer: StaffUser
    officer2: StaffUser
    manager: StaffUser
    manager2: StaffUser
    viewer: StaffUser
    admin: StaffUser


@functools.cache
def _hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture
def staff(db: Session) -> Staff:
    """One account per role, plus a second officer and a second manager."""

    def user(email: str, role: Role) -> StaffUser:
        # One argon2 hash for every account: hashing is slow on purpose.
        row = StaffUser(email=email, name=email.split("@")[0], role=role, password_hash=_hash())
        db.add(row)
        db.flush()
        return row

    people = Staff(
        officer=user("agent@ong.ml", Role.officer),
        officer2=user("agent2@ong.ml", Role.officer),
        manager=user("resp@ong.ml", Role.manager),
        manager2=user("resp2@ong.ml", Role.manager),
        viewer=user("lecteur@ong.ml", Role.viewer),
        admin=user("admin@ong.ml", Role.admin),
    )
    db.commit()
    return people


@dataclass
class Places:
    region: Site
    district: Site
    village_a: Site
    village_b: Site
    other_region: Site
    village_far: Site


@pytest.fixture
def places(db: Session) -> Places:
    """Ségou > district > health area > two villages, and Mopti > one village."""

    def site(name: str, level: str, parent: Site | None = None) -> Site:
        row = Site(name=name, level=level, parent_id=parent.id if parent else None)
        db.add(row)
        db.flush()
        return row

    region = site("Ségou", "region")
    district = site("Ségou district", "district", region)
    area = site("Pelengana", "health_area", district)
    village_a = site("Sébougou", "village", area)
    village_b = site("Dar Salam", "village", area)
    mopti = site("Mopti", "region")
    far = site("Sévaré", "village", mopti)
    db.commit()
    return Places(region, district, village_a, village_b, mopti, far)


def new_phone(db: Session, *, status: str = "active") -> Phone:
    phone = Phone(e164=f"+2237{next(_numbers):07d}", status=status)
    db.add(phone)
    db.flush()
    return phone


@pytest.fixture
def woman(db: Session) -> Callable[..., Beneficiary]:
    """`woman(village, weeks=25 | infant_days=200, language=, displaced=, ...)`: enrolled."""

    def make(
        village: Site | None,
        *,
        name: str = "Awa Traoré",
        weeks: int | None = 25,
        infant_birth: date | None = None,
        language: str = "fr",
        displaced: bool = False,
        status: str = "active",
        phone: Phone | None = None,
        phone_kind: str = PhoneKind.OWN,
        phone_status: str = "active",
        chw: Chw | None = None,
        enrollment_status: str = "active",
    ) -> Beneficiary:
        if phone is None and phone_kind != PhoneKind.NONE:
            phone = new_phone(db, status=phone_status)
        person = Beneficiary(
            code=f"{next(_numbers):06d}",
            name=name,
            phone_id=phone.id if phone else None,
            phone_kind=phone_kind,
            chw_id=chw.id if chw else None,
            village_id=village.id if village else None,
            language=language,
            displaced=displaced,
            status=status,
        )
        db.add(person)
        db.flush()
        assert person.id is not None
        today = local_today()
        if infant_birth is not None:
            programme, anchor = "infant", infant_birth
        else:
            assert weeks is not None
            programme, anchor = "pregnancy", today + timedelta(weeks=40 - weeks)
        db.add(
            Enrollment(
                beneficiary_id=person.id,
                programme=programme,
                anchor_date=anchor,
                start_date=today - timedelta(days=30),
                status=enrollment_status,
                addressee=texts.addressee(name, language),
            )
        )
        db.flush()
        return person

    return make


@pytest.fixture
def chw_relay(db: Session) -> Chw:
    """A CHW with her own phone, relaying to women who have none."""
    phone = new_phone(db)
    assert phone.id is not None
    chw = Chw(name="Aminata Coulibaly", phone_id=phone.id, pin_hash="x", language="fr")
    db.add(chw)
    db.flush()
    return chw


@pytest.fixture
def approved_campaign(db: Session, staff: Staff) -> Callable[..., Campaign]:
    """`approved_campaign(**draft fields)`: created and submitted by an officer, approved."""

    def make(**overrides: Any) -> Campaign:
        campaign = service.create(db, user=staff.officer, draft=draft(**overrides))
        assert campaign.id is not None
        service.submit(db, user=staff.officer, campaign_id=campaign.id)
        service.approve(db, user=staff.manager, campaign_id=campaign.id)
        db.commit()
        return campaign

    return make


@pytest.fixture
def drafts_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unreviewed library texts may be sent (as in development)."""
    monkeypatch.setattr(get_settings(), "content_send_drafts", True)
