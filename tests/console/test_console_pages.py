"""The console over HTTP: login, roles, CSRF, pages, actions, export and import."""

from __future__ import annotations

import csv
import io
import re

import pytest
from console_login import PASSWORD, login
from sqlmodel import select

from outreach.accounts.models import Role
from outreach.audit.models import AuditEntry
from outreach.chws.models import Chw
from outreach.console.i18n import catalog
from outreach.imports.models import BeneficiaryImport
from outreach.programmes.models import Enrollment
from outreach.registry import service as registry_service
from outreach.registry.models import Beneficiary
from outreach.sites.models import Site

PAGES = [
    "/console",
    "/console/beneficiaries",
    "/console/beneficiaries.csv",
    "/console/import",
    "/console/inbox",
    "/console/chws",
    "/console/chws/1",
    "/console/chws/options?village_id=1",
    "/console/sites",
]


def _village(db, name: str) -> Site:
    return db.exec(select(Site).where(Site.name == name, Site.level == "village")).one()


def _woman(db, chw, name: str = "Awa Traore", phone: str = "+22370123456", **kw) -> Beneficiary:
    reg = registry_service.register_pregnancy(
        db,
        name=name,
        phone=phone,
        weeks=kw.pop("weeks", 20),
        chw_id=chw.id,
        village_id=_village(db, kw.pop("village", "Pelengana")).id,
        **kw,
    )
    db.commit()
    return reg.beneficiary


@pytest.mark.parametrize("path", PAGES)
def test_every_page_sends_an_anonymous_visitor_to_the_login_page(client, db, path) -> None:
    # Given nobody signed in
    # When a console page is opened
    response = client.get(path, follow_redirects=False)
    # Then the browser is sent to the login page, coming back here afterwards
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/login?next=")


def test_htmx_requests_without_a_session_redirect_the_whole_window(client, db) -> None:
    # Given an expired session during an HTMX search
    response = client.get("/console/beneficiaries?q=awa", headers={"HX-Request": "true"})
    # Then HTMX is told to load the login page instead of swapping it into the list
    assert response.headers["HX-Redirect"].startswith("/console/login")


def test_login_with_a_wrong_password_then_throttled_in_french(client, db, staff) -> None:
    # Given an officer account
    staff(Role.officer)
    # When someone tries wrong passwords
    first = login(client, "officer@ong.ml", "wrong-password")
    # Then the page says so in French, without saying which part was wrong
    assert first.status_code == 401
    assert "Adresse e-mail ou mot de passe incorrect." in first.text
    for _ in range(5):
        login(client, "officer@ong.ml", "wrong-password")
    # And after too many tries even the right password is refused for a while
    refused = login(client, "officer@ong.ml", PASSWORD)
    assert refused.status_code == 429
    assert "Trop de tentatives" in refused.text


def test_the_login_form_needs_its_csrf_token(client, db, staff) -> None:
    # Given an account and a login post without the form's token
    staff(Role.viewer)
    response = client.post(
        "/console/login",
        data={"email": "viewer@ong.ml", "password": PASSWORD, "csrf_token": "forged"},
        follow_redirects=False,
    )
    # Then nobody is signed in
    assert response.status_code == 403
    assert "expiré" in response.text


def test_dashboard_shows_charts_and_the_simulator_link(db, chw, staff) -> None:
    # Given a registered woman (her welcome SMS is queued)
    _woman(db, chw)
    viewer = staff(Role.viewer)
    # When the viewer opens the dashboard
    page = viewer.get("/console")
    # Then it is French, with inline SVG charts and the emulator's phone simulator linked
    assert page.status_code == 200
    assert '<html lang="fr">' in page.text
    assert "Inscriptions actives par étape et par district" in page.text
    assert "<svg" in page.text and "Grossesse, 2e trimestre" in page.text
    assert 'href="/simulator"' in page.text
    assert '<script src="/console/static/htmx.min.js"' in page.text
    assert 'src="http' not in page.text and 'href="http' not in page.text


def test_the_english_switch_is_kept_on_the_user(db, staff) -> None:
    # Given a signed-in viewer
    viewer = staff(Role.viewer)
    # When she switches to English
    response = viewer.post(
        "/console/me/language",
        {"language": "en"},
        headers={"referer": "http://testserver/console/sites"},
    )
    # Then she goes back to her page, now in English, and it is stored on her account
    assert response.status_code == 303 and response.headers["location"] == "/console/sites"
    page = viewer.get("/console")
    assert '<html lang="en">' in page.text and "Active enrollments by stage" in page.text
    db.expire_all()
    assert db.get(type(viewer.user), viewer.user.id).language == "en"


def test_writes_need_the_sessions_csrf_token(db, chw, staff) -> None:
    # Given an officer and a woman
    awa = _woman(db, chw)
    officer = staff(Role.officer)
    # When a pause is posted with a wrong token
    response = officer.client.post(
        f"/console/beneficiaries/{awa.id}/pause", data={"csrf_token": "forged"}
    )
    # Then it is refused and nothing changed
    assert response.status_code == 403
    assert (
        db.exec(select(Enrollment).where(Enrollment.beneficiary_id == awa.id)).one().status
        == "active"
    )


def test_a_viewer_sees_no_write_buttons_and_is_refused_anyway(db, chw, staff) -> None:
    # Given a viewer on a woman's page
    awa = _woman(db, chw)
    viewer = staff(Role.viewer)
    page = viewer.get(f"/console/beneficiaries/{awa.id}")
    # Then there is no action button
    assert page.status_code == 200
    assert "Mettre en pause" not in page.text and "Transférer" not in page.text
    # And posting the action anyway is refused with a French page
    for action in ("pause", "opt-out", "transfer"):
        response = viewer.post(f"/console/beneficiaries/{awa.id}/{action}")
        assert response.status_code == 403
        assert "Votre rôle ne permet pas cette action." in response.text
    for path in ("/console/chws", "/console/sites", "/console/import"):
        assert viewer.post(path).status_code == 403


def test_officer_pauses_resumes_opts_out_and_transfers_with_an_audit_trail(db, chw, staff) -> None:
    # Given an officer on Awa's page
    awa = _woman(db, chw)
    officer = staff(Role.officer)
    officer.get(f"/console/beneficiaries/{awa.id}")
    # When she pauses Awa
    paused = officer.post(f"/console/beneficiaries/{awa.id}/pause")
    # Then the enrollment is paused and the page says it was saved
    assert paused.status_code == 200 and "Modification enregistrée." in paused.text
    db.expire_all()
    assert (
        db.exec(select(Enrollment).where(Enrollment.beneficiary_id == awa.id)).one().status
        == "paused"
    )
    # When she resumes, transfers her to Bla and then opts her out
    officer.post(f"/console/beneficiaries/{awa.id}/resume")
    bla = _village(db, "Bla")
    moved = officer.post(
        f"/console/beneficiaries/{awa.id}/transfer",
        {"to_chw_id": str(chw.id), "to_village_id": str(bla.id)},
    )
    assert "Pelengana → Bla" in moved.text
    officer.post(f"/console/beneficiaries/{awa.id}/opt-out")
    # Then each write is in the audit log under her name
    db.expire_all()
    assert db.get(Beneficiary, awa.id).status == "opted_out"
    actions = [
        e.action for e in db.exec(select(AuditEntry).where(AuditEntry.user_id == officer.user.id))
    ]
    for expected in (
        "beneficiary.pause",
        "beneficiary.resume",
        "beneficiary.transfer",
        "beneficiary.opt_out",
    ):
        assert expected in actions


def test_a_transfer_to_an_unknown_chw_is_a_readable_422(db, chw, staff) -> None:
    awa = _woman(db, chw)
    officer = staff(Role.officer)
    # When the form is posted with a CHW that does not exist
    response = officer.post(f"/console/beneficiaries/{awa.id}/transfer", {"to_chw_id": "999999"})
    # Then the page explains it, and no 500
    assert response.status_code == 422
    assert "Saisie invalide" in response.text


def test_search_filters_and_export_of_the_filtered_list_is_audited(db, chw, staff) -> None:
    # Given two women, one displaced and speaking Bambara
    _woman(db, chw)
    kadi = _woman(
        db,
        chw,
        name="Kadiatou Sangare",
        phone="+22365123456",
        language="bm",
        displaced=True,
        village="Bla",
    )
    viewer = staff(Role.viewer)
    # When the viewer filters on displaced Bambara speakers
    page = viewer.get("/console/beneficiaries?language=bm&displaced=1")
    fragment = viewer.get("/console/beneficiaries?q=kadiatou", headers={"HX-Request": "true"})
    # Then only Kadiatou is listed, and an HTMX search gets only the rows
    assert kadi.code in page.text and "Awa Traore" not in page.text
    assert "<html" not in fragment.text and kadi.code in fragment.text
    # When she exports the filtered list
    export = viewer.get("/console/beneficiaries.csv?language=bm&displaced=1")
    rows = list(csv.reader(io.StringIO(export.text)))
    # Then the CSV holds Kadiatou alone, and the export is audited with its filters
    assert export.headers["content-type"].startswith("text/csv")
    assert [r[0] for r in rows[1:]] == [kadi.code]
    entry = db.exec(select(AuditEntry).where(AuditEntry.action == "beneficiary.export")).one()
    assert entry.user_id == viewer.user.id and "language=bm" in entry.detail["filters"]


def test_csv_import_reports_problems_then_imports_in_the_background(db, chw, staff) -> None:
    # Given an officer with a file of one good line and two bad ones
    officer = staff(Role.officer)
    officer.get("/console/import")
    data = (
        b"nom;telephone;village;langue;semaines\n"
        b"Bintou Keita;76 11 22 33;Bla;bm;24\n"
        b"Hawa Sidibe;123;Bla;fr;20\n"
        b"Rokia Dembele;+22376999888;Atlantis;fr;20\n"
    )
    # When she uploads it
    report = officer.client.post(
        "/console/import",
        data={"csrf_token": officer.csrf},
        files={"file": ("bla.csv", data, "text/csv")},
    )
    # Then the dry run lists each problem on its line, in French
    assert report.status_code == 200
    assert "1 ligne(s) valides sur 3" in report.text
    assert "numéro de téléphone invalide : 123" in report.text
    assert "village inconnu : Atlantis" in report.text
    batch = db.exec(select(BeneficiaryImport)).one()
    # When she confirms, the task runs (here in-process) and the progress page polls
    confirmed = officer.post(f"/console/import/{batch.id}/commit")
    assert confirmed.status_code == 303
    from workers.imports import run_import

    run_import(batch.id)
    progress = officer.get(f"/console/import/{batch.id}", headers={"HX-Request": "true"})
    # Then Bintou is registered and the bar is full, with no more polling
    assert "Import terminé : 1 inscrite(s), 0 ignorée(s)." in progress.text
    assert 'value="100"' in progress.text and "hx-trigger" not in progress.text
    assert [w for w in db.exec(select(Beneficiary)) if w.name == "Bintou Keita"]


def test_an_empty_import_is_a_readable_422(db, staff) -> None:
    officer = staff(Role.officer)
    officer.get("/console/import")
    response = officer.client.post(
        "/console/import",
        data={"csrf_token": officer.csrf},
        files={"file": ("x.csv", b"", "text/csv")},
    )
    assert response.status_code == 422
    assert "Le fichier est vide" in response.text


def test_manager_adds_edits_resets_pin_and_deactivates_a_chw(db, chw, staff) -> None:
    # Given a manager on the CHW page
    manager = staff(Role.manager)
    manager.get("/console/chws")
    bla = _village(db, "Bla")
    # When she adds Mariam on 76 00 00 02 covering Bla
    added = manager.post(
        "/console/chws",
        {"name": "Mariam Diallo", "phone": "76 00 00 02", "pin": "4321", "site_ids": str(bla.id)},
    )
    assert added.status_code == 200 and "Mariam Diallo" in added.text
    mariam = next(c for c in db.exec(select(Chw)) if c.name == "Mariam Diallo")
    # And renames her, resets her PIN, then deactivates her
    manager.post(
        f"/console/chws/{mariam.id}",
        {"name": "Mariam Diallo Traore", "language": "bm", "site_ids": str(bla.id)},
    )
    bad_pin = manager.post(f"/console/chws/{mariam.id}/pin", {"pin": "12"})
    manager.post(f"/console/chws/{mariam.id}/pin", {"pin": "8765"})
    manager.post(f"/console/chws/{mariam.id}/deactivate")
    # Then each change is saved, a bad PIN is a French 422, and all is audited
    assert bad_pin.status_code == 422 and "4 chiffres" in bad_pin.text
    db.expire_all()
    mariam = db.get(Chw, mariam.id)
    assert (mariam.name, mariam.language, mariam.active) == ("Mariam Diallo Traore", "bm", False)
    actions = {
        e.action for e in db.exec(select(AuditEntry).where(AuditEntry.user_id == manager.user.id))
    }
    assert {"chw.create", "chw.update", "chw.reset_pin", "chw.deactivate"} <= actions


def test_an_officer_cannot_manage_chws_or_sites(db, chw, staff) -> None:
    officer = staff(Role.officer)
    page = officer.get("/console/chws")
    assert "Ajouter un agent" not in page.text
    assert (
        officer.post("/console/chws", {"name": "X", "phone": "76000003", "pin": "1111"}).status_code
        == 403
    )
    assert officer.post(f"/console/chws/{chw.id}/pin", {"pin": "1111"}).status_code == 403
    assert officer.post("/console/sites", {"name": "Nouveau", "level": "region"}).status_code == 403


def test_manager_adds_a_village_under_a_health_area(db, chw, staff) -> None:
    manager = staff(Role.manager)
    manager.get("/console/sites")
    area = db.exec(select(Site).where(Site.level == "health_area", Site.name == "Pelengana")).one()
    # When a village is added under Pelengana, and one without a parent
    ok = manager.post(
        "/console/sites", {"name": "Nouveau Village", "level": "village", "parent_id": str(area.id)}
    )
    orphan = manager.post("/console/sites", {"name": "Orphelin", "level": "village"})
    # Then the first exists and the second is a readable 422
    assert ok.status_code == 200
    assert db.exec(select(Site).where(Site.name == "Nouveau Village")).one().parent_id == area.id
    assert orphan.status_code == 422 and "Saisie invalide" in orphan.text


def test_logout_ends_the_session(db, staff) -> None:
    viewer = staff(Role.viewer)
    assert viewer.post("/console/logout").status_code == 303
    assert viewer.client.get("/console", follow_redirects=False).status_code == 303


def test_both_catalogs_have_the_same_texts() -> None:
    # Given the French and English console catalogs
    # Then every French text has its English one and the other way round
    assert set(catalog("fr")) == set(catalog("en"))


def test_officer_corrects_a_womans_record_and_only_field_names_are_audited(db, chw, staff) -> None:
    # Given Awa registered with a typo in her name
    awa = _woman(db, chw, name="Awa Traroe")
    officer = staff(Role.officer)
    officer.get(f"/console/beneficiaries/{awa.id}")
    # When the officer corrects her name, language and phone
    response = officer.post(
        f"/console/beneficiaries/{awa.id}/correct",
        {"name": "Awa Traore", "language": "bm", "phone": "76 55 44 33", "displaced": "0"},
    )
    bad = officer.post(f"/console/beneficiaries/{awa.id}/correct", {"phone": "123"})
    # Then the record is fixed, a bad phone is a French 422, and the audit names fields only
    assert response.status_code == 200 and "Modification enregistrée." in response.text
    assert bad.status_code == 422 and "numéro de téléphone invalide" in bad.text
    db.expire_all()
    fixed = db.get(Beneficiary, awa.id)
    assert (fixed.name, fixed.language) == ("Awa Traore", "bm")
    entry = db.exec(select(AuditEntry).where(AuditEntry.action == "beneficiary.correct")).one()
    assert set(entry.detail["fields"]) == {"name", "language", "phone"}
    assert "Awa" not in str(entry.detail)


def test_inbox_assign_reply_and_handle(db, chw, staff) -> None:
    from outreach.inbound.models import InboundMessage
    from outreach.outbox.models import OutboundMessage

    # Given a free-text reply from Awa waiting in the inbox
    awa = _woman(db, chw)
    db.add(
        InboundMessage(
            gateway_id="at-1",
            from_number="+22370123456",
            text="Quand est la séance ?",
            beneficiary_id=awa.id,
            intent="other",
        )
    )
    db.commit()
    message = db.exec(select(InboundMessage)).one()
    officer = staff(Role.officer)
    page = officer.get("/console/inbox")
    assert "Quand est la séance ?" in page.text and "Me l&#39;attribuer" in page.text
    # When the officer takes it and replies
    officer.post(f"/console/inbox/{message.id}/assign")
    empty = officer.post(f"/console/inbox/{message.id}/reply", {"text": " "})
    done = officer.post(f"/console/inbox/{message.id}/reply", {"text": "Jeudi à 10 h au CSCom."})
    # Then an empty reply is refused in French, the answer is queued at the reply lane
    # and the message leaves the inbox
    assert empty.status_code == 422 and "réponse vide" in empty.text
    assert done.status_code == 200 and "Aucun message en attente." in done.text
    reply = db.exec(
        select(OutboundMessage).where(OutboundMessage.dedupe_key.startswith("sms-reply:staff:"))
    ).one()
    assert reply.to_number == "+22370123456" and reply.priority == 0
    db.expire_all()
    handled = db.get(InboundMessage, message.id)
    assert handled.assigned_user_id == officer.user.id and handled.handled_at is not None
    # And a viewer may read the inbox but not act on it
    viewer = staff(Role.viewer)
    assert viewer.post(f"/console/inbox/{message.id}/handled").status_code == 403


def test_pages_forbid_inline_script_and_carry_none(db, chw, staff) -> None:
    # Given a woman whose name is a script, and a manager signed in
    woman = _woman(db, chw, name="<script>alert(1)</script> Awa")
    manager = staff(Role.manager)
    pages = [
        "/console",
        "/console/beneficiaries",
        f"/console/beneficiaries/{woman.id}",
        "/console/inbox",
        "/console/campaigns",
        "/console/campaigns/new",
        "/console/chws",
        f"/console/chws/{chw.id}",
        "/console/sites",
        "/console/import",
    ]
    for path in pages:
        # When each page is opened
        response = manager.get(path)
        assert response.status_code == 200, path
        # Then the browser is told to run scripts from our own files only
        policy = response.headers["content-security-policy"]
        script_src = next(p for p in policy.split("; ") if p.startswith("script-src"))
        assert script_src == "script-src 'self'", path
        assert "frame-ancestors 'none'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        # And the page itself has no inline script nor event handler to be blocked
        body = response.text
        assert not re.search(r"<script(?![^>]*\bsrc=)", body), path
        assert not re.search(r"\son[a-z]+\s*=", body), path
    # And the name is shown as text, escaped
    detail = manager.get(f"/console/beneficiaries/{woman.id}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Awa" in detail


def test_repeated_pin_lockouts_by_ussd_reach_the_dashboard(db, chw, staff, dialer) -> None:
    # Given the CHW's phone in someone's hands, guessing PINs in three USSD sessions
    from datetime import timedelta

    from sqlalchemy import update

    from outreach.chws import service as chw_service
    from outreach.timeutil import utcnow

    for _ in range(3):
        session = dialer()
        session.dial()
        replies = [session.answer("9999") for _ in range(chw_service.MAX_PIN_ATTEMPTS)]
        assert replies[-1].startswith("END Compte bloque")
        db.execute(update(Chw).values(locked_until=utcnow() - timedelta(seconds=1)))
        db.commit()
    # When a viewer opens the dashboard
    page = staff(Role.viewer).get("/console").text
    # Then a French alert names the CHW and the sites she covers, and links to her page
    alert = re.search(r'<section class="card alert".*?</section>', page, re.DOTALL)
    assert alert, page
    text = alert.group(0)
    assert "Alertes de sécurité" in text and chw.name in text
    for site_id in chw_service.site_ids(db, chw_id=chw.id):
        site = db.get(Site, site_id)
        assert site is not None and site.name in text
    assert "bloqué 3 fois en 24 h" in text
    assert f'href="/console/chws/{chw.id}"' in text
    # And never the PIN typed
    assert "9999" not in text
