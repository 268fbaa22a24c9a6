"""The console shows a user limited to some sites only the women of those sites."""

from __future__ import annotations

from sqlmodel import Session

from outreach.accounts import scopes
from outreach.accounts.models import Role
from outreach.registry import service as registry_service
from outreach.sites import service as site_service
from outreach.sites.models import SiteLevel


def _women(db: Session, chw) -> tuple[int, int]:
    ids = []
    for name, phone, village in (
        ("Awa Traoré", "+22376000001", "Pelengana"),
        ("Fanta Diarra", "+22376000002", "Bla"),
    ):
        site = site_service.find(db, name=village, level=SiteLevel.VILLAGE)
        assert site is not None
        woman = registry_service.register_pregnancy(
            db, name=name, phone=phone, weeks=20, chw_id=chw.id, village_id=site.id
        ).beneficiary
        ids.append(woman.id)
    db.commit()
    return ids[0], ids[1]  # type: ignore[return-value]


def test_a_scoped_officer_sees_her_women_and_not_the_others(db, chw, staff) -> None:
    # given an officer limited to the Pelengana health area, and women in Pelengana and Bla
    awa, fanta = _women(db, chw)
    officer = staff(Role.officer)
    area = site_service.find(db, name="Pelengana", level=SiteLevel.HEALTH_AREA)
    assert area is not None and area.id is not None
    scopes.set_sites(db, user=officer.user, site_ids=[area.id])
    db.commit()
    # when she opens the list, the CSV, and both women's pages
    listing = officer.get("/console/beneficiaries")
    csv = officer.get("/console/beneficiaries.csv")
    mine = officer.get(f"/console/beneficiaries/{awa}")
    other = officer.get(f"/console/beneficiaries/{fanta}")
    missing = officer.get("/console/beneficiaries/999999")
    # then only Awa is listed and exported, and Fanta's page is the "not found" page
    assert "Awa Traoré" in listing.text and "Fanta Diarra" not in listing.text
    assert "Awa Traoré" in csv.text and "Fanta Diarra" not in csv.text
    assert mine.status_code == 200
    assert other.status_code == 404 and "Fanta" not in other.text
    assert other.text == missing.text
    # and her data cannot be exported or changed either
    assert officer.get(f"/console/beneficiaries/{fanta}/export.json").status_code == 404
    assert officer.post(f"/console/beneficiaries/{fanta}/pause").status_code == 404


def test_a_scoped_viewer_reads_only_her_inbox_and_chws(db, chw, staff) -> None:
    # given replies from Awa (Pelengana) and Fanta (Bla), and a CHW covering Bla only
    from outreach.chws import service as chw_service
    from outreach.inbound.models import InboundMessage

    awa, fanta = _women(db, chw)
    bla = site_service.find(db, name="Bla", level=SiteLevel.VILLAGE)
    assert bla is not None
    far = chw_service.add(
        db, name="Oumou Sangare", phone="+22370000009", pin="4321", site_ids=[bla.id]
    )
    for woman, number, text in (
        (awa, "+22376000001", "Question Awa"),
        (fanta, "+22376000002", "Question Fanta"),
    ):
        db.add(
            InboundMessage(
                gateway_id=f"in-{woman}",
                from_number=number,
                text=text,
                beneficiary_id=woman,
                intent="other",
            )
        )
    viewer = staff(Role.viewer)
    area = site_service.find(db, name="Pelengana", level=SiteLevel.HEALTH_AREA)
    assert area is not None and area.id is not None
    scopes.set_sites(db, user=viewer.user, site_ids=[area.id])
    db.commit()
    # when she opens the inbox and the CHW list, and the far CHW's page
    inbox = viewer.get("/console/inbox")
    chws = viewer.get("/console/chws")
    far_page = viewer.get(f"/console/chws/{far.id}")
    # then only Awa's reply and the CHW of Pelengana show; the other CHW is not found
    assert "Question Awa" in inbox.text and "Question Fanta" not in inbox.text
    assert "Aminata Coulibaly" in chws.text and "Oumou Sangare" not in chws.text
    assert far_page.status_code == 404


def test_a_scoped_officer_composes_and_lists_campaigns_of_her_sites_only(db, chw, staff) -> None:
    from outreach.campaigns.models import Campaign

    # given an officer limited to the Pelengana health area, and a campaign for Bla
    _women(db, chw)
    officer = staff(Role.officer)
    area = site_service.find(db, name="Pelengana", level=SiteLevel.HEALTH_AREA)
    bla = site_service.find(db, name="Bla", level=SiteLevel.VILLAGE)
    assert area is not None and area.id is not None and bla is not None
    scopes.set_sites(db, user=officer.user, site_ids=[area.id])
    db.add(
        Campaign(
            name="Campagne de Bla",
            texts={"fr": "Séance jeudi."},
            audience={"site_ids": [bla.id]},
            created_by_id=officer.user.id,
        )
    )
    db.commit()
    # when she opens the composer, the campaign list, and asks the preflight about Bla
    composer = officer.get("/console/campaigns/new")
    listing = officer.get("/console/campaigns")
    panel = officer.post(
        "/console/campaigns/preflight",
        {"message_mode": "texts", "text_fr": "Séance jeudi.", "site_ids": str(bla.id)},
    )
    # then the site picker offers her health area and its villages only
    assert f'value="{area.id}"' in composer.text
    assert f'value="{bla.id}"' not in composer.text
    # and the Bla campaign is not listed, and the panel refuses without counting anyone
    assert "Campagne de Bla" not in listing.text
    assert panel.status_code == 200 and "hors de vos sites" in panel.text
    assert "pf-recipients" not in panel.text


def test_a_scoped_manager_editing_a_chw_keeps_the_villages_she_was_not_shown(
    db, chw, staff
) -> None:
    from outreach.chws import service as chw_service

    # given a manager limited to Pelengana's health area, and a CHW of Pelengana and Bla
    manager = staff(Role.manager)
    area = site_service.find(db, name="Pelengana", level=SiteLevel.HEALTH_AREA)
    pelengana = site_service.find(db, name="Pelengana", level=SiteLevel.VILLAGE)
    bla = site_service.find(db, name="Bla", level=SiteLevel.VILLAGE)
    assert area is not None and pelengana is not None and bla is not None
    scopes.set_sites(db, user=manager.user, site_ids=[area.id])  # type: ignore[list-item]
    both = chw_service.add(
        db, name="Kadia Coulibaly", phone="+22370000011", pin="1111",
        site_ids=[pelengana.id, bla.id],  # type: ignore[list-item]
    )  # fmt: skip
    db.commit()
    # when she opens the CHW's page and saves it as shown, renamed, then tries to add Bla
    page = manager.get(f"/console/chws/{both.id}")
    saved = manager.post(
        f"/console/chws/{both.id}",
        {"name": "Kadia Coulibaly Traoré", "language": "fr", "site_ids": str(pelengana.id)},
    )
    widened = manager.post(
        f"/console/chws/{both.id}",
        {"name": "Kadia", "language": "fr", "site_ids": [str(pelengana.id), str(bla.id)]},
    )
    # then Bla is not offered, yet stays the CHW's; adding it by hand is refused
    assert page.status_code == 200 and f'value="{bla.id}"' not in page.text
    assert saved.status_code == 200
    assert chw_service.site_ids(db, chw_id=both.id) == sorted([pelengana.id, bla.id])  # type: ignore[arg-type, type-var]
    assert widened.status_code == 422 and "hors de vos sites" in widened.text
    db.expire_all()
    assert db.get(type(both), both.id).name == "Kadia Coulibaly Traoré"  # type: ignore[union-attr]
