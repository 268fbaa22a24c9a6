"""`/api/v1/messages`: the outbox log with statuses and attempts."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from outreach.outbox import service as outbox_service
from outreach.outbox.models import MessageAttempt
from outreach.timeutil import utcnow


def _queue(db: Session, n: int, *, to: str, kind: str = "programme", status: str = "queued"):
    message = outbox_service.enqueue(
        db, dedupe_key=f"t:{to}:{n}", to_number=to, body=f"Message {n}", kind=kind
    )
    message.status = status
    db.add(message)
    db.flush()
    return message


def test_messages_filter_paginate_and_show_attempts(client, staff, db: Session) -> None:
    # given three messages to two phones, one delivered after a failed try
    first = _queue(db, 1, to="+22376000001", status="delivered")
    _queue(db, 2, to="+22376000001")
    _queue(db, 3, to="+22376000002", kind="reply")
    db.add(MessageAttempt(message_id=first.id, number=1, outcome="error", status_code=500))
    db.add(MessageAttempt(message_id=first.id, number=2, outcome="accepted", status_code=101))
    db.commit()
    get = lambda **p: client.get("/api/v1/messages", params=p, headers=staff["viewer"]).json()  # noqa: E731
    # then filters by status, kind and phone (in any spelling) find the right rows
    assert [m["id"] for m in get(status="delivered")["items"]] == [first.id]
    assert get(kind="reply")["total"] == 1
    assert get(phone="76 00 00 01")["total"] == 2
    # and pages are latest first with the full count
    page = get(limit=1)
    assert page["total"] == 3 and page["items"][0]["body"] == "Message 3"
    # and a creation-time window excludes what is outside it
    assert get(created_from=(utcnow() + timedelta(hours=1)).isoformat())["total"] == 0
    # and the detail lists every gateway try
    detail = client.get(f"/api/v1/messages/{first.id}", headers=staff["viewer"]).json()
    assert [(a["number"], a["outcome"]) for a in detail["attempts"]] == [
        (1, "error"),
        (2, "accepted"),
    ]


def test_bad_filters_and_unknown_ids(client, staff, db: Session) -> None:
    bad_status = client.get("/api/v1/messages", params={"status": "lost"}, headers=staff["viewer"])
    assert bad_status.status_code == 422
    bad_phone = client.get("/api/v1/messages", params={"phone": "abc"}, headers=staff["viewer"])
    assert bad_phone.status_code == 422 and "numéro" in bad_phone.json()["detail"]
    missing = client.get("/api/v1/messages/12345", headers=staff["viewer"])
    assert missing.status_code == 404 and missing.json() == {"detail": "message introuvable"}
