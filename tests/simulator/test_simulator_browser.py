"""A person at the phone simulator, in a real browser (Debian's chromium)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_register_a_woman_in_the_simulator_and_see_her_sms_delivered(
    stack, chw, page: Page
) -> None:
    # Given the simulator page served by the running API
    page.goto(f"{stack.api_url}/simulator")
    screen = page.locator("#screen")

    def reply(value: str) -> None:
        page.fill("#answer", value)
        page.click("#send")

    # When the demo CHW dials and registers Kadiatou Sangaré, 30 weeks pregnant
    page.fill("#phone", "+22370000001")
    page.click("#dial")
    expect(screen).to_contain_text("PIN")
    reply("1234")
    expect(screen).to_contain_text("Inscrire une femme enceinte")
    reply("1")
    expect(screen).to_contain_text("Nom complet")
    reply("Kadiatou Sangare")
    expect(screen).to_contain_text("1 Le sien")
    reply("1")
    expect(screen).to_contain_text("numero de telephone")
    reply("65 12 34 56")
    expect(screen).to_contain_text("2 Semaines")
    reply("2")
    expect(screen).to_contain_text("Semaines de grossesse")
    reply("30")
    expect(screen).to_contain_text("Village")
    for answer in ("1", "1", "2", "1"):
        reply(answer)
    expect(screen).to_contain_text("Confirmer:")
    reply("1")
    expect(screen).to_contain_text("Inscrite. Code:")
    expect(page.locator("#handset")).to_have_attribute("data-state", "ended")

    # Then switching the handset to her number shows the welcome SMS, delivered
    page.fill("#phone", "+22365123456")
    sms = page.locator("#inbox .sms").first
    expect(sms.locator(".sms-text")).to_contain_text("Bienvenue Kadiatou Sangare", timeout=45_000)
    expect(sms.locator(".sms-status")).to_contain_text("Remis", timeout=45_000)


def test_hanging_up_mid_flow_is_offered_back_on_the_next_call(stack, chw, page: Page) -> None:
    # Given the demo CHW who hangs up at the name question
    page.goto(f"{stack.api_url}/simulator")
    screen = page.locator("#screen")
    page.fill("#phone", "+22370000001")
    page.click("#dial")
    expect(screen).to_contain_text("PIN")
    page.fill("#answer", "1234")
    page.click("#send")
    expect(screen).to_contain_text("Menu agent")
    page.fill("#answer", "1")
    page.click("#send")
    expect(screen).to_contain_text("Nom complet")
    page.click("#hangup")
    # When she calls again
    page.click("#dial")
    # Then the dropped session is offered back, and continuing shows the name question
    expect(screen).to_contain_text("1 Continuer")
    page.fill("#answer", "1")
    page.click("#send")
    expect(screen).to_contain_text("Nom complet")
