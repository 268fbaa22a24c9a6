"""Signed-in console clients, one per role."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from console_login import PASSWORD, Staff, login
from fastapi.testclient import TestClient
from sqlmodel import Session

from outreach.accounts import service as accounts
from outreach.accounts.models import Role
from outreach.redis import get_redis


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
def staff(db: Session, migrated: None) -> Iterator[Callable[[Role], Staff]]:
    """`staff(Role.officer)`: a signed-in console user of that role, with its own client."""
    from outreach.main import create_app

    clients: list[TestClient] = []

    def make(role: Role) -> Staff:
        user = accounts.create_user(
            db, email=f"{role.value}@ong.ml", name=f"Awa {role.value}", role=role, password=PASSWORD
        )
        db.commit()
        client = TestClient(create_app())
        client.__enter__()
        clients.append(client)
        assert login(client, user.email).status_code == 303
        browser = Staff(client, user)
        browser.get("/console")
        return browser

    yield make
    for client in clients:
        client.__exit__(None, None, None)
