"""`/api/v1/inbox`: unhandled replies; officers assign, answer (through the outbox) and close."""

from __future__ import annotations

from sqlmodel import Session, select

from outreach.accounts.models import StaffUser
from outreach.audit.models import AuditEntry
from outreach.inbound.models import InboundMessage
from outreach.outbox.models import OutboundMessage


def _inbound(db: Session, n: int, *, intent: str = "other", sender: str = "+22376000001"):
    row = InboundMessage(
        gateway_id=f"at-{n}", from_number=sender, text=f"question {n}", intent=intent
    )
    db.add(row)
    db.flush()
    return row


def test_inbox_lists_unhandled_replies_only(client, staff, db: Session) -> None:
    # given two free-text replies and a STOP
    first = _inbound(db, 1)
    _inbound(db, 2)
    _inbound(db, 3, intent="stop")
    db.commit()
    # then the inbox shows the two replies, latest first
    page = client.get("/api/v1/inbox", headers=staff["viewer"]).json()
    assert page["total"] == 2 and page["items"][0]["text"] == "question 2"
    # and a keyword message is not an inbox message
    stop_id = first.id + 2
    assert client.get(f"/api/v1/inbox/{stop_id}", headers=staff["viewer"]).status_code == 404


def test_officer_assigns_replies_and_the_message_leaves_the_inbox(
    client, staff, db: Session
) -> None:
    message = _inbound(db, 1)
    db.commit()
    officer = db.exec(select(StaffUser).where(StaffUser.email == "officer@ong.ml")).one()
    # when it is assigned to the officer
    assigned = client.post(
        f"/api/v1/inbox/{message.id}/assign", json={"user_id": officer.id}, headers=staff["officer"]
    ).json()
    assert assigned["assigned_user_id"] == officer.id
    mine = client.get(
        "/api/v1/inbox", params={"assigned_user_id": officer.id}, headers=staff["viewer"]
    )
    assert mine.json()["total"] == 1
    # when she answers it
    reply = client.post(
        f"/api/v1/inbox/{message.id}/reply",
        json={"text": "Votre ASC passera demain."},
        headers=staff["officer"],
    )
    # then the answer is an outbox row on the reply lane, and the message is handled
    assert reply.status_code == 201, reply.text
    outbound = db.get(OutboundMessage, reply.json()["outbound_message_id"])
    assert outbound is not None
    assert (outbound.to_number, outbound.kind, outbound.priority, outbound.status) == (
        "+22376000001",
        "reply",
        0,
        "queued",
    )
    assert client.get("/api/v1/inbox", headers=staff["viewer"]).json()["total"] == 0
    handled = client.get(
        "/api/v1/inbox", params={"handled": "true"}, headers=staff["viewer"]
    ).json()
    assert handled["items"][0]["handled_by_user_id"] == officer.id
    # and the audit log has the length of the answer, never its text
    entries = list(db.exec(select(AuditEntry).order_by(AuditEntry.id)))
    assert [e.action for e in entries] == ["inbox.assign", "inbox.reply"]
    assert "ASC" not in str(entries[1].detail) and entries[1].detail["chars"] == 25


def test_handle_and_bad_input(client, staff, db: Session) -> None:
    message = _inbound(db, 1)
    short_code = _inbound(db, 2, intent="not_a_phone", sender="ORANGE")
    db.commit()
    assert client.post(f"/api/v1/inbox/{message.id}/handle", headers=staff["officer"]).json()[
        "handled_at"
    ]
    # an empty or too long answer, an unknown assignee, or a short-code sender: French 422s
    empty = client.post(
        f"/api/v1/inbox/{message.id}/reply", json={"text": ""}, headers=staff["officer"]
    )
    assert empty.status_code == 422
    long = client.post(
        f"/api/v1/inbox/{message.id}/reply", json={"text": "x" * 460}, headers=staff["officer"]
    )
    assert long.status_code == 422
    nobody = client.post(
        f"/api/v1/inbox/{message.id}/assign", json={"user_id": 999}, headers=staff["officer"]
    )
    assert nobody.status_code == 422 and "inconnu" in nobody.json()["detail"]
    to_short_code = client.post(
        f"/api/v1/inbox/{short_code.id}/reply", json={"text": "ok"}, headers=staff["officer"]
    )
    assert to_short_code.status_code == 422 and "téléphone" in to_short_code.json()["detail"]
    assert client.post("/api/v1/inbox/999/handle", headers=staff["officer"]).status_code == 404
