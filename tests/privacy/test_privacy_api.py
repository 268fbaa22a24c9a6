"""A beneficiary's export and erasure through the API, and what erasure leaves behind."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from privacy_helpers import CHILD, NAME, NUMBER, Household, household, traces
from sqlalchemy import text
from sqlmodel import Session, col, select

from outreach.appointments import planning
from outreach.appointments.models import Appointment
from outreach.appointments.service import REMINDER_PREFIX
from outreach.audit.models import AuditEntry
from outreach.outbox.models import OutboundMessage
from outreach.programmes.models import Enrollment
from outreach.registry.models import Beneficiary, Phone, has_number

API = "/api/v1/beneficiaries"


@pytest.fixture
def home(db: Session, chw, staff) -> Household:
    return household(db, chw.id)


def _aggregates(db: Session) -> list[tuple[object, ...]]:
    rows = db.execute(
        text(
            # Waiting messages to her are cancelled by design: the history is compared.
            "SELECT status, count(*), sum(cost), count(sent_at), count(final_at)"
            " FROM outbound_message WHERE status NOT IN ('queued', 'deferred', 'cancelled')"
            " GROUP BY status ORDER BY status"
        )
    ).all()
    inbound = db.execute(text("SELECT count(*), count(received_at) FROM inbound_message")).all()
    total = db.execute(text("SELECT count(*), sum(cost) FROM outbound_message")).all()
    ussd = db.execute(text("SELECT status, count(*) FROM ussd_session_event GROUP BY status")).all()
    return [tuple(r) for r in [*rows, *total, *inbound, *ussd]]


def test_an_officer_exports_everything_held_about_her(client, staff, home, db) -> None:
    # given Kadiatou with a child, messages both ways, a USSD session and appointments
    code = home.woman.code
    # when an officer asks for her export
    response = client.get(f"{API}/{code}/export", headers=staff["officer"])
    # then one JSON document holds her record, phone, child, texts and appointments
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    doc = response.json()
    assert doc["beneficiary"]["name"] == NAME and doc["beneficiary"]["code"] == code
    assert doc["phone"]["number"] == NUMBER and doc["phone"]["shared"] is False
    assert [c["name"] for c in doc["children"]] == [CHILD]
    assert doc["enrollments"] and doc["appointments"] and doc["consents"]
    assert any("pensez au vaccin" in m["body"] for m in doc["messages_sent"])
    assert [m["text"] for m in doc["messages_received"]] == ["Mon enfant a de la fièvre"]
    assert doc["ussd_sessions"][0]["input"] == "1*2"
    assert doc["self_registration"]["village_text"] == "près du puits de Pelengana"
    # and the export is audited: who, which woman, never the content
    entry = db.exec(select(AuditEntry).where(AuditEntry.action == "beneficiary.export")).one()
    assert entry.object_id == str(home.woman.id) and entry.actor == "officer@ong.ml"
    assert NAME not in str(entry.detail) and NUMBER not in str(entry.detail)


def test_export_leaves_out_the_others_on_a_shared_phone(client, staff, home) -> None:
    # given Bintou, who shares a handset with Salimata
    # when Bintou's data is exported
    doc = client.get(f"{API}/{home.sharer.code}/export", headers=staff["officer"]).json()
    # then the phone is marked shared and nothing of Salimata's is in it
    assert doc["phone"]["shared"] is True
    assert "Salimata" not in str(doc)


def test_export_needs_an_officer_and_a_known_code(client, staff, home) -> None:
    # when a viewer asks, or anyone asks for an unknown code
    viewer = client.get(f"{API}/{home.woman.code}/export", headers=staff["viewer"])
    unknown = client.get(f"{API}/999999999/export", headers=staff["officer"])
    # then a 403 and a French 404
    assert viewer.status_code == 403
    assert unknown.status_code == 404 and "introuvable" in unknown.json()["detail"]


def test_erasure_leaves_no_trace_of_her_and_keeps_the_figures(client, staff, home, db) -> None:
    # given Kadiatou's history, the reminders of her next appointment planned the day
    # before it, and the figures before
    next_one = min(
        db.exec(select(Appointment).where(Appointment.beneficiary_id == home.woman.id)).all(),
        key=lambda a: a.due_on,
    )
    eve = next_one.due_on - timedelta(days=1)
    planning.run(today=eve, now=datetime.combine(eve, time(), ZoneInfo("Africa/Bamako")))
    reminder_rows = select(OutboundMessage).where(
        col(OutboundMessage.dedupe_key).startswith(f"{REMINDER_PREFIX}{next_one.id}:")
    )
    assert [r.status for r in db.exec(reminder_rows).all()] == ["queued", "queued"]
    before = _aggregates(db)
    assert traces(db, NAME, CHILD, NUMBER[4:])
    # when an admin erases her
    response = client.post(f"{API}/{home.woman.code}/erase", headers=staff["admin"])
    # then nothing in any table still holds her name, her child's name or her number
    assert response.status_code == 200, response.text
    assert traces(db, NAME, CHILD, NUMBER[4:], "puits de Pelengana", "fièvre") == []
    # and the counts, statuses and costs are what they were
    assert _aggregates(db) == before
    db.expire_all()
    woman = db.get(Beneficiary, home.woman.id)
    assert woman is not None and woman.name == "Effacée" and woman.erased_at is not None
    assert woman.phone_id is None and woman.village_id is not None
    # and nothing more goes to her: waiting messages and appointments cancelled, programmes over
    mine = db.exec(select(OutboundMessage).where(OutboundMessage.beneficiary_id == woman.id)).all()
    assert all(m.status not in ("queued", "deferred") and m.body == "" for m in mine)
    appts = db.exec(select(Appointment).where(Appointment.beneficiary_id == woman.id)).all()
    assert appts and all(a.status == "cancelled" for a in appts)
    db.expire_all()
    assert {(r.status, r.failure_reason) for r in db.exec(reminder_rows).all()} == {
        ("cancelled", "beneficiary_erased")
    }
    enrollments = db.exec(select(Enrollment).where(Enrollment.beneficiary_id == woman.id)).all()
    assert all(e.status == "stopped" for e in enrollments)
    # and the audit says who erased whom, with counts only
    entry = db.exec(select(AuditEntry).where(AuditEntry.action == "beneficiary.erase")).one()
    assert entry.actor == "admin@ong.ml" and entry.object_id == str(woman.id)
    assert entry.detail["messages_blanked"] >= 2 and entry.detail["phone_removed"] is True
    assert sum((m.cost or Decimal(0)) for m in mine) == Decimal("50")


def test_a_second_erasure_changes_nothing(client, staff, home, db) -> None:
    # given an erased woman
    client.post(f"{API}/{home.woman.code}/erase", headers=staff["admin"])
    # when she is erased again
    again = client.post(f"{API}/{home.woman.code}/erase", headers=staff["admin"])
    # then it succeeds, says so, and adds no audit entry
    assert again.status_code == 200 and again.json()["already"] is True
    entries = db.exec(select(AuditEntry).where(AuditEntry.action == "beneficiary.erase")).all()
    assert len(entries) == 1


def test_erasing_one_woman_on_a_shared_phone_keeps_the_number_for_the_other(
    client, staff, home, db
) -> None:
    # given Bintou and Salimata on one handset
    # when Bintou is erased
    assert client.post(f"{API}/{home.sharer.code}/erase", headers=staff["admin"]).status_code == 200
    # then the phone stays, for Salimata, whose record is untouched
    db.expire_all()
    phone = db.exec(select(Phone).where(has_number("+22376999000"))).one()
    other = db.get(Beneficiary, home.other.id)
    assert other is not None and other.phone_id == phone.id and other.name == "Salimata Coulibaly"
    assert traces(db, "Bintou") == []


@pytest.mark.parametrize("role", ["viewer", "officer", "manager"])
def test_only_an_admin_may_erase(client, staff, home, db, role) -> None:
    # when anyone below admin tries
    response = client.post(f"{API}/{home.woman.code}/erase", headers=staff[role])
    # then a 403, and she is untouched
    assert response.status_code == 403
    db.expire_all()
    woman = db.get(Beneficiary, home.woman.id)
    assert woman is not None and woman.name == NAME
