"""Staff accounts for the API and console tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlmodel import Session

from outreach.accounts import service
from outreach.accounts.models import Role, StaffUser
from outreach.redis import get_redis

PASSWORD = "segou-2026"


def _clear_auth_keys() -> None:
    redis = get_redis()
    keys = [*redis.scan_iter("outreach:login:*"), *redis.scan_iter("outreach:console:*")]
    if keys:
        redis.delete(*keys)


@pytest.fixture(autouse=True)
def clean_auth_state() -> Iterator[None]:
    """No login failures or console sessions left over from another test."""
    _clear_auth_keys()
    yield
    _clear_auth_keys()


@pytest.fixture
def make_user(db: Session) -> Callable[..., StaffUser]:
    """`make_user(role, email=...)`: a committed staff account with the test password."""

    def make(role: Role = Role.officer, email: str | None = None) -> StaffUser:
        user = service.create_user(
            db, email=email or f"{role.value}@ong.ml", name=role.value, role=role, password=PASSWORD
        )
        db.commit()
        return user

    return make
