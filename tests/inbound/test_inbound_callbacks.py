"""POST /callbacks/at/sms and /callbacks/at/optout as Africa's Talking sends them."""

from __future__ import annotations

import pytest
from sqlmodel import Session, col, select

from outreach.inbound.models import InboundMessage, OptOutNotice
from outreach.outbox import service as outbox_service
from outreach.outbox.models import MessageKind, MessageStatus, OutboundMessage, addressed_to
from outreach.registry import service as registry_service
from outreach.registry.models import Phone, PhoneStatus, has_number

AWA = "+22370123456"
MOUSSA = "+22376543210"


def _sms(**overrides: str) -> dict[str, str]:
    """An incoming SMS as AT posts it."""
    fields = {
        "id": "ATXid_in_0001",
        "from": AWA,
        "to": "36123",
        "text": "STOP",
        "date": "2025-03-14 09:12:45",
        "linkId": "SampleLinkId123",
        "networkCode": "61001",
    }
    fields.update(overrides)
    return fields


def _register_awa(db: Session) -> int:
    registration = registry_service.register_pregnancy(
        db, name="Awa Traore", phone="70 12 34 56", weeks=20, chw_id=None
    )
    db.commit()
    assert registration.beneficiary.id is not None
    return registration.beneficiary.id


def _inbox(db: Session) -> list[InboundMessage]:
    db.expire_all()
    return list(db.exec(select(InboundMessage).order_by(col(InboundMessage.id))).all())


def _outbox(db: Session, to_number: str) -> list[OutboundMessage]:
    db.expire_all()
    return list(
        db.exec(
            select(OutboundMessage).where(addressed_to(to_number)).order_by(col(OutboundMessage.id))
        ).all()
    )


def test_incoming_sms_is_stored_once_however_often_at_retries(client, db) -> None:
    # Given AT retries an incoming SMS until it sees a 200
    # When the same message id is posted three times
    responses = [client.post("/callbacks/at/sms", data=_sms()) for _ in range(3)]
    # Then each post is acknowledged and the SMS is stored once, with AT's fields
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert responses[0].json() == {"status": "ok"}
    [sms] = _inbox(db)
    assert sms.gateway_id == "ATXid_in_0001" and sms.from_number == AWA
    assert sms.to == "36123" and sms.text == "STOP"
    assert sms.link_id == "SampleLinkId123" and sms.network_code == "61001"
    assert sms.sent_date == "2025-03-14 09:12:45"
    assert sms.beneficiary_id is None


def test_distinct_ids_are_distinct_messages(client, db) -> None:
    # Given two different SMS with the same text from the same phone
    # When both are posted
    for gateway_id in ("ATXid_in_a", "ATXid_in_b"):
        assert client.post("/callbacks/at/sms", data=_sms(id=gateway_id)).status_code == 200
    # Then both are kept
    assert [m.gateway_id for m in _inbox(db)] == ["ATXid_in_a", "ATXid_in_b"]


def test_incoming_sms_is_linked_to_a_known_beneficiary(client, db) -> None:
    # Given Awa is registered
    awa_id = _register_awa(db)
    # When she texts the service (AT sends E.164)
    response = client.post("/callbacks/at/sms", data=_sms(text="Merci"))
    # Then her SMS is linked to her
    assert response.status_code == 200
    [sms] = _inbox(db)
    assert sms.beneficiary_id == awa_id and sms.from_number == AWA


def test_incoming_sms_from_an_unknown_number_is_normalised(client, db) -> None:
    # Given nobody is registered on this number
    # When an SMS comes from it written with the 00 prefix
    response = client.post("/callbacks/at/sms", data=_sms(**{"from": "0022376543210"}))
    # Then it is stored under the E.164 number, unlinked
    assert response.status_code == 200
    [sms] = _inbox(db)
    assert sms.from_number == MOUSSA and sms.beneficiary_id is None


@pytest.mark.parametrize("sender", ["Orange", "MOOV-INFO", "36123"])
def test_incoming_sms_from_a_non_phone_sender_is_stored(client, db, sender) -> None:
    # Given an operator or short-code sender that is not a phone number
    # When it sends us a message
    response = client.post(
        "/callbacks/at/sms", data=_sms(**{"from": sender, "text": "Votre credit est faible"})
    )
    # Then it is stored as given, without a beneficiary
    assert response.status_code == 200
    [sms] = _inbox(db)
    assert sms.from_number == sender and sms.beneficiary_id is None


def test_incoming_sms_with_empty_text_is_stored(client, db) -> None:
    # Given an SMS with no text field at all
    form = _sms()
    del form["text"]
    # When it is posted
    response = client.post("/callbacks/at/sms", data=form)
    # Then it is stored with an empty text
    assert response.status_code == 200
    [sms] = _inbox(db)
    assert sms.text == ""


def test_incoming_sms_with_a_nul_byte_is_stored_not_500(client, db) -> None:
    # Given a text carrying a NUL character, which PostgreSQL cannot store
    form = _sms(text="STOP\x00 merci")
    # When it is posted
    response = client.post("/callbacks/at/sms", data=form)
    # Then it is answered and stored without the NUL
    assert response.status_code == 200
    [sms] = _inbox(db)
    assert sms.text == "STOP merci"


def test_incoming_sms_with_a_long_date_is_stored_not_500(client, db) -> None:
    # Given a date longer than the column (ISO with microseconds and a zone name)
    long_date = "2025-03-14T09:12:45.123456+00:00 GMT"
    # When AT posts it
    response = client.post("/callbacks/at/sms", data=_sms(date=long_date))
    # Then the SMS is kept (AT would otherwise retry it for 12 hours), its date cut to fit
    assert response.status_code == 200
    [sms] = _inbox(db)
    assert sms.sent_date == long_date[:30]


def test_optout_marks_the_phone_and_cancels_its_queued_messages(client, db) -> None:
    # Given Awa registered (her welcome SMS is queued), a reminder for her due later,
    # and a message queued to Moussa
    _register_awa(db)
    for key, to_number in (("reminder:awa", AWA), ("reminder:moussa", MOUSSA)):
        outbox_service.enqueue(
            db, dedupe_key=key, to_number=to_number, body="Rappel", kind=MessageKind.REMINDER
        )
    db.commit()
    assert len(_outbox(db, AWA)) == 2
    # When AT tells us she opted out of our sender
    response = client.post(
        "/callbacks/at/optout", data={"senderId": "OUTREACH", "phoneNumber": AWA}
    )
    # Then her phone is opted out, her messages are cancelled, Moussa's are not
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    db.expire_all()
    phone = db.exec(select(Phone).where(has_number(AWA))).one()
    assert phone.status == PhoneStatus.OPTED_OUT and phone.opted_out_at is not None
    for message in _outbox(db, AWA):
        assert message.status == MessageStatus.CANCELLED
        assert message.failure_reason == "gateway_optout"
    [moussa] = _outbox(db, MOUSSA)
    assert moussa.status == MessageStatus.QUEUED
    [notice] = db.exec(select(OptOutNotice)).all()
    assert notice.phone_number == AWA and notice.sender_id == "OUTREACH"


def test_optout_of_an_unknown_number_is_remembered(client, db) -> None:
    # Given a number we have never seen
    # When AT reports its opt-out
    response = client.post("/callbacks/at/optout", data={"phoneNumber": MOUSSA})
    # Then the phone is created already opted out, so a later registration will not text it
    assert response.status_code == 200
    phone = db.exec(select(Phone).where(has_number(MOUSSA))).one()
    assert phone.status == PhoneStatus.OPTED_OUT


def test_optout_of_an_unparseable_number_is_kept_as_a_notice(client, db) -> None:
    # Given a phone number field that is not a number
    # When AT posts it
    response = client.post("/callbacks/at/optout", data={"phoneNumber": "not-a-number"})
    # Then it is acknowledged and the notice kept for an operator, without a phone row
    assert response.status_code == 200
    [notice] = db.exec(select(OptOutNotice)).all()
    assert notice.phone_number == "not-a-number"
    assert db.exec(select(Phone)).all() == []


@pytest.mark.parametrize(
    ("path", "form", "field"),
    [
        ("/callbacks/at/sms", {"from": AWA, "text": "x"}, "id"),
        ("/callbacks/at/sms", {"id": "ATXid_in_9", "text": "x"}, "from"),
        ("/callbacks/at/sms", {"id": "", "from": AWA}, "id"),
        ("/callbacks/at/optout", {"senderId": "OUTREACH"}, "phoneNumber"),
        ("/callbacks/at/optout", {"phoneNumber": ""}, "phoneNumber"),
    ],
    ids=["sms-no-id", "sms-no-from", "sms-empty-id", "optout-no-phone", "optout-empty-phone"],
)
def test_missing_fields_are_422_with_a_message(client, db, path, form, field) -> None:
    # Given a callback without a required field
    # When it is posted
    response = client.post(path, data=form)
    # Then it is refused with a JSON reason naming the field, and nothing is stored
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, str) and field in detail
    assert _inbox(db) == []
    assert db.exec(select(OptOutNotice)).all() == []
