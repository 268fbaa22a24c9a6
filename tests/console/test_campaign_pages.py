"""Campaign pages over HTTP: live preflight, GSM rewrite, draft, approval, start, cancel."""

from __future__ import annotations

from sqlmodel import select

from outreach.accounts.models import Role
from outreach.campaigns.models import Campaign
from outreach.registry import service as registry_service
from outreach.sites.models import Site

FR = "Séance de sensibilisation hygiène jeudi au CSCom"
BM = "Saniya kalan bɛ kɛ CSCom la jumadon"


def _villages(db, *names: str) -> list[Site]:
    return [
        db.exec(select(Site).where(Site.name == n, Site.level == "village")).one() for n in names
    ]


def _women(db, chw) -> list[Site]:
    """Displaced pregnant women in two villages, French and Bambara, and one elsewhere."""
    pelengana, bla, markala = _villages(db, "Pelengana", "Bla", "Markala")
    people = [
        ("Awa Traore", "+22370100001", "fr", pelengana, True),
        ("Fanta Coulibaly", "+22370100002", "bm", pelengana, True),
        ("Oumou Diarra", "+22370100003", "bm", bla, True),
        ("Kadiatou Sangare", "+22370100004", "fr", bla, False),
        ("Mariam Keita", "+22370100005", "fr", markala, True),
    ]
    for name, phone, language, village, displaced in people:
        registry_service.register_pregnancy(
            db,
            name=name,
            phone=phone,
            weeks=24,
            chw_id=chw.id,
            village_id=village.id,
            language=language,
            displaced=displaced,
        )
    db.commit()
    return [pelengana, bla]


def _composer_fields(villages: list[Site], **extra: str) -> dict:
    return {
        "name": "Hygiène jeudi",
        "site_ids": [str(v.id) for v in villages],
        "programme": "pregnancy",
        "displaced": "1",
        "message_mode": "texts",
        "text_fr": FR,
        "text_bm": BM,
        "when": "now",
        **extra,
    }


def test_live_preflight_counts_per_language_prices_and_warns(db, chw, staff) -> None:
    # Given displaced women in Pelengana and Bla, and an officer composing
    villages = _women(db, chw)
    officer = staff(Role.officer)
    page = officer.get("/console/campaigns/new")
    assert page.status_code == 200 and 'hx-post="/console/campaigns/preflight"' in page.text
    # When the composer sends its fields for the preflight
    panel = officer.post("/console/campaigns/preflight", _composer_fields(villages))
    # Then the panel counts 1 French and 2 Bambara recipients, with a cost in FCFA
    assert panel.status_code == 200
    assert '<span id="pf-recipients">3</span>' in panel.text
    assert "FCFA" in panel.text
    assert 'id="pf-fr"' in panel.text and 'id="pf-bm"' in panel.text
    # And the Bambara letter ɛ is flagged with a one-click GSM-safe rewrite
    assert "UCS-2" in panel.text and "Réécrire sans ces caractères" in panel.text
    rewritten = officer.post("/console/campaigns/rewrite", {"language": "bm", "text_bm": BM})
    assert "Saniya kalan bè kè CSCom la jumadon" in rewritten.text
    assert rewritten.headers["HX-Trigger-After-Settle"] == "rewritten"


def test_the_composer_can_target_an_upcoming_appointment_kind(db, chw, staff) -> None:
    # Given the displaced women of Pelengana and Bla, one of them due for a vaccination
    from datetime import timedelta

    from sqlmodel import select

    from outreach.appointments.models import Appointment
    from outreach.registry.models import Beneficiary
    from outreach.timeutil import local_today

    villages = _women(db, chw)
    awa = next(w for w in db.exec(select(Beneficiary)) if w.name == "Awa Traore")
    db.add(
        Appointment(
            dedupe_key="t:awa",
            beneficiary_id=awa.id,
            kind="vaccination",
            due_on=local_today() + timedelta(days=5),
        )
    )
    db.commit()
    officer = staff(Role.officer)
    page = officer.get("/console/campaigns/new")
    assert 'name="appointment_kind"' in page.text and "Vaccination" in page.text
    # When the composer asks for women with a vaccination within 7 days
    panel = officer.post(
        "/console/campaigns/preflight",
        _composer_fields(villages, appointment_kind="vaccination", appointment_within_days="7"),
    )
    # Then only she counts
    assert panel.status_code == 200
    assert '<span id="pf-recipients">1</span>' in panel.text


def test_a_bad_audience_is_explained_in_the_panel(db, staff) -> None:
    officer = staff(Role.officer)
    officer.get("/console/campaigns/new")
    # When a stage range is given without a programme
    panel = officer.post(
        "/console/campaigns/preflight",
        {"message_mode": "texts", "text_fr": FR, "stage_from": "20", "stage_to": "30"},
    )
    # Then the panel says why, in French, rather than failing
    assert panel.status_code == 200
    assert "une tranche de stade demande un programme" in panel.text


def test_draft_submit_approve_by_another_manager_and_start(db, chw, staff) -> None:
    # Given an officer who saves and submits a campaign
    villages = _women(db, chw)
    officer = staff(Role.officer)
    officer.get("/console/campaigns/new")
    created = officer.post("/console/campaigns", _composer_fields(villages, submit_now="1"))
    assert created.status_code == 303
    campaign = db.exec(select(Campaign)).one()
    assert campaign.status == "pending_approval"
    # When a viewer tries to approve, then a manager who also submitted it... (the officer)
    viewer = staff(Role.viewer)
    viewer.get(f"/console/campaigns/{campaign.id}")
    assert viewer.post(f"/console/campaigns/{campaign.id}/approve").status_code == 403
    refused = officer.post(f"/console/campaigns/{campaign.id}/approve")
    assert refused.status_code == 403
    # And a manager approves and starts it now
    manager = staff(Role.manager)
    queue = manager.get("/console/campaigns")
    assert 'id="queue"' in queue.text and "Hygiène jeudi" in queue.text
    manager.get(f"/console/campaigns/{campaign.id}")
    approved = manager.post(f"/console/campaigns/{campaign.id}/approve")
    assert approved.status_code == 200 and "programmée" in approved.text
    started = manager.post(f"/console/campaigns/{campaign.id}/start")
    # Then it is sending, and its progress fragment polls
    assert started.status_code == 200
    db.expire_all()
    assert db.get(Campaign, campaign.id).status == "sending"
    fragment = manager.get(f"/console/campaigns/{campaign.id}/progress")
    assert 'id="campaign-progress"' in fragment.text and 'hx-trigger="every 1s"' in fragment.text


def test_a_manager_cannot_approve_her_own_campaign(db, chw, staff) -> None:
    villages = _women(db, chw)
    manager = staff(Role.manager)
    manager.get("/console/campaigns/new")
    manager.post("/console/campaigns", _composer_fields(villages, submit_now="1"))
    campaign = db.exec(select(Campaign)).one()
    page = manager.get(f"/console/campaigns/{campaign.id}")
    # Then the page offers no approve button and says why
    assert "un autre responsable doit" in page.text
    assert f'action="/console/campaigns/{campaign.id}/approve"' not in page.text
    # And posting it anyway is refused by the service, in French
    refused = manager.post(f"/console/campaigns/{campaign.id}/approve")
    assert refused.status_code == 403 and "vous ne pouvez pas approuver" in refused.text


def test_an_invalid_campaign_form_is_a_readable_422(db, staff) -> None:
    officer = staff(Role.officer)
    officer.get("/console/campaigns/new")
    response = officer.post("/console/campaigns", {"name": "", "message_mode": "texts"})
    assert response.status_code == 422 and "Saisie invalide" in response.text


def test_officer_cancels_a_draft(db, chw, staff) -> None:
    villages = _women(db, chw)
    officer = staff(Role.officer)
    officer.get("/console/campaigns/new")
    officer.post("/console/campaigns", _composer_fields(villages))
    campaign = db.exec(select(Campaign)).one()
    officer.get(f"/console/campaigns/{campaign.id}")
    cancelled = officer.post(f"/console/campaigns/{campaign.id}/cancel")
    assert cancelled.status_code == 200 and "annulée" in cancelled.text
