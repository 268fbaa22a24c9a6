"""A copy of the database reveals no phone number: every table read raw after a real day.

The flow runs across real processes (API, worker, emulator), as in production: a CHW
registers a woman by USSD, staff add another through the API, SMS go out through the
emulator and come back as delivery reports, she answers and then sends STOP, the
gateway reports an opt-out, USSD sessions end, the programme fan-out, a campaign by
first name and the appointment reminders run. Then every cell of every table is read
with plain SQL and searched for the numbers in every form people write them.
"""

from __future__ import annotations

from uuid import uuid4

import httpx
import pytest
from sqlalchemy import inspect, text
from sqlmodel import Session, select

from outreach.appointments import planning
from outreach.campaigns import materialise
from outreach.chws import service as chw_service
from outreach.db import get_engine
from outreach.encryption.types import EncryptedText
from outreach.outbox.models import MessageStatus, OutboundMessage, addressed_to
from outreach.programmes import fanout
from outreach.registry.models import Beneficiary, Phone, PhoneStatus, has_number
from outreach.timeutil import local_today
from outreach.ussd.models import UssdSessionEvent

pytestmark = pytest.mark.e2e

CHW = "+22370000001"
# Registered by her CHW over USSD (typed in the national form), then STOP by SMS.
WOMAN = "+22376918273"
# Registered by staff through the API; a campaign and the programme reach her.
API_WOMAN = "+22365738291"
# Only ever seen in a gateway opt-out notice.
OPTED_OUT = "+22379463815"
# Only ever seen as the sender of an SMS that matches no one.
STRANGER = "+22390817263"


def forms(e164: str) -> list[str]:
    """The ways a number is written: E.164, without the plus, and the 8 national digits."""
    return [e164, e164[1:], e164[4:]]


def _hop(api_url: str, session_id: str, text_: str, phone: str = CHW) -> str:
    response = httpx.post(
        f"{api_url}/callbacks/at/ussd",
        data={
            "sessionId": session_id,
            "serviceCode": "*384*123#",
            "phoneNumber": phone,
            "networkCode": "99999",
            "text": text_,
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.text


def _post(api_url: str, path: str, data: dict[str, str]) -> None:
    response = httpx.post(f"{api_url}{path}", data=data, timeout=10)
    assert response.status_code == 200, response.text


def _sms(api_url: str, sender: str, body: str) -> None:
    _post(
        api_url,
        "/callbacks/at/sms",
        {
            "id": f"ATXid_in_{uuid4().hex}",
            "from": sender,
            "to": "36123",
            "text": body,
            "date": "2026-11-22 09:12:45",
            "networkCode": "61001",
        },
    )


# Free text that may quote a number as typed (a USSD session's input, its last screen):
# encrypted by the names and free-text part; read here as soon as the model says so.
FREE_TEXT = {
    ("ussd_session_event", "input"): UssdSessionEvent,
    ("ussd_session_event", "last_app_response"): UssdSessionEvent,
}


def _pending_free_text() -> set[tuple[str, str]]:
    return {
        (table, column)
        for (table, column), model in FREE_TEXT.items()
        if not isinstance(model.__table__.c[column].type, EncryptedText)  # type: ignore[attr-defined]
    }


def _every_cell() -> dict[tuple[str, str], list[str]]:
    engine = get_engine()
    cells: dict[tuple[str, str], list[str]] = {}
    skipped = _pending_free_text()
    # A plain read on SQLite, not the application's BEGIN IMMEDIATE: the worker writes on.
    with engine.execution_options(sqlite_begin=None).connect() as conn:
        for table in inspect(engine).get_table_names():
            columns = [c["name"] for c in inspect(engine).get_columns(table)]
            as_text = ", ".join(f'CAST("{c}" AS TEXT)' for c in columns)
            rows = conn.execute(text(f'SELECT {as_text} FROM "{table}"')).all()  # noqa: S608
            for i, column in enumerate(columns):
                if (table, column) not in skipped:
                    cells[(table, column)] = [r[i] for r in rows if r[i] is not None]
    return cells


def test_no_table_holds_a_phone_number_in_clear(stack, chw, staff, db: Session, wait_for) -> None:
    village = chw_service.villages(db, chw_id=chw.id or 0)[0]
    # Given a CHW registering a woman over USSD, as Africa's Talking posts the hops
    session_id = f"ATUid_raw_{uuid4().hex}"
    steps = ["1234", "1", "Kadidia Samake", "1", WOMAN[4:], "2", "12", "1", "1", "2", "1"]
    for i in range(len(steps) + 1):
        _hop(stack.api_url, session_id, "*".join(steps[:i]))
    assert _hop(stack.api_url, session_id, "*".join(steps) + "*1").startswith("END Inscrite")
    _post(
        stack.api_url,
        "/callbacks/at/ussd/events",
        {
            "date": "2026-11-22 09:12:45",
            "sessionId": session_id,
            "serviceCode": "*384*123#",
            "networkCode": "99999",
            "phoneNumber": CHW,
            "status": "Success",
            "cost": "XOF 2.5000",
            "durationInMillis": "41870",
            "hopsCount": "12",
            "input": "*".join(steps),
            "lastAppResponse": "END Inscrite",
            "errorMessage": "",
        },
    )
    # and staff registering another woman of the CHW's village through the API
    created = httpx.post(
        f"{stack.api_url}/api/v1/beneficiaries",
        json={
            "name": "Nana Dembele",
            "phone": API_WOMAN,
            "village_id": village.id,
            "chw_id": chw.id,
            "displaced": True,
            "programme": "pregnancy",
            "weeks": 20,
        },
        headers=staff["officer"],
        timeout=10,
    )
    assert created.status_code == 201, created.text

    # When the welcome SMS go out through the worker and the emulator reports them delivered
    def delivered() -> list[OutboundMessage]:
        db.expire_all()
        found = [
            db.exec(
                select(OutboundMessage).where(
                    addressed_to(number), OutboundMessage.status == MessageStatus.DELIVERED
                )
            ).first()
            for number in (WOMAN, API_WOMAN)
        ]
        return found if all(found) else []

    wait_for(delivered, timeout=60, what=f"delivered welcome SMS\n{stack.logs()}")
    # and she answers, then sends STOP; a stranger writes; the gateway reports an opt-out
    _sms(stack.api_url, WOMAN, "Merci beaucoup")
    _sms(stack.api_url, WOMAN, "STOP")
    _sms(stack.api_url, STRANGER, "Votre credit est faible")
    _post(
        stack.api_url,
        "/callbacks/at/optout",
        {"senderId": "OUTREACH", "phoneNumber": OPTED_OUT},
    )
    # and the day's programme, a campaign by first name and the reminders are planned
    fanout.run(day=local_today())
    planning.run()
    campaign = httpx.post(
        f"{stack.api_url}/api/v1/campaigns",
        json={
            "name": "Vaccination",
            "texts": {"fr": "{prenom}, vaccination samedi au CSCom.", "bm": "{prenom}, CSCom."},
            "audience": {"site_ids": [village.id], "displaced": True},
        },
        headers=staff["officer"],
        timeout=10,
    )
    assert campaign.status_code == 201, campaign.text
    cid = campaign.json()["id"]
    for action, role in (("submit", "officer"), ("approve", "manager"), ("start", "manager")):
        response = httpx.post(
            f"{stack.api_url}/api/v1/campaigns/{cid}/{action}", headers=staff[role], timeout=10
        )
        assert response.status_code < 300, response.text
    materialise.run(cid)

    # Then the application still finds and reads every number
    db.expire_all()
    phone = db.exec(select(Phone).where(has_number(WOMAN))).one()
    assert phone.e164 == WOMAN and phone.status == PhoneStatus.OPTED_OUT
    assert db.exec(select(Phone).where(has_number(OPTED_OUT))).one().status == "opted_out"
    api_woman = db.exec(
        select(Beneficiary)
        .join(Phone, Phone.id == Beneficiary.phone_id)
        .where(has_number(API_WOMAN))
    ).one()
    kinds = {m.kind for m in db.exec(select(OutboundMessage).where(addressed_to(API_WOMAN)))}
    assert {"reply", "campaign"} <= kinds, kinds
    assert api_woman.id is not None
    # And no cell of any table, read raw, holds any of them in any form
    db.rollback()
    cells = _every_cell()
    assert sum(len(v) for v in cells.values()) > 100
    for number in (CHW, WOMAN, API_WOMAN, OPTED_OUT, STRANGER):
        leaks = {
            place: [v for v in values if any(form in v for form in forms(number))]
            for place, values in cells.items()
        }
        assert {t: v for t, v in leaks.items() if v} == {}, number
