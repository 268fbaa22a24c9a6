"""The staff API: list, set, move, cancel (officer), clinic rounds (manager), audit."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from outreach.accounts.models import Role
from outreach.audit.models import AuditEntry
from outreach.timeutil import local_today


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_officers_set_move_and_cancel_viewers_only_read(client, db, pregnant, token) -> None:
    # Given a woman, an officer and a viewer
    woman = pregnant()
    officer, viewer = _auth(token(Role.officer)), _auth(token(Role.viewer))
    day = (local_today() + timedelta(days=4)).isoformat()
    body = {"beneficiary_id": woman.id, "kind": "vaccination", "due_on": day}
    # When the viewer tries to set an appointment, then the officer does
    assert client.post("/api/v1/appointments", json=body, headers=viewer).status_code == 403
    made = client.post("/api/v1/appointments", json=body, headers=officer)
    assert made.status_code == 201, made.text
    appointment_id = made.json()["id"]
    # And the officer moves it, then cancels the new one
    later = (local_today() + timedelta(days=9)).isoformat()
    moved = client.post(
        f"/api/v1/appointments/{appointment_id}/move", json={"due_on": later}, headers=officer
    )
    assert moved.status_code == 200 and moved.json()["due_on"] == later
    cancelled = client.post(f"/api/v1/appointments/{moved.json()['id']}/cancel", headers=officer)
    assert cancelled.json()["status"] == "cancelled"
    # Then the viewer lists them with filters and pagination
    page = client.get(
        "/api/v1/appointments",
        params={"beneficiary_id": woman.id, "limit": 1, "offset": 1},
        headers=viewer,
    ).json()
    assert page["total"] == 2 and [a["status"] for a in page["items"]] == ["cancelled"]
    moved_only = client.get("/api/v1/appointments", params={"status": "moved"}, headers=viewer)
    assert [a["id"] for a in moved_only.json()["items"]] == [appointment_id]
    # And each change is in the audit log
    actions = db.exec(select(AuditEntry.action)).all()
    assert sorted(actions) == ["appointment.cancel", "appointment.move", "appointment.set"]


def test_bad_input_is_a_readable_422(client, pregnant, token) -> None:
    # Given an officer
    woman = pregnant()
    officer = _auth(token(Role.officer))
    past = (local_today() - timedelta(days=1)).isoformat()
    # When she sets a date in the past, an unknown kind, or moves a missing appointment
    past_day = client.post(
        "/api/v1/appointments",
        json={"beneficiary_id": woman.id, "kind": "anc", "due_on": past},
        headers=officer,
    )
    bad_kind = client.post(
        "/api/v1/appointments",
        json={"beneficiary_id": woman.id, "kind": "party", "due_on": past},
        headers=officer,
    )
    missing = client.post(
        "/api/v1/appointments/999999/move", json={"due_on": past}, headers=officer
    )
    # Then each is a 422 with a French reason
    assert past_day.status_code == 422 and "passée" in past_day.json()["detail"]
    assert bad_kind.status_code == 422 and "requête invalide" in bad_kind.json()["detail"]
    assert missing.status_code == 422


def test_managers_define_clinic_rounds(client, db, village, pregnant, token) -> None:
    # Given a woman in a village, an officer and a manager
    pregnant()
    officer, manager = _auth(token(Role.officer)), _auth(token(Role.manager))
    today = local_today()
    body = {
        "kind": "awareness",
        "name": "Hygiène des mains",
        "place": "Place du village",
        "starts_on": today.isoformat(),
        "villages": [village],
        "dates": [(today + timedelta(days=2)).isoformat()],
        "topic": "hygiene",
    }
    # When the officer tries, then the manager creates an awareness session
    assert client.post("/api/v1/appointments/rounds", json=body, headers=officer).status_code == 403
    created = client.post("/api/v1/appointments/rounds", json=body, headers=manager)
    assert created.status_code == 201, created.text
    # Then it lists with its next day
    listed = client.get("/api/v1/appointments/rounds", headers=officer).json()["items"]
    assert listed[0]["next_days"] == [(today + timedelta(days=2)).isoformat()]
    # And materializing gives every woman of the village the session and one invitation
    from outreach.appointments import service as appointments_service
    from outreach.outbox.models import OutboundMessage

    assert appointments_service.materialize_rounds(db) == 1
    assert appointments_service.materialize_rounds(db) == 0
    db.commit()
    invitations = db.exec(
        select(OutboundMessage).where(OutboundMessage.dedupe_key.like("appt:%:invite"))  # type: ignore[attr-defined]
    ).all()
    assert len(invitations) == 1 and "Invitation" in invitations[0].body
    assert "Place du village" in invitations[0].body


def test_unknown_child_facility_or_site_is_a_422_not_a_500(client, village, pregnant, token):
    # Given a woman with no child, an officer and a manager
    woman = pregnant()
    officer, manager = _auth(token(Role.officer)), _auth(token(Role.manager))
    day = (local_today() + timedelta(days=4)).isoformat()
    rounds = {"name": "Tournée", "place": "CSCom", "starts_on": day, "dates": [day]}
    # When an appointment names a child that is not hers, and rounds name a missing
    # health centre or site 0
    child = client.post(
        "/api/v1/appointments",
        json={"beneficiary_id": woman.id, "kind": "vaccination", "due_on": day, "child_id": 42},
        headers=officer,
    )
    facility = client.post(
        "/api/v1/appointments/rounds",
        json={**rounds, "villages": [village], "facility_id": 999},
        headers=manager,
    )
    site = client.post(
        "/api/v1/appointments/rounds", json={**rounds, "site_id": 0}, headers=manager
    )
    # Then each is refused with its reason, nothing half-written
    assert child.status_code == 422 and "enfant 42" in child.json()["detail"]
    assert facility.status_code == 422 and "centre de santé 999" in facility.json()["detail"]
    assert site.status_code == 422 and "site 0" in site.json()["detail"]
