"""`/api/v1/sites` and `/api/v1/facilities`."""

from __future__ import annotations

from sqlmodel import Session, select

from outreach.audit.models import AuditEntry
from outreach.sites import service as site_service
from outreach.sites.models import SiteLevel


def test_sites_list_filters_and_paginates(client, staff, chw, db: Session) -> None:
    # given the seeded programme area
    villages = client.get(
        "/api/v1/sites", params={"level": "village", "limit": 2}, headers=staff["viewer"]
    ).json()
    # then villages come two by two with the full count
    assert len(villages["items"]) == 2 and villages["total"] > 2
    assert {s["level"] for s in villages["items"]} == {"village"}
    found = client.get("/api/v1/sites", params={"q": "pelen"}, headers=staff["viewer"]).json()
    assert {s["name"] for s in found["items"]} == {"Pelengana"}
    assert client.get("/api/v1/sites/99999", headers=staff["viewer"]).status_code == 404


def test_manager_adds_a_village_under_a_health_area_only(client, staff, chw, db: Session) -> None:
    area = site_service.find(db, name="Pelengana", level=SiteLevel.VILLAGE)
    assert area is not None and area.parent_id is not None
    # when a manager adds a village in the same health area
    created = client.post(
        "/api/v1/sites",
        json={"name": " Nouveau  village ", "level": "village", "parent_id": area.parent_id},
        headers=staff["manager"],
    )
    # then it exists, with a tidy name, and the write is audited
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "Nouveau village"
    entry = db.exec(select(AuditEntry).where(AuditEntry.action == "site.create")).one()
    assert entry.object_id == str(created.json()["id"])
    # and a village under a village, or twice the same, is a French 422
    wrong = client.post(
        "/api/v1/sites",
        json={"name": "X", "level": "village", "parent_id": area.id},
        headers=staff["manager"],
    )
    assert wrong.status_code == 422 and "health_area" in wrong.json()["detail"]
    again = client.post(
        "/api/v1/sites",
        json={"name": "Nouveau village", "level": "village", "parent_id": area.parent_id},
        headers=staff["manager"],
    )
    assert again.status_code == 422 and "existe déjà" in again.json()["detail"]


def test_facilities(client, staff, chw, db: Session) -> None:
    village = site_service.find(db, name="Sakoïba", level=SiteLevel.VILLAGE)
    assert village is not None
    created = client.post(
        "/api/v1/facilities",
        json={"name": "CSCom de Sakoïba", "site_id": village.id},
        headers=staff["manager"],
    )
    assert created.status_code == 201
    listed = client.get(
        "/api/v1/facilities", params={"site_id": village.id}, headers=staff["viewer"]
    ).json()
    assert [f["name"] for f in listed["items"]] == ["CSCom de Sakoïba"]
    bad = client.post(
        "/api/v1/facilities", json={"name": "X", "site_id": 99999}, headers=staff["manager"]
    )
    assert bad.status_code == 422 and "inconnu" in bad.json()["detail"]
