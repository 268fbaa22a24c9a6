"""`/api/v1/users` and `/api/v1/audit`: admins only."""

from __future__ import annotations

from sqlmodel import Session, select

from outreach.accounts import service
from outreach.accounts.models import StaffUser


def _id(db: Session, email: str) -> int:
    user = db.exec(select(StaffUser).where(StaffUser.email == email)).one()
    assert user.id is not None
    return user.id


def test_admin_lists_creates_changes_role_and_deactivates(client, staff, db: Session) -> None:
    # when an admin lists accounts by role
    officers = client.get(
        "/api/v1/users", params={"role": "officer"}, headers=staff["admin"]
    ).json()
    assert [u["email"] for u in officers["items"]] == ["officer@ong.ml"]
    assert "password_hash" not in str(officers)
    # when she creates an account, promotes it and deactivates it
    created = client.post(
        "/api/v1/users",
        json={
            "email": "Nouveau@ong.ml",
            "name": "Nouveau",
            "role": "viewer",
            "password": "bamako-2027",
        },
        headers=staff["admin"],
    )
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    assert (
        client.patch(
            f"/api/v1/users/{user_id}", json={"role": "manager"}, headers=staff["admin"]
        ).json()["role"]
        == "manager"
    )
    token = service.issue_token(db, user=db.get(StaffUser, user_id), name="t")
    db.commit()
    assert (
        client.post(f"/api/v1/users/{user_id}/deactivate", headers=staff["admin"]).json()["active"]
        is False
    )
    # then the deactivated account's token no longer works
    assert (
        client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )
    # and every step is in the audit log, read back filtered
    log = client.get(
        "/api/v1/audit",
        params={"object_type": "staff_user", "object_id": str(user_id)},
        headers=staff["admin"],
    ).json()
    assert [e["action"] for e in log["items"]] == ["user.deactivate", "user.role", "user.create"]
    assert log["items"][1]["detail"] == {"from": "viewer", "to": "manager"}
    assert "bamako-2027" not in str(log)


def test_admin_cannot_lock_herself_out(client, staff, db: Session) -> None:
    me = _id(db, "admin@ong.ml")
    demote = client.patch(f"/api/v1/users/{me}", json={"role": "viewer"}, headers=staff["admin"])
    assert demote.status_code == 422 and "propre" in demote.json()["detail"]
    off = client.post(f"/api/v1/users/{me}/deactivate", headers=staff["admin"])
    assert off.status_code == 422


def test_bad_input_and_unknown_users(client, staff) -> None:
    weak = client.post(
        "/api/v1/users",
        json={"email": "x@ong.ml", "name": "X", "role": "viewer", "password": "court"},
        headers=staff["admin"],
    )
    assert weak.status_code == 422 and "mot de passe" in weak.json()["detail"]
    duplicate = client.post(
        "/api/v1/users",
        json={"email": "viewer@ong.ml", "name": "X", "role": "viewer", "password": "segou-2026"},
        headers=staff["admin"],
    )
    assert duplicate.status_code == 422 and "existe déjà" in duplicate.json()["detail"]
    bad_role = client.patch("/api/v1/users/1", json={"role": "chef"}, headers=staff["admin"])
    assert bad_role.status_code == 422
    assert (
        client.patch(
            "/api/v1/users/999", json={"role": "viewer"}, headers=staff["admin"]
        ).status_code
        == 404
    )


def test_audit_log_is_admin_only_and_filterable(client, staff, db: Session) -> None:
    # given an export by a viewer
    client.get("/api/v1/beneficiaries/export.csv", headers=staff["viewer"])
    # then a manager may not read the log, an admin may, filtered by action and user
    assert client.get("/api/v1/audit", headers=staff["manager"]).status_code == 403
    page = client.get(
        "/api/v1/audit",
        params={"action": "beneficiary.export", "user_id": _id(db, "viewer@ong.ml")},
        headers=staff["admin"],
    ).json()
    assert page["total"] == 1 and page["items"][0]["actor"] == "viewer@ong.ml"
    assert (
        client.get(
            "/api/v1/audit", params={"action": "user.create"}, headers=staff["admin"]
        ).json()["total"]
        == 0
    )
    assert (
        client.get("/api/v1/audit", params={"since": "hier"}, headers=staff["admin"]).status_code
        == 422
    )
