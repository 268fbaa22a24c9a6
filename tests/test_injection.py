"""SQL and HTML/JS injection strings in every text field staff, CHWs and the gateway fill.

Each is stored literally (read back equal) or refused with a clean 4xx where the field
has rules; never a 500, never interpreted. How the console shows them is checked in
Chromium (`tests/console/test_injection_browser.py`). The normal suite sends four of
the strings; every one of them with

    INJECTION_ALL=1 .venv/bin/python -m pytest tests/test_injection.py
"""

from __future__ import annotations

import os

import pytest
from sqlmodel import select

from outreach.chws.models import Chw
from outreach.inbound.models import InboundMessage
from outreach.registry.models import Beneficiary
from outreach.sites.models import Site

PAYLOADS = [
    "Awa' OR '1'='1",
    "Awa'; DROP TABLE beneficiary; --",
    'Awa" OR ""="',
    "Awa <script>alert('x')</script>",
    'Awa <img src=x onerror="alert(1)">',
    "Awa {{7*7}} ${7*7} {% raw %}",
    "Awa %s %d %n %x",
    "Awa\x00Traore",
    "\u202eeroarT awA",
    "Awa \u200b\ufeff Traore",
    "Awa " + "A" * 5000,
    "Awa ɛɔɲŋ 😀",
]
IDS = [
    "quote", "drop", "dquote", "script", "img", "template", "format", "nul", "rtl",
    "zero-width", "long", "unicode",
]  # fmt: skip


if not os.environ.get("INJECTION_ALL"):
    QUICK = {"drop", "img", "nul", "long"}
    PAYLOADS, IDS = (
        [p for p, i in zip(PAYLOADS, IDS, strict=True) if i in QUICK],
        [i for i in IDS if i in QUICK],
    )


def _stored_or_refused(response, sent: str, read: str | None) -> None:
    """Read back equal (NUL dropped, as for every gateway form), or a 422 saying why."""
    assert response.status_code < 500, response.text
    if response.status_code in (200, 201):
        assert read in (sent, sent.replace("\x00", "")), (sent[:80], (read or "")[:80])
    else:
        assert response.status_code == 422, response.text
        assert response.json()["detail"], response.text


def _village(db, name: str = "Pelengana") -> int:
    found = db.exec(select(Site.id).where(Site.name == name, Site.level == "village")).first()
    assert found is not None
    return found


@pytest.mark.parametrize("payload", PAYLOADS, ids=IDS)
def test_staff_fields_are_stored_literally_or_refused(client, db, chw, staff, payload) -> None:
    admin, manager = staff["admin"], staff["manager"]
    village = _village(db)
    # When staff put the string in a beneficiary's, a CHW's, a site's, a user's and a
    # campaign's names and texts
    woman = client.post(
        "/api/v1/beneficiaries",
        json={"name": payload, "programme": "pregnancy", "weeks": 20, "village_id": village},
        headers=staff["officer"],
    )
    agent = client.post(
        "/api/v1/chws",
        json={"name": payload, "phone": "+22376111222", "pin": "4321", "site_ids": [village]},
        headers=manager,
    )
    site = client.post("/api/v1/sites", json={"name": payload, "level": "region"}, headers=manager)
    user = client.post(
        "/api/v1/users",
        json={"email": "x@ong.ml", "name": payload, "role": "viewer", "password": "Segou-2026!x"},
        headers=admin,
    )
    campaign = client.post(
        "/api/v1/campaigns",
        json={"name": payload, "texts": {"fr": payload}, "audience": {}},
        headers=staff["officer"],
    )
    # Then each is stored as typed, or refused with a reason
    db.expire_all()
    _stored_or_refused(
        woman, payload, woman.status_code == 201 and db.get(Beneficiary, woman.json()["id"]).name
    )
    _stored_or_refused(
        agent, payload, agent.status_code == 201 and db.get(Chw, agent.json()["id"]).name
    )
    _stored_or_refused(
        site, payload, site.status_code == 201 and db.get(Site, site.json()["id"]).name
    )
    _stored_or_refused(user, payload, user.status_code == 201 and user.json()["name"])
    if campaign.status_code == 201:
        again = client.get(f"/api/v1/campaigns/{campaign.json()['id']}", headers=admin).json()
        _stored_or_refused(campaign, payload, again["name"])
        _stored_or_refused(campaign, payload, again["texts"]["fr"])
    else:
        _stored_or_refused(campaign, payload, None)
    # And every table is still there
    assert db.exec(select(Beneficiary.id)).all() is not None


@pytest.mark.parametrize("payload", PAYLOADS, ids=IDS)
def test_an_incoming_sms_body_is_stored_literally(client, db, payload) -> None:
    # When a woman's reply carries the string
    response = client.post(
        "/callbacks/at/sms",
        data={"id": "ATXid_inj_1", "from": "+22370123456", "to": "36123", "text": payload},
    )
    # Then it is stored as sent (NUL dropped), or refused when longer than an SMS thread
    stored = db.exec(select(InboundMessage.text)).first()
    _stored_or_refused(response, payload, stored)


@pytest.mark.parametrize("payload", PAYLOADS, ids=IDS)
def test_a_name_typed_in_ussd_is_stored_literally_or_asked_again(chw, dialer, db, payload):
    # Given the CHW registering a woman
    session = dialer()
    session.dial()
    session.answer("1234")
    session.answer("1")
    # When she types the string as the woman's name
    screen = session.answer(payload)
    # Then the next question comes and the name is kept as typed, or the name is asked again
    if "Nom" in screen or "nom" in screen:
        return
    for answer in ("1", "70123499", "2", "20", "1", "1", "2", "1"):
        screen = session.answer(answer)
    final = session.answer("1")
    assert final.startswith("END "), final
    db.expire_all()
    names = db.exec(select(Beneficiary.name)).all()
    assert names == [payload.replace("\x00", "").strip()], names


def test_a_nul_in_a_search_or_a_form_is_a_422_not_a_database_error(client, staff) -> None:
    # When staff search for, or post a form with, a NUL character (no keyboard types one)
    search = client.get("/api/v1/beneficiaries", params={"q": "Awa\x00"}, headers=staff["viewer"])
    form = client.post("/console/login", data={"email": "a\x00@ong.ml", "password": "x"})
    # Then both are refused before any query, with the reason
    for response in (search, form):
        assert response.status_code == 422, response.text
        assert "NUL" in response.json()["detail"]
    # And "%00" typed in a JSON field is text, kept as typed
    site = client.post(
        "/api/v1/sites", json={"name": "Zone 100%00", "level": "region"}, headers=staff["manager"]
    )
    assert site.status_code == 201 and site.json()["name"] == "Zone 100%00", site.text
