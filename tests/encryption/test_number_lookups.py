"""Every look-up by number goes through the blind index, and keeps working mid-rotation.

A woman registered before an index-key rotation carries the old key's hash until
`outreach keys rotate` has run; the new key is already first. Each way the service
finds her by number must still find her in that window, then after the rotation.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from sqlmodel import Session, select

from outreach.config import get_settings
from outreach.encryption import keys, service
from outreach.inbound.models import InboundMessage, OptOutNotice
from outreach.outbox.models import OutboundMessage
from outreach.registry.models import Phone, PhoneStatus

AWA = "+22370123456"


@pytest.fixture
def rotating() -> Iterator[None]:
    """A new index key put first, the old one (which wrote the existing rows) kept after it."""
    settings = get_settings()
    before = settings.index_keys
    current = before or []
    settings.index_keys = [SecretStr(keys.generate_index_key()), *current]
    if not current:
        # The derived development key must stay listed, as an operator would keep it.
        settings.index_keys.append(SecretStr(_derived_index_key()))
    yield
    settings.index_keys = before


def _derived_index_key() -> str:
    settings = get_settings()
    saved = settings.index_keys
    settings.index_keys = []
    try:
        return keys._key_material()[1][0]
    finally:
        settings.index_keys = saved


def _sms(text: str, gateway_id: str) -> dict[str, str]:
    return {"id": gateway_id, "from": "0022370123456", "to": "36123", "text": text}


def test_she_is_found_by_number_during_and_after_an_index_key_rotation(
    woman, rotating, client, dialer, staff, db: Session
) -> None:
    # Given Awa's phone indexed under the old key while the new key is first
    old_hash = db.exec(select(Phone.e164_index).where(Phone.id == woman.phone_id)).one()
    assert old_hash != keys.blind_index(AWA) and old_hash in keys.blind_indexes(AWA)
    # When she dials the USSD service
    menu = dialer(AWA).dial()
    # Then she is recognised by her number
    assert menu.startswith("CON Bonjour Awa Traore")
    # When she answers an SMS (her number written the international way)
    assert client.post("/callbacks/at/sms", data=_sms("Merci", "ATXid_r1")).status_code == 200
    # Then the message is matched to her, and indexed under the new key
    db.expire_all()
    inbound = db.exec(select(InboundMessage)).one()
    assert inbound.beneficiary_id == woman.id and inbound.from_index == keys.blind_index(AWA)
    # When staff filter the outbox by her number, written as people say it
    found = client.get(
        "/api/v1/messages", params={"phone": "70 12 34 56"}, headers=staff["viewer"]
    ).json()
    # Then her messages are listed (queued under the old key's hash), and only hers
    assert {m["to_number"] for m in found["items"]} == {AWA}
    assert woman.id in {m["beneficiary_id"] for m in found["items"]}
    # When the gateway reports that her number opted out
    response = client.post(
        "/callbacks/at/optout", data={"senderId": "OUTREACH", "phoneNumber": AWA}
    )
    assert response.status_code == 200
    # Then her phone is found and stopped, and what was queued for her is cancelled
    db.expire_all()
    assert db.get(Phone, woman.phone_id).status == PhoneStatus.OPTED_OUT  # type: ignore[union-attr]
    assert db.exec(select(OptOutNotice.phone_index)).one() == keys.blind_index(AWA)
    queued = db.exec(select(OutboundMessage).where(OutboundMessage.beneficiary_id == woman.id))
    assert {m.status for m in queued} == {"cancelled"}

    # When the rotation runs and the old key is removed
    service.rotate(session=db)
    db.commit()
    get_settings().index_keys = get_settings().index_keys[:1]
    # Then she is still found by her number, under the new key alone
    db.expire_all()
    assert db.exec(select(Phone.e164_index).where(Phone.id == woman.phone_id)).one() == (
        keys.blind_index(AWA)
    )
    assert dialer(AWA).dial().startswith("CON Bonjour Awa Traore")
    found = client.get("/api/v1/messages", params={"phone": AWA}, headers=staff["viewer"]).json()
    assert found["total"] >= 1 and {m["to_number"] for m in found["items"]} == {AWA}
