"""Injection strings stored in every text field the console shows, opened in Chromium:
no dialog opens, no injected element exists, and the strings read as typed."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from outreach.accounts import service as accounts
from outreach.accounts.models import Role
from outreach.campaigns import service as campaigns
from outreach.campaigns.schemas import CampaignIn
from outreach.chws import service as chw_service
from outreach.inbound import service as inbound
from outreach.inbound.schemas import IncomingSms
from outreach.main import create_app
from outreach.registry import service as registry
from outreach.sites.models import Site

pytestmark = [pytest.mark.browser]

PASSWORD = "segou-2026"
SCRIPT = "<script>window.__pwned = 1; alert(1)</script>"
IMG = '<img src="x" onerror="window.__pwned = 1">'
SVG = '"><svg onload="window.__pwned = 1">'
QUOTES = "'; DROP TABLE beneficiary; -- {{7*7}}"
# Where each string goes: what staff, CHWs and the women themselves can type.
NAMES = {
    "woman": f"Awa {IMG}",
    "chw": f"Agent {SVG}",
    "village": f"Village {SCRIPT}",
    "campaign": f"Campagne {QUOTES}",
    "text": f"Texte {SCRIPT} {IMG}",
    "reply": f"Reponse {SVG} {QUOTES}",
    "user": f"Chef {IMG}",
}


def _world(db) -> dict[str, int]:
    """The strings stored through the services, as the API and USSD store them."""
    admin = accounts.create_user(
        db, email="chef@ong.ml", name=NAMES["user"], role=Role.admin, password=PASSWORD
    )
    village = Site(name=NAMES["village"], level="village")
    db.add(village)
    db.flush()
    assert village.id is not None
    chw = chw_service.add(
        db, name=NAMES["chw"], phone="+22376111222", pin="4321", site_ids=[village.id]
    )
    woman = registry.register_pregnancy(
        db, name=NAMES["woman"], phone="+22370123456", weeks=20, chw_id=chw.id,
        village_id=village.id,
    ).beneficiary  # fmt: skip
    inbound.receive(
        db,
        sms=IncomingSms.model_validate(
            {"id": "ATXid_inj", "from": "+22370123456", "text": NAMES["reply"]}
        ),
    )
    campaign = campaigns.create(
        db,
        user=admin,
        draft=CampaignIn.model_validate(
            {"name": NAMES["campaign"], "texts": {"fr": NAMES["text"]}, "audience": {}}
        ),
    )
    db.commit()
    assert woman.id and chw.id and campaign.id
    return {"woman": woman.id, "chw": chw.id, "campaign": campaign.id}


def test_console_pages_show_injection_strings_as_text(db, serve, page: Page) -> None:
    # Given every text field holding an injection string
    ids = _world(db)
    base = serve(create_app())
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    # When the admin signs in and opens every page that shows them
    page.goto(f"{base}/console/login")
    page.fill("#email", "chef@ong.ml")
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    expect(page).not_to_have_url(re.compile("/login"), timeout=15_000)
    pages = {
        "/console/beneficiaries": ["woman", "village"],
        f"/console/beneficiaries/{ids['woman']}": ["woman", "reply"],
        "/console/inbox": ["reply"],
        "/console/campaigns": ["campaign"],
        f"/console/campaigns/{ids['campaign']}": ["campaign", "text"],
        "/console/chws": ["chw"],
        f"/console/chws/{ids['chw']}": ["chw"],
        "/console/sites": ["village"],
    }
    for path, shown in pages.items():
        page.goto(f"{base}{path}")
        page.wait_for_load_state("load")
        # Then no injected script ran and no injected element exists
        assert page.evaluate("window.__pwned") is None, path
        assert page.locator("img[src='x'], svg[onload], script:has-text('__pwned')").count() == 0
        # And each string reads as it was typed
        text = page.locator("body").inner_text()
        for key in shown:
            assert NAMES[key] in text, (path, key, text[:2000])
    assert dialogs == []
