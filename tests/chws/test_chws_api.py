"""`/api/v1/chws`: never the PIN hash; managers create, correct, reset and deactivate."""

from __future__ import annotations

from sqlmodel import Session, select

from outreach.audit.models import AuditEntry
from outreach.chws import service as chw_service
from outreach.chws.models import Chw
from outreach.sites import service as site_service
from outreach.sites.models import SiteLevel


def test_list_and_detail_never_show_the_pin(client, staff, chw) -> None:
    listed = client.get("/api/v1/chws", headers=staff["viewer"])
    assert listed.status_code == 200 and listed.json()["total"] == 1
    detail = client.get(f"/api/v1/chws/{chw.id}", headers=staff["viewer"]).json()
    assert detail["phone"] == "+22370000001" and len(detail["site_ids"]) == 3
    assert "pin" not in str(listed.json()) and "pin_hash" not in detail
    assert client.get("/api/v1/chws/4242", headers=staff["viewer"]).status_code == 404


def test_filters(client, staff, chw, db: Session) -> None:
    village = site_service.find(db, name="Pelengana", level=SiteLevel.VILLAGE)
    assert village is not None
    hit = client.get("/api/v1/chws", params={"site_id": village.id}, headers=staff["viewer"])
    assert hit.json()["total"] == 1
    assert (
        client.get("/api/v1/chws", params={"q": "zzz"}, headers=staff["viewer"]).json()["total"]
        == 0
    )
    assert (
        client.get("/api/v1/chws", params={"active": "false"}, headers=staff["viewer"]).json()[
            "total"
        ]
        == 0
    )


def test_manager_creates_corrects_resets_and_deactivates(client, staff, chw, db: Session) -> None:
    village = site_service.find(db, name="Sakoïba", level=SiteLevel.VILLAGE)
    assert village is not None
    # when a manager registers a CHW
    created = client.post(
        "/api/v1/chws",
        json={
            "name": "Bintou Sidibé",
            "phone": "76 00 00 42",
            "pin": "2468",
            "site_ids": [village.id],
        },
        headers=staff["manager"],
    )
    assert created.status_code == 201, created.text
    chw_id = created.json()["id"]
    # then her PIN works on the USSD side
    row = db.get(Chw, chw_id)
    assert row is not None and chw_service.check_pin(db, chw=row, pin="2468")
    # when her language is corrected and her PIN reset
    assert (
        client.patch(
            f"/api/v1/chws/{chw_id}", json={"language": "bm"}, headers=staff["manager"]
        ).json()["language"]
        == "bm"
    )
    assert (
        client.post(
            f"/api/v1/chws/{chw_id}/reset-pin", json={"pin": "1357"}, headers=staff["manager"]
        ).status_code
        == 200
    )
    db.expire_all()
    assert chw_service.check_pin(db, chw=db.get(Chw, chw_id), pin="1357")
    # when she is deactivated
    assert (
        client.post(f"/api/v1/chws/{chw_id}/deactivate", headers=staff["manager"]).json()["active"]
        is False
    )
    # then each write is audited, and no PIN appears in the log
    entries = list(db.exec(select(AuditEntry).order_by(AuditEntry.id)))
    assert [e.action for e in entries] == [
        "chw.create",
        "chw.update",
        "chw.reset_pin",
        "chw.deactivate",
    ]
    assert "1357" not in str([e.detail for e in entries])


def test_bad_input_is_422_in_french(client, staff, chw) -> None:
    bad_pin = client.post(
        "/api/v1/chws",
        json={"name": "B", "phone": "76000043", "pin": "12", "site_ids": [1]},
        headers=staff["manager"],
    )
    assert bad_pin.status_code == 422 and bad_pin.json()["detail"].startswith("requête invalide")
    taken = client.post(
        "/api/v1/chws",
        json={"name": "B", "phone": "+22370000001", "pin": "1234", "site_ids": [1]},
        headers=staff["manager"],
    )
    assert taken.status_code == 422 and "déjà" in taken.json()["detail"]
    bad_phone = client.post(
        "/api/v1/chws",
        json={"name": "B", "phone": "12345", "pin": "1234", "site_ids": [1]},
        headers=staff["manager"],
    )
    assert bad_phone.status_code == 422 and "numéro" in bad_phone.json()["detail"]
    unknown = client.patch(
        f"/api/v1/chws/{chw.id}", json={"site_ids": [99999]}, headers=staff["manager"]
    )
    assert unknown.status_code == 422


def test_an_unknown_facility_or_site_is_a_422_not_a_500(client, staff, chw, db: Session) -> None:
    from outreach.chws.models import Chw

    # when a manager moves the CHW to facility 0, and creates one for an unknown site
    moved = client.patch(
        f"/api/v1/chws/{chw.id}", json={"facility_id": 0}, headers=staff["manager"]
    )
    created = client.post(
        "/api/v1/chws",
        json={"name": "B", "phone": "76000043", "pin": "1234", "site_ids": [99999]},
        headers=staff["manager"],
    )
    far = client.post(
        "/api/v1/chws",
        json={
            "name": "B",
            "phone": "76000043",
            "pin": "1234",
            "site_ids": [1],
            "facility_id": 7777,
        },
        headers=staff["manager"],
    )
    # then each is refused in French, and nothing changed
    assert moved.status_code == 422 and "établissement 0 inconnu" in moved.json()["detail"]
    assert created.status_code == 422 and "lieu 99999 inconnu" in created.json()["detail"]
    assert far.status_code == 422 and "établissement 7777 inconnu" in far.json()["detail"]
    db.expire_all()
    assert db.get(Chw, chw.id).facility_id is None  # type: ignore[union-attr]
