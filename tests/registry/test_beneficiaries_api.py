"""`/api/v1/beneficiaries`: list, filters, detail, writes, export, audit."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from sqlmodel import Session, select

from outreach.audit.models import AuditEntry
from outreach.outbox.models import OutboundMessage
from outreach.programmes.models import Enrollment
from outreach.registry import service as registry_service
from outreach.registry.models import Beneficiary
from outreach.sites import service as site_service
from outreach.sites.models import SiteLevel

API = "/api/v1/beneficiaries"


@pytest.fixture
def women(db: Session, chw, staff) -> dict[str, int]:
    """Three women in two villages: one displaced in Bambara, one mother of an infant."""
    pelengana = site_service.find(db, name="Pelengana", level=SiteLevel.VILLAGE)
    sakoiba = site_service.find(db, name="Sakoïba", level=SiteLevel.VILLAGE)
    assert pelengana and sakoiba
    awa = registry_service.register_pregnancy(
        db,
        name="Awa Traoré",
        phone="+22376000001",
        weeks=20,
        chw_id=chw.id,
        village_id=pelengana.id,
        consent=registry_service.ConsentInfo("ussd_consent", 1, "fr"),
    ).beneficiary
    fanta = registry_service.register_pregnancy(
        db,
        name="Fanta Diarra",
        phone="+22376000002",
        weeks=30,
        chw_id=chw.id,
        village_id=sakoiba.id,
        language="bm",
        displaced=True,
        consent=registry_service.ConsentInfo("ussd_consent", 1, "bm"),
    ).beneficiary
    mariam = registry_service.register_mother_with_infant(
        db,
        name="Mariam Keita",
        phone="+22376000003",
        birth_date=date.today() - timedelta(days=40),
        sex="F",
        chw_id=chw.id,
        village_id=pelengana.id,
    ).beneficiary
    db.commit()
    return {
        "awa": awa.id,
        "fanta": fanta.id,
        "mariam": mariam.id,
        "pelengana": pelengana.id,
        "sakoiba": sakoiba.id,
        "chw": chw.id,
    }  # type: ignore[dict-item]


def _codes(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [b["name"].split()[0] for b in response.json()["items"]]


def test_list_paginates_with_a_total(client, staff, women) -> None:
    # when the first page of two is asked for
    first = client.get(API, params={"limit": 2}, headers=staff["viewer"]).json()
    second = client.get(API, params={"limit": 2, "offset": 2}, headers=staff["viewer"]).json()
    # then both pages together hold every woman once, and say how many there are
    assert first["total"] == second["total"] == 3
    assert len(first["items"]) == 2 and len(second["items"]) == 1
    # and a page size over 500 is a French 422
    too_big = client.get(API, params={"limit": 501}, headers=staff["viewer"])
    assert too_big.status_code == 422 and "requête invalide" in too_big.json()["detail"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"language": "bm"}, ["Fanta"]),
        ({"displaced": "true"}, ["Fanta"]),
        ({"programme": "infant"}, ["Mariam"]),
        ({"programme": "pregnancy"}, ["Awa", "Fanta"]),
        # Awa is at week 20 and Fanta at week 30; the ends of a range are included
        ({"programme": "pregnancy", "stage_from": 20, "stage_to": 29}, ["Awa"]),
        ({"programme": "pregnancy", "stage_from": 21, "stage_to": 30}, ["Fanta"]),
        ({"programme": "pregnancy", "stage_from": 28}, ["Fanta"]),
        ({"programme": "pregnancy", "stage_to": 20}, ["Awa"]),
        # Mariam's baby is 40 days old: week 5 of life
        ({"programme": "infant", "stage_from": 0, "stage_to": 5}, ["Mariam"]),
        ({"programme": "infant", "stage_from": 6}, []),
        ({"q": "awa"}, ["Awa"]),
        ({"q": "76000002"}, ["Fanta"]),
        ({"consented": "false"}, ["Mariam"]),
        ({"status": "opted_out"}, []),
    ],
)
def test_filters(client, staff, women, params, expected) -> None:
    assert _codes(client.get(API, params=params, headers=staff["viewer"])) == expected


def test_a_stage_range_needs_a_programme_and_an_order(client, staff, women) -> None:
    # When a stage is asked without a programme, or a range is upside down
    alone = client.get(API, params={"stage_from": 20}, headers=staff["viewer"])
    upside_down = client.get(
        API,
        params={"programme": "pregnancy", "stage_from": 30, "stage_to": 20},
        headers=staff["viewer"],
    )
    # Then both are refused in French, and the CSV export follows the same rules
    assert alone.status_code == 422 and "programme" in alone.json()["detail"]
    assert upside_down.status_code == 422 and "stage_from" in upside_down.json()["detail"]
    export = client.get(f"{API}/export.csv", params={"stage_to": 3}, headers=staff["viewer"])
    assert export.status_code == 422


def test_site_filter_takes_a_village_or_any_place_above_it(client, staff, women, db) -> None:
    # given the two villages' district
    assert _codes(
        client.get(API, params={"site_id": women["sakoiba"]}, headers=staff["viewer"])
    ) == ["Fanta"]
    district = site_service.find(db, name="Ségou", level=SiteLevel.DISTRICT)
    assert district is not None
    # then a filter on the district finds everyone under it
    assert (
        len(_codes(client.get(API, params={"site_id": district.id}, headers=staff["viewer"]))) == 3
    )


def test_search_by_code(client, staff, women, db) -> None:
    code = db.get(Beneficiary, women["fanta"]).code
    assert _codes(client.get(API, params={"q": code}, headers=staff["viewer"])) == ["Fanta"]


def test_detail_has_children_enrollments_consents_and_transfers(client, staff, women) -> None:
    # given Mariam, mother of an infant
    body = client.get(f"{API}/{women['mariam']}", headers=staff["viewer"]).json()
    # then her child and infant enrollment are there
    assert [c["sex"] for c in body["children"]] == ["F"]
    assert [e["programme"] for e in body["enrollments"]] == ["infant"]
    assert body["phone"] == "+22376000003"
    awa = client.get(f"{API}/{women['awa']}", headers=staff["viewer"]).json()
    assert [c["granted"] for c in awa["consents"]] == [True] and awa["transfers"] == []
    # and an unknown id is a French 404
    missing = client.get(f"{API}/999999", headers=staff["viewer"])
    assert missing.status_code == 404 and missing.json() == {"detail": "bénéficiaire introuvable"}


def test_officer_registers_a_pregnancy_with_a_staff_consent(client, staff, women, db) -> None:
    # when an officer registers a woman told about the programme in person
    response = client.post(
        API,
        json={
            "name": "Kadia Coulibaly",
            "phone": "76 00 00 09",
            "programme": "pregnancy",
            "weeks": 12,
            "village_id": women["pelengana"],
            "chw_id": women["chw"],
        },
        headers=staff["officer"],
    )
    # then she is registered with her enrollment and a staff consent, and a welcome is queued
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["phone"] == "+22376000009"
    assert body["enrollments"][0]["programme"] == "pregnancy"
    assert body["consents"][0]["channel"] == "staff"
    assert db.exec(
        select(OutboundMessage).where(OutboundMessage.beneficiary_id == body["id"])
    ).first()
    entry = db.exec(select(AuditEntry).where(AuditEntry.action == "beneficiary.create")).one()
    assert entry.actor == "officer@ong.ml" and entry.object_id == str(body["id"])
    assert "76" not in str(entry.detail)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "K", "programme": "pregnancy"}, "weeks ou edd"),
        ({"name": "K", "programme": "infant"}, "birth_date"),
        ({"name": "K", "programme": "pregnancy", "weeks": 50}, "weeks"),
        ({"name": "K", "programme": "pregnancy", "weeks": 10, "phone": "12"}, "numéro"),
        ({"name": "K", "programme": "pregnancy", "weeks": 10, "chw_id": 99999}, "agent 99999"),
    ],
)
def test_bad_registrations_are_422_in_french(client, staff, women, body, message) -> None:
    response = client.post(API, json=body, headers=staff["officer"])
    assert response.status_code == 422, response.text
    assert message in response.json()["detail"]


def test_correct_records_field_names_only(client, staff, women, db) -> None:
    # when an officer corrects her name and phone
    response = client.patch(
        f"{API}/{women['awa']}",
        json={"name": "Awa Traore", "phone": "+22376000077"},
        headers=staff["officer"],
    )
    # then the record changes and the audit names the fields, not the values
    assert response.status_code == 200
    assert response.json()["name"] == "Awa Traore" and response.json()["phone"] == "+22376000077"
    entry = db.exec(select(AuditEntry).where(AuditEntry.action == "beneficiary.update")).one()
    assert entry.detail == {"fields": ["name", "phone"]}


def test_pause_resume_opt_out_and_transfer(client, staff, women, db, chw) -> None:
    awa = women["awa"]
    # when her programme is paused, then resumed
    paused = client.post(f"{API}/{awa}/pause", headers=staff["officer"]).json()
    assert paused["changed"] == 1
    assert (
        db.exec(select(Enrollment.status).where(Enrollment.beneficiary_id == awa)).one() == "paused"
    )
    assert client.post(f"{API}/{awa}/resume", headers=staff["officer"]).json()["changed"] == 1
    # when she moves to another CHW's village
    from outreach.chws import service as chw_service

    other = chw_service.add(
        db, name="Bintou", phone="+22376000050", pin="1111", site_ids=[women["sakoiba"]]
    )
    db.commit()
    moved = client.post(
        f"{API}/{awa}/transfer",
        json={"to_chw_id": other.id, "to_village_id": women["sakoiba"]},
        headers=staff["officer"],
    ).json()
    assert moved["chw_id"] == other.id and moved["village_id"] == women["sakoiba"]
    assert moved["transfers"][0]["from_chw_id"] == chw.id
    # when she asks staff to stop the messages
    out = client.post(f"{API}/{awa}/opt-out", headers=staff["officer"]).json()
    # then she is opted out with a staff withdrawal in her history
    assert out["status"] == "opted_out"
    detail = client.get(f"{API}/{awa}", headers=staff["viewer"]).json()
    assert detail["consents"][-1] == {
        **detail["consents"][-1],
        "granted": False,
        "channel": "staff",
    }
    actions = [e.action for e in db.exec(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions == [
        "beneficiary.pause",
        "beneficiary.resume",
        "beneficiary.transfer",
        "beneficiary.opt_out",
    ]
    # and a transfer to an unknown CHW is a 422
    bad = client.post(f"{API}/{awa}/transfer", json={"to_chw_id": 9999}, headers=staff["officer"])
    assert bad.status_code == 422


def test_export_is_csv_of_the_filtered_list_and_audited(client, staff, women, db) -> None:
    # when a viewer exports the Bambara speakers
    response = client.get(f"{API}/export.csv", params={"language": "bm"}, headers=staff["viewer"])
    # then a CSV with a header and one row comes back
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    lines = response.text.strip().splitlines()
    assert lines[0].startswith("id,code,name,phone") and len(lines) == 2
    assert "Fanta Diarra" in lines[1]
    # and the export is in the audit log, with its filters and row count but no phone
    entry = db.exec(select(AuditEntry).where(AuditEntry.action == "beneficiary.export")).one()
    assert entry.detail == {"rows": 1, "filters": {"language": "bm"}}
    assert entry.actor == "viewer@ong.ml"


def test_export_streams_every_row_chunk_by_chunk(client, staff, women, monkeypatch) -> None:
    # Given chunks of two rows, smaller than the three women
    from outreach.registry import api as registry_api

    monkeypatch.setattr(registry_api, "EXPORT_CHUNK", 2)
    # When the whole list is exported
    response = client.get(f"{API}/export.csv", headers=staff["viewer"])
    # Then each woman is there once, in order, with her number, read over two chunks
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["name"].split()[0] for r in rows] == ["Awa", "Fanta", "Mariam"]
    assert [r["phone"] for r in rows] == ["+22376000001", "+22376000002", "+22376000003"]
