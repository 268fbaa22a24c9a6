"""Programme staff in a real browser (Debian's chromium): log in, compose, approve, watch
the messages go out through the emulator, cancel halfway, import a CSV."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update
from sqlmodel import select

from outreach.accounts import service as accounts
from outreach.accounts.models import Role
from outreach.campaigns.models import Campaign
from outreach.chws import service as chw_service
from outreach.outbox.models import OutboundMessage
from outreach.registry import service as registry_service
from outreach.registry.models import Beneficiary
from outreach.sites.models import Site

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

PASSWORD = "segou-2026"
FR = "Séance de sensibilisation hygiène jeudi au CSCom"
BM = "Saniya kalan bè kè jumadon CSCom la"


def _village(db, name: str) -> Site:
    return db.exec(select(Site).where(Site.name == name, Site.level == "village")).one()


def _people(db, chw) -> None:
    for role, email in (
        (Role.officer, "awa@ong.ml"),
        (Role.manager, "moussa@ong.ml"),
    ):
        accounts.create_user(
            db, email=email, name=email.split("@")[0].title(), role=role, password=PASSWORD
        )
    women = [
        ("Awa Traore", "fr", "Pelengana", True),
        ("Fanta Coulibaly", "bm", "Pelengana", True),
        ("Oumou Diarra", "bm", "Bla", True),
        ("Kadiatou Sangare", "fr", "Bla", False),
    ]
    # Twelve more in Markala for the campaign cancelled halfway.
    women += [
        (f"{first} Markala", "bm", "Markala", True)
        for first in (
            "Aminata",
            "Bintou",
            "Djeneba",
            "Fatoumata",
            "Hawa",
            "Kadia",
            "Mariam",
            "Nana",
            "Oumou",
            "Rokia",
            "Salimata",
            "Tenin",
        )
    ]
    for n, (name, language, village, displaced) in enumerate(women):
        registry_service.register_pregnancy(
            db,
            name=name,
            phone=f"+2237020{n:04d}",
            weeks=24,
            chw_id=chw.id,
            village_id=_village(db, village).id,
            language=language,
            displaced=displaced,
        )
    # Their welcome SMS are not what this test watches.
    db.execute(update(OutboundMessage).values(status="cancelled"))
    db.commit()


def _login(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/console")
    expect(page).to_have_url(f"{base}/console/login?next=/console")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]:has-text('Se connecter')")
    expect(page.locator("h1")).to_have_text("Tableau de bord")


def _logout(page: Page) -> None:
    page.click("button:has-text('Se déconnecter')")
    expect(page.locator("h1")).to_have_text("Connexion")


def _compose(page: Page, base: str, name: str, villages: list[str], *, bm: str = BM) -> None:
    page.goto(f"{base}/console/campaigns/new")
    page.fill("#name", name)
    labels = page.locator("#site_ids option")
    wanted = [
        labels.filter(has_text=f"{v} (village)").first.get_attribute("value") for v in villages
    ]
    page.select_option("#site_ids", wanted)
    page.select_option("#programme", "pregnancy")
    page.select_option("#displaced", "1")
    page.fill("#text_fr", FR)
    page.fill("#text_bm", bm)


def test_compose_approve_send_and_cancel_a_campaign(console_stack, db, chw, page: Page) -> None:
    base = console_stack.api_url
    _people(db, chw)
    # Given the officer signed in
    _login(page, base, "awa@ong.ml")
    # When she composes "hygiène jeudi" for displaced pregnant women of Pelengana and Bla,
    # in French and Bambara
    _compose(
        page, base, "Hygiène jeudi", ["Pelengana", "Bla"], bm="Saniya kalan bɛ kɛ jumadon CSCom la"
    )
    # Then the live preflight counts 1 French and 2 Bambara recipients and prices them
    expect(page.locator("#pf-recipients")).to_have_text("3")
    expect(page.locator("#pf-fr .pf-count")).to_have_text("1")
    expect(page.locator("#pf-bm .pf-count")).to_have_text("2")
    expect(page.locator("#pf-cost")).to_have_text("75 FCFA")
    # And the Bambara ɛ is flagged; one click rewrites it GSM-safe and the preflight follows
    expect(page.locator(".warn")).to_contain_text("UCS-2")
    page.click("button:has-text('Réécrire sans ces caractères')")
    expect(page.locator("#text_bm")).to_have_value(BM)
    expect(page.locator(".warn")).to_have_count(0)
    expect(page.locator("#pf-cost")).to_have_text("75 FCFA")
    # When she saves and submits it, then the manager approves it and sends it now
    page.click("button:has-text('Enregistrer et soumettre')")
    expect(page.locator("h1")).to_contain_text("en attente d'approbation")
    _logout(page)
    _login(page, base, "moussa@ong.ml")
    page.click("nav >> text=Campagnes")
    page.click("section:has(#queue) a:has-text('Hygiène jeudi')")
    page.click("button:has-text('Approuver')")
    expect(page.locator("h1")).to_contain_text("programmée")
    page.click("button:has-text('Envoyer maintenant')")
    # Then the progress bar reaches 100 % as the worker sends through the emulator
    expect(page.locator("#percent")).to_have_text("100 %", timeout=60_000)
    expect(page.locator("#p-delivered")).to_have_text("3")

    # Given a second campaign to the twelve women of Markala, approved and started by the
    # manager after the officer drafted it
    _logout(page)
    _login(page, base, "awa@ong.ml")
    _compose(page, base, "Rappel Markala", ["Markala"])
    expect(page.locator("#pf-recipients")).to_have_text("12")
    page.click("button:has-text('Enregistrer et soumettre')")
    expect(page.locator("h1")).to_contain_text("en attente d'approbation")
    _logout(page)
    _login(page, base, "moussa@ong.ml")
    second = db.exec(select(Campaign).where(Campaign.name == "Rappel Markala")).one()
    page.goto(f"{base}/console/campaigns/{second.id}")
    page.click("button:has-text('Approuver')")
    page.click("button:has-text('Envoyer maintenant')")
    # When some messages are delivered (2 a second), she cancels it
    expect(page.locator("#p-delivered")).not_to_have_text("0", timeout=30_000)
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Annuler la campagne')")
    # Then the campaign is cancelled with part of it delivered and the rest never sent
    expect(page.locator("h1")).to_contain_text("annulée")
    delivered = int(page.locator("#p-delivered").inner_text())
    cancelled = int(page.locator("#p-cancelled").inner_text())
    assert cancelled > 0 and delivered < 12, (delivered, cancelled)
    db.expire_all()
    rows = db.exec(select(OutboundMessage).where(OutboundMessage.campaign_id == second.id)).all()
    assert {r.status for r in rows if r.status == "cancelled"} == {"cancelled"}
    assert all(r.sent_at is None for r in rows if r.status == "cancelled")


def test_import_a_csv_with_errors_and_read_the_report(
    console_stack, db, chw, page: Page, tmp_path
) -> None:
    base = console_stack.api_url
    accounts.create_user(db, email="awa@ong.ml", name="Awa", role=Role.officer, password=PASSWORD)
    db.commit()
    upload = tmp_path / "segou.csv"
    upload.write_text(
        "nom;telephone;village;langue;semaines;deplacee\n"
        "Bintou Keita;76 11 22 33;Bla;bm;24;oui\n"
        "Hawa Sidibe;12345;Bla;fr;20;non\n"
        "Rokia Dembele;+22376999888;Atlantis;fr;20;non\n"
        ";+22376000001;Bla;fr;20;non\n",
        encoding="utf-8",
    )
    # Given the officer on the import page
    _login(page, base, "awa@ong.ml")
    page.click("nav >> text=Import CSV")
    # When she uploads a file with errors and asks for the check
    page.set_input_files("#file", str(upload))
    page.click("button:has-text('Vérifier')")
    # Then the report lists each bad line with the reason, in French
    expect(page.locator("#summary")).to_have_text("1 ligne(s) valides sur 4")
    report = page.locator("#problems")
    expect(report).to_contain_text("numéro de téléphone invalide : 12345")
    expect(report).to_contain_text("village inconnu : Atlantis")
    expect(report).to_contain_text("champ obligatoire manquant : nom")
    # When she imports the valid line, the bar fills as the worker registers it
    page.click("button:has-text('Importer les 1 ligne(s) valides')")
    expect(page.locator("#import-progress [role=status]")).to_have_text(
        "Import terminé : 1 inscrite(s), 0 ignorée(s).", timeout=30_000
    )


def test_transfer_lists_the_chws_of_the_village_chosen(console_stack, db, chw, page: Page) -> None:
    base = console_stack.api_url
    accounts.create_user(db, email="awa@ong.ml", name="Awa", role=Role.officer, password=PASSWORD)
    # Given a woman of Pelengana followed by the demo CHW, and another CHW who covers Bla
    woman = registry_service.register_pregnancy(
        db,
        name="Awa Traore",
        phone="+22370209999",
        weeks=24,
        chw_id=chw.id,
        village_id=_village(db, "Pelengana").id,
        language="fr",
        displaced=True,
    )
    chw_service.add(
        db,
        name="Mariam Bla",
        phone="+22376550011",
        pin="4321",
        site_ids=[_village(db, "Bla").id],  # type: ignore[list-item]
    )
    db.commit()
    # (Anything the Content-Security-Policy blocks is reported on the console.)
    console_lines: list[str] = []
    page.on("console", lambda message: console_lines.append(message.text))
    _login(page, base, "awa@ong.ml")
    page.goto(f"{base}/console/beneficiaries/{woman.beneficiary.id}")
    # Then the transfer form first offers her own village's CHW, not Bla's
    options = page.locator("#to_chw_id option")
    expect(options).to_have_count(1)
    expect(options.first).to_contain_text(chw.name)
    # When the officer picks Bla as her new village
    bla = page.locator("#to_village_id option", has_text="Bla").first.get_attribute("value")
    page.select_option("#to_village_id", bla)
    # Then the CHW list is replaced by the CHWs covering Bla
    expect(options).to_have_count(1)
    expect(options.first).to_contain_text("Mariam Bla")
    # And the transfer goes to her
    page.click("button:has-text('Transférer')")
    expect(page.locator("[role=status]").first).to_contain_text("Modification enregistrée")
    expect(page.locator("dd", has_text="Mariam Bla")).to_have_count(1)
    # And HTMX did all this under the console's policy, with nothing blocked
    assert not [line for line in console_lines if "Content Security Policy" in line]
    # When she opts the woman out, the browser asks first (console.js, no inline handler)
    asked: list[str] = []

    def answer_no(dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", answer_no)
    page.click("button:has-text('Désinscrire')")
    # Then she was asked, and answering no sent nothing
    page.wait_for_timeout(300)
    assert len(asked) == 1
    db.expire_all()
    assert db.get(Beneficiary, woman.beneficiary.id).status == "active"


def test_api_documentation_renders_without_a_cdn(console_stack, db, page: Page) -> None:
    base = console_stack.api_url
    accounts.create_user(db, email="awa@ong.ml", name="Awa", role=Role.officer, password=PASSWORD)
    db.commit()
    # Given staff signed in to the console, on a machine with no way out
    _login(page, base, "awa@ong.ml")
    # And a page that records every Content-Security-Policy violation
    complaints: list[str] = []
    page.on(
        "console",
        lambda message: (
            complaints.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.add_init_script(
        "window.__cspViolations = [];"
        "document.addEventListener('securitypolicyviolation', e =>"
        " window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    # When she opens the API documentation
    page.goto(f"{base}/api/v1/docs")
    # Then Swagger UI draws the API from its own copy of the script
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("outreach")
    expect(
        page.locator(".opblock-summary-path", has_text="/api/v1/beneficiaries").first
    ).to_be_visible()
    # And it did so under the page's policy without a single script or style refused
    page.locator(".opblock-summary", has_text="/api/v1/beneficiaries").first.click()
    page.wait_for_timeout(300)
    assert page.evaluate("window.__cspViolations") == []
    assert complaints == []
