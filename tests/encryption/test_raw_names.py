"""A copy of the raw tables names nobody: every table read with plain SQL after real flows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
from sqlalchemy import inspect, text
from sqlmodel import Session, col, select

from outreach.appointments import planning
from outreach.appointments import service as appointments_service
from outreach.campaigns import materialise
from outreach.imports import service as imports
from outreach.outbox.models import MessageStatus, OutboundMessage
from outreach.programmes import fanout
from outreach.programmes import service as programmes
from outreach.registry.models import Beneficiary, Phone, has_number
from outreach.sites import service as sites
from outreach.sites.models import SiteLevel
from outreach.timeutil import local_today
from workers import outbox as tasks

# Distinctive names, each of which must appear nowhere in the raw tables; lower case,
# since a name may be stored in any case.
SHARED_WOMAN = "Kadidiatou Zerbo"
RELAYED_WOMAN = "Mariétou Konaté"
API_WOMAN = "Salimata Ouattara"
CHILD = "Nafissatou"
IMPORTED = "Rokiatou Dembélé"
NEEDLES = [
    "kadidiatou",
    "zerbo",
    "mariétou",
    "marietou",
    "konaté",
    "konate",
    "salimata",
    "ouattara",
    "nafissatou",
    "rokiatou",
    "dembélé",
    "dembele",
]


def _register_by_ussd(dialer, *, name: str, phone_kind: str, phone: str | None) -> None:
    session = dialer()
    session.dial()
    for answer in ("1234", "1", name, phone_kind, *([phone] if phone else []), "2", "20"):
        session.answer(answer)
    for answer in ("1", "1", "1", "1"):
        session.answer(answer)
    assert session.answer("1").startswith("END Inscrite")


def _raw_cells(db: Session) -> Iterator[tuple[str, str]]:
    engine = db.get_bind()
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            columns = [c["name"] for c in inspect(engine).get_columns(table)]
            selected = ", ".join(f'CAST("{c}" AS TEXT)' for c in columns)
            for row in conn.execute(text(f'SELECT {selected} FROM "{table}"')):  # noqa: S608
                for value in row:
                    if value is not None:
                        yield table, str(value).lower()


def test_after_every_flow_the_raw_tables_hold_no_name(
    chw, dialer, client, staff, db: Session, emulator_url
) -> None:
    # Given a CHW who registers, by USSD, a woman on a shared phone and a woman with no
    # phone, and an officer who registers a third by the API, later mother of a girl
    _register_by_ussd(dialer, name=SHARED_WOMAN, phone_kind="2", phone="76 48 26 19")
    _register_by_ussd(dialer, name=RELAYED_WOMAN, phone_kind="3", phone=None)
    pelengana = sites.find(db, name="Pelengana", level=SiteLevel.VILLAGE)
    assert pelengana is not None
    created = client.post(
        "/api/v1/beneficiaries",
        json={
            "name": API_WOMAN,
            "phone": "+22366112233",
            "programme": "pregnancy",
            "weeks": 38,
            "village_id": pelengana.id,
            "chw_id": chw.id,
        },
        headers=staff["officer"],
    )
    assert created.status_code < 300, created.text
    api_woman_id = created.json()["id"]
    programmes.record_birth(
        db,
        beneficiary_id=api_woman_id,
        birth_date=local_today() - timedelta(days=2),
        sex="F",
        child_name=CHILD,
    )
    db.commit()
    # And a CSV import of a fourth woman, plus a line repeating the first (a duplicate)
    csv = (
        "nom,telephone,village,semaines\n"
        f"{IMPORTED},+22365443322,Pelengana,12\n"
        f"{SHARED_WOMAN},+22376482619,Pelengana,20\n"
    ).encode()
    checked = imports.check(db, data=csv, filename="femmes.csv", user=None)
    assert checked.problems and checked.valid_lines == 1
    imports.confirm(db, import_id=checked.id)
    while imports.run_batch(db, import_id=checked.id):
        pass
    db.commit()
    # And the day's programme fan-out, a campaign by first name, an appointment reminder
    fanout.run(day=local_today(), include_drafts=True)
    body = {
        "name": "Séance jeudi",
        "texts": {"fr": "{prenom}, séance jeudi au CSCom.", "bm": "{prenom}, kalan jumadon."},
        "audience": {},
    }
    campaign_id = client.post("/api/v1/campaigns", json=body, headers=staff["officer"]).json()["id"]
    for path, role in (("submit", "officer"), ("approve", "manager"), ("start", "manager")):
        answer = client.post(f"/api/v1/campaigns/{campaign_id}/{path}", headers=staff[role])
        assert answer.status_code < 300, answer.text
    materialise.run(campaign_id)
    appointments_service.create(
        db,
        beneficiary_id=api_woman_id,
        kind="postnatal",
        due_on=local_today() + timedelta(days=1),
        source="staff",
    )
    db.commit()
    planning.run()
    # And everything due is sent through the gateway, and one delivery report comes back
    while tasks.drain.run()["accepted"]:
        pass
    db.expire_all()
    sent = db.exec(
        select(OutboundMessage).where(col(OutboundMessage.gateway_message_id).is_not(None))
    ).all()
    assert sent
    report = client.post(
        "/callbacks/at/delivery",
        data={
            "id": sent[0].gateway_message_id,
            "status": "Success",
            "phoneNumber": sent[0].to_number,
            "networkCode": "61001",
            "failureReason": "",
            "retryCount": "0",
        },
    )
    assert report.status_code == 200
    # And the shared phone replies with her name, then sends STOP; the USSD gateway posts
    # an end-of-session notice quoting what the CHW typed
    shared = db.exec(select(Phone).where(has_number("+22376482619"))).one()
    for i, sms in enumerate((f"Merci, ici {SHARED_WOMAN} de Pelengana", "STOP")):
        posted = client.post(
            "/callbacks/at/sms",
            data={"id": f"in-{i}", "from": shared.e164, "to": "36123", "text": sms, "date": "x"},
        )
        assert posted.status_code == 200
    ended = client.post(
        "/callbacks/at/ussd/events",
        data={
            "date": "2026-03-14 09:12:45",
            "sessionId": "ATUid_raw_names",
            "serviceCode": "*384*123#",
            "networkCode": "99999",
            "phoneNumber": "+22370000001",
            "status": "Incomplete",
            "cost": "KES 0.0000",
            "durationInMillis": "41000",
            "hopsCount": "4",
            "input": f"1234*1*{RELAYED_WOMAN}",
            "lastAppResponse": f"CON {RELAYED_WOMAN}: son telephone?",
            "errorMessage": "",
        },
    )
    assert ended.status_code == 200
    # And staff search and export by name (the search is audited)
    found = client.get("/api/v1/beneficiaries", params={"q": "zerbo"}, headers=staff["viewer"])
    assert [w["name"] for w in found.json()["items"]] == [SHARED_WOMAN]
    export = client.get(
        "/api/v1/beneficiaries/export.csv", params={"q": "konate"}, headers=staff["manager"]
    )
    assert RELAYED_WOMAN in export.text

    # When every table of the database is read with plain SQL, every cell as text
    cells = list(_raw_cells(db))

    # Then no cell holds any of the names, nor the CHW's name
    assert len(cells) > 500
    needles = [*NEEDLES, *(w.lower() for w in chw.name.split())]
    leaks = [(table, needle) for table, cell in cells for needle in needles if needle in cell]
    assert leaks == [], leaks
    # While the application reads them all back, and every sent text named its woman
    db.expire_all()
    names = {b.name for b in db.exec(select(Beneficiary))}
    assert {SHARED_WOMAN, RELAYED_WOMAN, API_WOMAN, IMPORTED} <= names
    ledger = httpx.get(f"{emulator_url}/emulator/ledger", timeout=5).json()["messages"]
    texts = [m["message"] for m in ledger]
    assert any(f"{SHARED_WOMAN.split()[0]}, séance jeudi" in t for t in texts)
    assert any(t.startswith(f"Pour {RELAYED_WOMAN}") for t in texts)
    assert not any(marker in t for t in texts for marker in ("\x1e", "\x1f"))
    queued = db.exec(select(OutboundMessage).where(OutboundMessage.status == MessageStatus.QUEUED))
    assert all("\x1e" not in m.rendered for m in queued)
