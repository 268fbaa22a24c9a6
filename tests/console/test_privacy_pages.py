"""Her page: an export download for officers, an erase button (with confirmation) for admins."""

from __future__ import annotations

import sys
from pathlib import Path

from sqlmodel import select

from outreach.accounts.models import Role
from outreach.audit.models import AuditEntry
from outreach.registry.models import Beneficiary

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "privacy"))
from privacy_helpers import NAME, household, traces


def test_an_officer_downloads_her_export_but_sees_no_erase_button(db, chw, staff) -> None:
    # given an officer on Kadiatou's page
    home = household(db, chw.id)
    officer = staff(Role.officer)
    page = officer.get(f"/console/beneficiaries/{home.woman.id}")
    # then there is an export link and no erase button
    assert "Exporter ses données (JSON)" in page.text
    assert "Effacer ses données" not in page.text
    # when she follows the link
    download = officer.get(f"/console/beneficiaries/{home.woman.id}/export.json")
    # then a JSON attachment with her record, and an audit entry naming the officer
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    assert download.json()["beneficiary"]["name"] == NAME
    entry = db.exec(select(AuditEntry).where(AuditEntry.action == "beneficiary.export")).one()
    assert entry.user_id == officer.user.id
    # and posting an erasure anyway is refused
    assert officer.post(f"/console/beneficiaries/{home.woman.id}/erase").status_code == 403


def test_an_admin_erases_her_after_a_confirmation(db, chw, staff) -> None:
    # given an admin on Kadiatou's page
    home = household(db, chw.id)
    admin = staff(Role.admin)
    page = admin.get(f"/console/beneficiaries/{home.woman.id}")
    # then the erase form asks for confirmation through console.js (no inline script)
    assert f'action="/console/beneficiaries/{home.woman.id}/erase"' in page.text
    assert 'data-confirm="Effacer définitivement' in page.text
    # when the form is sent
    done = admin.post(f"/console/beneficiaries/{home.woman.id}/erase")
    # then the page says so, shows "Effacée", and her name is nowhere in the database
    assert done.status_code == 200 and "Données effacées." in done.text
    assert "Effacée" in done.text and NAME not in done.text
    assert traces(db, NAME) == []
    db.expire_all()
    woman = db.get(Beneficiary, home.woman.id)
    assert woman is not None and woman.erased_at is not None
    # and the button is gone
    assert "Effacer ses données" not in admin.get(f"/console/beneficiaries/{woman.id}").text
