"""Staff users limited to some sites see, in the API, only what belongs to those sites."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from outreach.accounts import scopes
from outreach.accounts.models import StaffUser
from outreach.appointments import service as appointments
from outreach.chws import service as chw_service
from outreach.cli import app
from outreach.inbound.models import InboundMessage
from outreach.outbox.models import OutboundMessage
from outreach.registry import service as registry_service
from outreach.sites import service as site_service
from outreach.sites.models import Site, SiteLevel

API = "/api/v1"


@dataclass
class Area:
    awa: int
    fanta: int
    pelengana: int
    bla: int
    near_chw: int
    far_chw: int


def _site(db: Session, name: str, level: SiteLevel) -> Site:
    site = site_service.find(db, name=name, level=level)
    assert site is not None and site.id is not None
    return site


@pytest.fixture
def area(db: Session, chw, staff) -> Area:
    """Awa in Pelengana (health area Pelengana), Fanta in Bla; the officer and the viewer
    limited to the health area of Pelengana."""
    pelengana = _site(db, "Pelengana", SiteLevel.VILLAGE)
    bla = _site(db, "Bla", SiteLevel.VILLAGE)
    far = chw_service.add(
        db, name="Oumou Sangare", phone="+22370000009", pin="4321", site_ids=[bla.id]
    )
    women = {}
    for name, phone, village, helper in (
        ("Awa Traoré", "+22376000001", pelengana, chw.id),
        ("Fanta Diarra", "+22376000002", bla, far.id),
    ):
        woman = registry_service.register_pregnancy(
            db, name=name, phone=phone, weeks=20, chw_id=helper, village_id=village.id
        ).beneficiary
        appointments.propose_for_beneficiary(db, beneficiary_id=woman.id)
        db.add(
            InboundMessage(
                gateway_id=f"in-{phone}",
                from_number=phone,
                text="Bonjour",
                beneficiary_id=woman.id,
                intent="other",
            )
        )
        women[name.split()[0].lower()] = woman.id
    health_area = _site(db, "Pelengana", SiteLevel.HEALTH_AREA)
    for email in ("officer@ong.ml", "viewer@ong.ml"):
        user = db.exec(select(StaffUser).where(StaffUser.email == email)).one()
        scopes.set_sites(db, user=user, site_ids=[health_area.id])
    db.commit()
    return Area(
        awa=women["awa"],
        fanta=women["fanta"],
        pelengana=pelengana.id,
        bla=bla.id,
        near_chw=chw.id,
        far_chw=far.id,
    )  # type: ignore[arg-type]


def _names(response) -> list[str]:
    assert response.status_code == 200, response.text
    return sorted(item["name"] for item in response.json()["items"])


def test_a_scoped_user_lists_only_the_women_of_her_sites(client, staff, area) -> None:
    # when the scoped viewer and the unrestricted manager list beneficiaries
    scoped = client.get(f"{API}/beneficiaries", headers=staff["viewer"])
    everyone = client.get(f"{API}/beneficiaries", headers=staff["manager"])
    # then the viewer sees Awa only, the manager both
    assert _names(scoped) == ["Awa Traoré"]
    assert _names(everyone) == ["Awa Traoré", "Fanta Diarra"]
    # and the CSV export holds the same women as the list
    csv = client.get(f"{API}/beneficiaries/export.csv", headers=staff["viewer"]).text
    assert "Awa Traoré" in csv and "Fanta Diarra" not in csv


def test_a_woman_outside_her_sites_is_not_found(client, staff, area, db) -> None:
    # when the scoped officer opens Fanta, acts on her, or exports her
    code = client.get(f"{API}/beneficiaries/{area.fanta}", headers=staff["manager"]).json()["code"]
    responses = [
        client.get(f"{API}/beneficiaries/{area.fanta}", headers=staff["officer"]),
        client.post(f"{API}/beneficiaries/{area.fanta}/pause", headers=staff["officer"]),
        client.get(f"{API}/beneficiaries/{code}/export", headers=staff["officer"]),
    ]
    missing = client.get(f"{API}/beneficiaries/999999", headers=staff["officer"])
    # then each is the same 404 as a woman who does not exist
    for response in responses:
        assert response.status_code == 404
        assert response.json() == missing.json() or "introuvable" in response.json()["detail"]
    # and Awa, in her sites, is there
    assert (
        client.get(f"{API}/beneficiaries/{area.awa}", headers=staff["officer"]).status_code == 200
    )


def test_a_scoped_officer_registers_only_in_her_sites(client, staff, area) -> None:
    body = {"name": "Mariam Keita", "programme": "pregnancy", "weeks": 12}
    # when she registers a woman in Bla, or without a village
    outside = client.post(
        f"{API}/beneficiaries", json={**body, "village_id": area.bla}, headers=staff["officer"]
    )
    nowhere = client.post(f"{API}/beneficiaries", json=body, headers=staff["officer"])
    inside = client.post(
        f"{API}/beneficiaries",
        json={**body, "village_id": area.pelengana},
        headers=staff["officer"],
    )
    # then only the registration in Pelengana is accepted; the others are French 422s
    assert outside.status_code == 422 and "hors de vos sites" in outside.json()["detail"]
    assert nowhere.status_code == 422
    assert inside.status_code == 201, inside.text


def test_messages_inbox_and_appointments_follow_the_woman(client, staff, area, db) -> None:
    # given messages, replies and appointments for both women
    fanta_message = db.exec(
        select(OutboundMessage).where(OutboundMessage.beneficiary_id == area.fanta)
    ).first()
    fanta_reply = db.exec(
        select(InboundMessage).where(InboundMessage.beneficiary_id == area.fanta)
    ).one()
    assert fanta_message is not None
    # when the scoped viewer lists them
    messages = client.get(f"{API}/messages", headers=staff["viewer"]).json()["items"]
    inbox = client.get(f"{API}/inbox", headers=staff["viewer"]).json()["items"]
    appts = client.get(f"{API}/appointments", headers=staff["viewer"]).json()["items"]
    # then only Awa's rows are there
    assert messages and {m["beneficiary_id"] for m in messages} == {area.awa}
    assert [m["beneficiary_id"] for m in inbox] == [area.awa]
    assert appts and {a["beneficiary_id"] for a in appts} == {area.awa}
    # and Fanta's rows answer 404 one by one
    get = client.get
    assert get(f"{API}/messages/{fanta_message.id}", headers=staff["viewer"]).status_code == 404
    assert get(f"{API}/inbox/{fanta_reply.id}", headers=staff["viewer"]).status_code == 404
    # while the unrestricted manager still sees both women's rows
    everyone = get(f"{API}/messages", headers=staff["manager"]).json()["items"]
    assert {m["beneficiary_id"] for m in everyone} >= {area.awa, area.fanta}


def test_chws_outside_her_sites_are_hidden(client, staff, area) -> None:
    # when the scoped viewer lists CHWs and opens the one of Bla
    listed = client.get(f"{API}/chws", headers=staff["viewer"]).json()["items"]
    far = client.get(f"{API}/chws/{area.far_chw}", headers=staff["viewer"])
    # then only the CHW covering Pelengana is listed, and the other is not found
    assert [c["id"] for c in listed] == [area.near_chw]
    assert far.status_code == 404


def test_a_scoped_officer_builds_campaigns_for_her_sites_only(client, staff, area, db) -> None:
    base = {"name": "Hygiène", "texts": {"fr": "Séance hygiène jeudi au CSCom."}}
    district = _site(db, "Ségou", SiteLevel.DISTRICT)
    # when she targets Bla, the whole district, nobody in particular, then her village
    bla = client.post(
        f"{API}/campaigns",
        json={**base, "audience": {"site_ids": [area.bla]}},
        headers=staff["officer"],
    )
    wider = client.post(
        f"{API}/campaigns",
        json={**base, "audience": {"site_ids": [district.id]}},
        headers=staff["officer"],
    )
    everyone = client.post(
        f"{API}/campaigns", json={**base, "audience": {}}, headers=staff["officer"]
    )
    mine = client.post(
        f"{API}/campaigns",
        json={**base, "audience": {"site_ids": [area.pelengana]}},
        headers=staff["officer"],
    )
    # then the first three are refused in French, and the last is a draft
    assert bla.status_code == 403 and "hors de vos sites" in bla.json()["detail"]
    assert wider.status_code == 403
    assert everyone.status_code == 403 and "limité" in everyone.json()["detail"]
    assert mine.status_code == 201, mine.text


def test_the_cli_limits_shows_and_lifts_a_scope(db, chw, staff) -> None:
    runner = CliRunner()
    # when an admin limits the viewer to the Bla district, then looks, then lifts it
    limited = runner.invoke(app, ["user", "sites", "viewer@ong.ml", "--site", "Bla"])
    shown = runner.invoke(app, ["user", "sites", "viewer@ong.ml"])
    lifted = runner.invoke(app, ["user", "sites", "viewer@ong.ml", "--all"])
    # then each step says where the account may look
    assert limited.exit_code == 0, limited.output
    assert "limité à: Bla" in shown.output
    assert "voit tous les lieux" in lifted.output
    # and an admin cannot be limited
    refused = runner.invoke(app, ["user", "sites", "admin@ong.ml", "--site", "Bla"])
    assert refused.exit_code == 1 and "administrateur" in refused.output


def test_an_appointment_outside_her_sites_reads_as_missing(client, staff, area, db) -> None:
    # given one of Fanta's appointments
    from outreach.appointments.models import Appointment

    theirs = db.exec(select(Appointment).where(Appointment.beneficiary_id == area.fanta)).first()
    assert theirs is not None
    # when the scoped officer cancels it, and cancels one that does not exist
    outside = client.post(f"{API}/appointments/{theirs.id}/cancel", headers=staff["officer"])
    missing = client.post(f"{API}/appointments/999999/cancel", headers=staff["officer"])
    # then both answers are the same, and Fanta's appointment is untouched
    assert (outside.status_code, outside.json()) == (missing.status_code, missing.json())
    db.expire_all()
    assert db.get(Appointment, theirs.id).status == "scheduled"


def _campaign(client, headers, name: str, site_ids: list[int] | None) -> int:
    audience = {"site_ids": site_ids} if site_ids is not None else {}
    made = client.post(
        f"{API}/campaigns",
        json={"name": name, "texts": {"fr": "Séance hygiène jeudi."}, "audience": audience},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    return made.json()["id"]


def test_campaigns_reaching_beyond_her_sites_are_hidden(client, staff, area) -> None:
    # given the manager's campaigns for Pelengana, for Bla, and for everyone
    mine = _campaign(client, staff["manager"], "Pelengana", [area.pelengana])
    theirs = _campaign(client, staff["manager"], "Bla", [area.bla])
    everyone = _campaign(client, staff["manager"], "Tout le monde", None)
    # when the scoped viewer lists them and opens each, its progress and its preflight
    listed = client.get(f"{API}/campaigns", headers=staff["viewer"]).json()
    opened = {
        cid: [
            client.get(f"{API}/campaigns/{cid}{tail}", headers=staff["viewer"]).status_code
            for tail in ("", "/progress", "/preflight")
        ]
        for cid in (mine, theirs, everyone)
    }
    # then only the Pelengana campaign is listed and counted, the others are not found
    assert [c["id"] for c in listed["items"]] == [mine] and listed["total"] == 1
    assert opened == {mine: [200, 200, 200], theirs: [404] * 3, everyone: [404] * 3}
    # and the manager, who sees every site, still lists all three
    assert client.get(f"{API}/campaigns", headers=staff["manager"]).json()["total"] == 3


def test_a_scoped_user_gets_no_preflight_counts_beyond_her_sites(client, staff, area) -> None:
    draft = {"texts": {"fr": "Séance hygiène jeudi."}}
    # when the scoped viewer asks what Bla, everyone, then her village would cost
    bla = client.post(
        f"{API}/campaigns/preflight",
        json={**draft, "audience": {"site_ids": [area.bla]}},
        headers=staff["viewer"],
    )
    everyone = client.post(
        f"{API}/campaigns/preflight", json={**draft, "audience": {}}, headers=staff["viewer"]
    )
    mine = client.post(
        f"{API}/campaigns/preflight",
        json={**draft, "audience": {"site_ids": [area.pelengana]}},
        headers=staff["viewer"],
    )
    # then the first two are refused without a count, and hers counts Awa
    assert bla.status_code == 403 and "hors de vos sites" in bla.json()["detail"]
    assert everyone.status_code == 403 and "recipients" not in everyone.text
    assert mine.status_code == 200, mine.text
    assert mine.json()["recipients"] == 1


def test_an_admin_sets_reads_and_lifts_a_scope_through_the_api(client, staff, db, chw) -> None:
    from outreach.audit.models import AuditEntry

    viewer = db.exec(select(StaffUser).where(StaffUser.email == "viewer@ong.ml")).one()
    bla = _site(db, "Bla", SiteLevel.VILLAGE)
    url = f"{API}/users/{viewer.id}/sites"
    # when the admin limits the viewer to Bla, reads it back, then lifts it
    limited = client.put(url, json={"site_ids": [bla.id, bla.id]}, headers=staff["admin"])
    shown = client.get(url, headers=staff["admin"])
    lifted = client.put(url, json={"site_ids": []}, headers=staff["admin"])
    # then each answer holds the sites in force, and each change is audited
    assert limited.json() == {"site_ids": [bla.id]}
    assert shown.json() == {"site_ids": [bla.id]}
    assert lifted.json() == {"site_ids": []}
    changes = db.exec(select(AuditEntry).where(AuditEntry.action == "user.sites")).all()
    assert [c.detail["site_ids"] for c in changes] == [[bla.id], []]
    # and an unknown site, an admin's own scope and a manager asking are refused
    admin = db.exec(select(StaffUser).where(StaffUser.email == "admin@ong.ml")).one()
    unknown = client.put(url, json={"site_ids": [999999]}, headers=staff["admin"])
    own = client.put(
        f"{API}/users/{admin.id}/sites", json={"site_ids": [bla.id]}, headers=staff["admin"]
    )
    manager = client.put(url, json={"site_ids": [bla.id]}, headers=staff["manager"])
    assert unknown.status_code == 422 and "inconnu" in unknown.json()["detail"]
    assert own.status_code == 422 and "administrateur" in own.json()["detail"]
    assert manager.status_code == 403
    assert client.get(f"{API}/users/999999/sites", headers=staff["admin"]).status_code == 404


def test_a_scoped_manager_assigns_chws_only_to_her_sites(client, staff, area, db) -> None:
    # given the manager limited to Pelengana's health area, and a CHW covering Pelengana
    # and Bla
    manager = db.exec(select(StaffUser).where(StaffUser.email == "manager@ong.ml")).one()
    scopes.set_sites(db, user=manager, site_ids=[_site(db, "Pelengana", SiteLevel.HEALTH_AREA).id])
    both = chw_service.add(
        db,
        name="Kadia Coulibaly",
        phone="+22370000011",
        pin="1111",
        site_ids=[area.pelengana, area.bla],
    )
    db.commit()
    url = f"{API}/chws/{both.id}"
    # when she sets the CHW's villages to hers, then to Bla, and creates CHWs
    kept = client.patch(url, json={"site_ids": [area.pelengana]}, headers=staff["manager"])
    outside = client.patch(url, json={"site_ids": [area.bla]}, headers=staff["manager"])
    new = {"name": "Nana", "phone": "+22370000012", "pin": "2222"}
    far = client.post(f"{API}/chws", json={**new, "site_ids": [area.bla]}, headers=staff["manager"])
    nowhere = client.post(f"{API}/chws", json={**new, "site_ids": []}, headers=staff["manager"])
    mine = client.post(
        f"{API}/chws", json={**new, "site_ids": [area.pelengana]}, headers=staff["manager"]
    )
    # then Bla, which she was never shown, stays the CHW's, and Bla is refused in French
    assert kept.status_code == 200 and kept.json()["site_ids"] == sorted([area.pelengana, area.bla])
    assert outside.status_code == 422 and "hors de vos sites" in outside.json()["detail"]
    assert far.status_code == 422 and "hors de vos sites" in far.json()["detail"]
    assert nowhere.status_code == 422
    assert mine.status_code == 201 and mine.json()["site_ids"] == [area.pelengana]
