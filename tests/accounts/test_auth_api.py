"""`POST /api/v1/auth/token` and `/auth/logout`."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import Session, select

from outreach.accounts.models import Role, StaffUser
from outreach.audit.models import AuditEntry
from outreach.config import get_settings


def _actions(db: Session) -> list[str]:
    return [e.action for e in db.exec(select(AuditEntry).order_by(AuditEntry.id))]  # type: ignore[arg-type]


def test_token_login_works_and_is_audited_without_the_password(
    client, db: Session, make_user: Callable[..., StaffUser]
) -> None:
    # given an officer
    make_user(Role.officer)
    # when she asks for a token with her email in any case
    response = client.post(
        "/api/v1/auth/token", json={"email": "Officer@ONG.ml", "password": "segou-2026"}
    )
    # then she gets a bearer token that opens the API
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and body["access_token"].startswith("otr_")
    me = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["email"] == "officer@ong.ml"
    # and the login is audited, with no trace of the password
    entries = list(db.exec(select(AuditEntry)))
    assert [e.action for e in entries] == ["auth.login"]
    assert "segou-2026" not in str([e.model_dump() for e in entries])


def test_wrong_password_is_401_in_french_and_audited(
    client, db: Session, make_user: Callable[..., StaffUser]
) -> None:
    make_user(Role.officer)
    # when the password is wrong
    response = client.post(
        "/api/v1/auth/token", json={"email": "officer@ong.ml", "password": "pas-le-bon-1"}
    )
    # then a French 401, and a failed-login entry survives the refusal
    assert response.status_code == 401
    assert response.json() == {"detail": "e-mail ou mot de passe incorrect"}
    assert _actions(db) == ["auth.login_failed"]
    entry = db.exec(select(AuditEntry)).one()
    assert entry.actor == "officer@ong.ml" and "pas-le-bon" not in str(entry.detail)


def test_repeated_failures_get_429_with_retry_after(
    client, db: Session, make_user: Callable[..., StaffUser]
) -> None:
    # given the limit of failed logins reached
    make_user(Role.officer)
    for _ in range(get_settings().login_max_failures):
        client.post(
            "/api/v1/auth/token", json={"email": "officer@ong.ml", "password": "wrong-pw-1"}
        )
    # when the right password is tried
    response = client.post(
        "/api/v1/auth/token", json={"email": "officer@ong.ml", "password": "segou-2026"}
    )
    # then it is refused until the window ends, with the delay in seconds
    assert response.status_code == 429
    assert "trop de tentatives" in response.json()["detail"]
    assert 0 < int(response.headers["Retry-After"]) <= get_settings().login_failure_window_seconds
    assert _actions(db)[-1] == "auth.login_throttled"


def test_bad_body_is_422_in_french(client) -> None:
    response = client.post("/api/v1/auth/token", json={"email": "x@y.ml"})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("requête invalide")


def test_logout_revokes_the_presented_token_only(
    client, db: Session, make_user: Callable[..., StaffUser]
) -> None:
    # given two tokens for one manager
    make_user(Role.manager)
    creds = {"email": "manager@ong.ml", "password": "segou-2026"}
    first = client.post("/api/v1/auth/token", json=creds).json()["access_token"]
    second = client.post("/api/v1/auth/token", json=creds).json()["access_token"]
    # when she logs out with the first
    response = client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {first}"})
    assert response.status_code == 204
    # then the first no longer works and the second still does
    assert (
        client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {first}"}).status_code
        == 401
    )
    assert (
        client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {second}"}).status_code
        == 200
    )
    assert "auth.logout" in _actions(db)
    # and logging out without a token is refused
    assert client.post("/api/v1/auth/logout").status_code == 401
