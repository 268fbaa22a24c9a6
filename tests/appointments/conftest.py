"""Appointment fixtures: a woman in one of the demo CHW's villages, staff tokens, a clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time

import pytest
from sqlmodel import Session

from outreach.accounts import service as accounts_service
from outreach.accounts.models import Role
from outreach.chws import service as chw_service
from outreach.registry import service as registry_service
from outreach.registry.models import Beneficiary, PhoneKind

AWA = "+22370123456"


@pytest.fixture
def village(chw, db: Session) -> int:
    """The first village the demo CHW covers."""
    found = chw_service.villages(db, chw_id=chw.id)[0]
    assert found.id is not None
    return found.id


@pytest.fixture
def pregnant(chw, db: Session, village: int) -> Callable[..., Beneficiary]:
    """`pregnant(weeks=20)`: a woman registered today on her own phone, in `village`."""

    def make(weeks: int = 20, phone: str = AWA, name: str = "Awa Traore") -> Beneficiary:
        registration = registry_service.register_pregnancy(
            db,
            name=name,
            phone=phone,
            weeks=weeks,
            chw_id=chw.id,
            village_id=village,
            phone_kind=PhoneKind.OWN,
        )
        db.commit()
        return registration.beneficiary

    return make


@pytest.fixture
def mother(chw, db: Session, village: int) -> Callable[..., Beneficiary]:
    """`mother(birth_date)`: a mother with her infant registered today."""

    def make(birth_date: date, phone: str = "+22370123457") -> Beneficiary:
        registration = registry_service.register_mother_with_infant(
            db,
            name="Kadia Coulibaly",
            phone=phone,
            birth_date=birth_date,
            sex="F",
            chw_id=chw.id,
            village_id=village,
        )
        db.commit()
        return registration.beneficiary

    return make


@pytest.fixture
def token(db: Session) -> Callable[[Role], str]:
    """`token(role)`: a bearer token of a new staff user with that role."""
    counter = iter(range(1000))

    def make(role: Role) -> str:
        user = accounts_service.create_user(
            db,
            email=f"{role.value}{next(counter)}@ong.ml",
            name=role.value,
            role=role,
            password="correct horse battery 42",
        )
        issued = accounts_service.issue_token(db, user=user, name="tests")
        db.commit()
        return issued

    return make


@pytest.fixture
def midnight() -> Callable[[date], datetime]:
    """`midnight(day)`: the start of a local day (Africa/Bamako is UTC all year)."""
    return lambda day: datetime.combine(day, time(0, 0), tzinfo=UTC)
