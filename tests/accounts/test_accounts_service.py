"""Staff accounts: passwords, roles and API tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session

from outreach.accounts import service
from outreach.accounts.deps import Manager, Officer, Viewer
from outreach.accounts.models import Role
from outreach.audit import service as audit
from outreach.audit.models import AuditEntry


def test_password_is_hashed_and_checked(db: Session) -> None:
    # given an officer account
    user = service.create_user(
        db, email=" Awa@ONG.ml ", name="Awa", role=Role.officer, password="segou-2026"
    )
    # then the email is normalised and only an argon2 hash is stored
    assert user.email == "awa@ong.ml"
    assert user.password_hash.startswith("$argon2id$")
    assert "segou-2026" not in user.password_hash
    # when logging in with the right and a wrong password
    assert service.authenticate(db, email="AWA@ong.ml", password="segou-2026") is user
    assert service.authenticate(db, email="awa@ong.ml", password="segou-2027") is None
    assert service.authenticate(db, email="nobody@ong.ml", password="segou-2026") is None


@pytest.mark.parametrize("password", ["court1", "1234567890123", "motdepasselong"])
def test_weak_passwords_are_refused_in_french(db: Session, password: str) -> None:
    with pytest.raises(service.AccountError, match="mot de passe"):
        service.create_user(db, email="a@b.ml", name="A", role=Role.viewer, password=password)


def test_duplicate_email_is_refused(db: Session) -> None:
    service.create_user(db, email="a@b.ml", name="A", role=Role.viewer, password="segou-2026")
    with pytest.raises(service.AccountError, match="existe déjà"):
        service.create_user(db, email="A@b.ml", name="B", role=Role.admin, password="segou-2026")


def test_tokens_are_stored_hashed_and_expire(db: Session) -> None:
    # given a user with one live and one expired token
    user = service.create_user(
        db, email="m@b.ml", name="M", role=Role.manager, password="segou-2026"
    )
    live = service.issue_token(db, user=user, name="script")
    dead = service.issue_token(db, user=user, name="old", ttl=timedelta(seconds=-1))
    # then only the live one identifies the user
    assert service.user_for_token(db, token=live) is user
    assert service.user_for_token(db, token=dead) is None
    assert service.user_for_token(db, token=live + "x") is None
    # and a deactivated user's token no longer works
    user.active = False
    assert service.user_for_token(db, token=live) is None


def test_roles_are_ordered() -> None:
    assert Role.admin.allows(Role.manager)
    assert Role.manager.allows(Role.officer)
    assert not Role.officer.allows(Role.manager)
    assert not Role.viewer.allows(Role.officer)


def test_role_dependencies_refuse_lower_roles(db: Session) -> None:
    # given a tiny app guarded by each role, and a token per role
    app = FastAPI()

    @app.get("/v")
    def v(user: Viewer) -> str:
        return user.role

    @app.get("/o")
    def o(user: Officer) -> str:
        return user.role

    @app.get("/m")
    def m(user: Manager) -> str:
        return user.role

    tokens = {}
    for role in (Role.viewer, Role.officer, Role.manager):
        user = service.create_user(
            db, email=f"{role}@b.ml", name=role, role=role, password="segou-2026"
        )
        tokens[role] = service.issue_token(db, user=user, name="t")
    db.commit()
    client = TestClient(app)

    def get(path: str, role: Role | None) -> int:
        headers = {"Authorization": f"Bearer {tokens[role]}"} if role else {}
        return client.get(path, headers=headers).status_code

    # then access follows the role order, and no or a wrong token means 401
    assert get("/v", None) == 401
    assert get("/v", Role.viewer) == 200
    assert get("/o", Role.viewer) == 403
    assert get("/o", Role.officer) == 200
    assert get("/m", Role.officer) == 403
    assert get("/m", Role.manager) == 200
    assert client.get("/m", headers={"Authorization": "Bearer otr_wrong"}).status_code == 401


def test_audit_entry_names_the_actor(db: Session) -> None:
    # given an admin creating something
    user = service.create_user(db, email="a@b.ml", name="A", role=Role.admin, password="segou-2026")
    # when it is recorded
    entry = audit.record(
        db, action="user.create", user=user, object_type="staff_user", object_id=user.id
    )
    db.flush()
    # then the entry names who, what and which object
    stored = db.get(AuditEntry, entry.id)
    assert stored is not None
    assert (stored.actor, stored.action, stored.object_id) == (
        "a@b.ml",
        "user.create",
        str(user.id),
    )


def test_a_token_records_when_it_was_last_used_to_the_minute(db: Session, monkeypatch) -> None:
    # Given a token never used yet
    user = service.create_user(
        db, email="u@b.ml", name="U", role=Role.viewer, password="segou-2026"
    )
    token = service.issue_token(db, user=user, name="tableur")
    row = service.list_tokens(db, user=user)[0]
    assert row.last_used_at is None
    # When it is used, then used again within the minute
    service.user_for_token(db, token=token)
    first = row.last_used_at
    assert first is not None
    service.user_for_token(db, token=token)
    # Then the second use writes nothing new
    assert row.last_used_at == first
    # And a use a minute later moves the date on
    later = first + service.TOKEN_USE_RESOLUTION
    monkeypatch.setattr(service, "utcnow", lambda: later)
    service.user_for_token(db, token=token)
    assert row.last_used_at == later
