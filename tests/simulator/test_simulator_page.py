"""The phone simulator page, its static assets and the SMS inbox fragment."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from outreach.config import Settings
from outreach.gateways.emulator import create_app as create_emulator
from outreach.simulator import service
from outreach.simulator.router import router

AWA = "+22370000001"
PAGE_IDS = ("phone", "dial", "screen", "answer", "send", "hangup", "inbox")


def _settings(**overrides: Any) -> Settings:
    # No .env: a developer's local file must not change what the tests see.
    return Settings(**{"_env_file": None, **overrides})


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def use_settings(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Settings]:
    def apply(**overrides: Any) -> Settings:
        settings = _settings(**overrides)
        monkeypatch.setattr(service, "get_settings", lambda: settings)
        return settings

    return apply


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(router)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def emulator_port(serve: Callable[[FastAPI], str]) -> int:
    # No delivery URL: the status stays "not reported yet" unless a test sets it.
    url = serve(create_emulator(_settings(emulator_delivery_url="")))
    return int(url.rsplit(":", 1)[1])


def _send_sms(port: int, to: str, message: str) -> None:
    response = httpx.post(
        f"http://127.0.0.1:{port}/version1/messaging",
        data={"username": "sandbox", "to": to, "message": message},
        headers={"apiKey": "test-key", "Accept": "application/json"},
        timeout=5,
    )
    assert response.status_code == 201, response.text


def test_page_renders_the_handset_with_service_code_and_callback_key(
    client: TestClient, use_settings: Callable[..., Settings]
) -> None:
    # Given a deployment with its own service code and a callback key
    use_settings(ussd_service_code="*384*777#", callback_key=SecretStr('k3y-with-"quotes"&more'))

    # When the simulator page is opened
    response = client.get("/simulator")

    # Then it is a French page with every element the browser tests drive
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<html lang="fr">' in html
    for element_id in PAGE_IDS:
        assert f'id="{element_id}"' in html, element_id
    assert 'for="phone"' in html and 'for="answer"' in html
    assert "Numéro de téléphone" in html
    assert f'value="{AWA}"' in html
    for label in ("Appeler", "Envoyer", "Raccrocher", "SMS reçus"):
        assert label in html
    # And it shows the service code and hands the JS the key, escaped, and the callback URL
    assert "*384*777#" in html
    assert 'data-service-code="*384*777#"' in html
    assert 'data-callback-key="k3y-with-&#34;quotes&#34;&amp;more"' in html
    assert 'data-callback-url="/callbacks/at/ussd"' in html
    # And where to post the end-of-session event on hang-up, as AT does when a call drops
    assert 'data-events-url="/callbacks/at/ussd/events"' in html
    # And nothing runs inline, so a strict Content-Security-Policy can be added later
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)
    assert "http://" not in html and "https://" not in html


def test_page_without_callback_key_leaves_the_attribute_empty(
    client: TestClient, use_settings: Callable[..., Settings]
) -> None:
    # Given no callback key configured
    use_settings(callback_key=None)

    # When the page is opened
    html = client.get("/simulator").text

    # Then the JS gets an empty key and the default service code
    assert 'data-callback-key=""' in html
    assert 'data-service-code="*384*123#"' in html


@pytest.mark.parametrize(
    ("name", "content_type", "marker"),
    [
        ("simulator.js", "text/javascript", "callbackUrl"),
        ("simulator.css", "text/css", ".screen"),
    ],
)
def test_static_assets_are_served_with_their_content_type(
    client: TestClient, name: str, content_type: str, marker: str
) -> None:
    # Given the page links its script and stylesheet
    # When the browser fetches one
    response = client.get(f"/simulator/static/{name}")

    # Then it gets the file with the right media type
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(content_type)
    assert marker in response.text


def test_script_speaks_the_africastalking_ussd_protocol(client: TestClient) -> None:
    # Given the simulator script
    # When it is served
    js = client.get("/simulator/static/simulator.js").text

    # Then it posts the AT form fields and joins answers with "*"
    for field in ("sessionId", "serviceCode", "phoneNumber", "networkCode", "text"):
        assert field in js
    assert '"99999"' in js
    assert 'join("*")' in js
    assert '"CON "' in js and '"END "' in js
    assert "Erreur de connexion" in js and "Réponse invalide du service" in js


@pytest.mark.parametrize("name", ["unknown.js", "..%2Fservice.py", "simulator.html", "inbox.html"])
def test_unknown_static_name_is_not_found(client: TestClient, name: str) -> None:
    # Given a name outside the allow-list
    # When it is requested
    response = client.get(f"/simulator/static/{name}")

    # Then nothing from the package leaks
    assert response.status_code == 404


def test_inbox_lists_the_messages_the_emulator_accepted(
    client: TestClient, use_settings: Callable[..., Settings], emulator_port: int
) -> None:
    # Given an emulator that accepted two SMS for Awa and one for someone else
    use_settings(emulator_host="127.0.0.1", emulator_port=emulator_port)
    _send_sms(emulator_port, AWA, "Rappel : vaccination <BCG> demain & après")
    _send_sms(emulator_port, "+22370000002", "Pas pour Awa")
    _send_sms(emulator_port, AWA, "Bienvenue Awa")

    # When the inbox fragment is fetched with a national number
    response = client.get("/simulator/inbox", params={"phone": "70 00 00 01"})

    # Then it lists Awa's messages newest first, escaped, with the French status
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    texts = re.findall(r'<p class="sms-text">(.*?)</p>', html, flags=re.S)
    assert texts == [
        "Bienvenue Awa",
        "Rappel : vaccination &lt;BCG&gt; demain &amp; après",
    ]
    statuses = re.findall(r'<span class="sms-status">(.*?)</span>', html)
    assert statuses == ["Envoyé", "Envoyé"]
    assert html.count('class="sms ') == 2
    assert AWA in html
    assert "Pas pour Awa" not in html
    assert "<html" not in html


def test_inbox_shows_the_delivery_reports_in_french(
    client: TestClient,
    use_settings: Callable[..., Settings],
    serve: Callable[[FastAPI], str],
) -> None:
    # Given an emulator that reports deliveries to a receiver that always answers 200
    sink = FastAPI()

    @sink.post("/delivery")
    def delivery() -> dict[str, str]:
        return {"status": "ok"}

    sink_url = serve(sink)
    emulator = create_emulator(
        _settings(emulator_delivery_url=f"{sink_url}/delivery", emulator_delivery_delay_seconds=0.0)
    )
    port = int(serve(emulator).rsplit(":", 1)[1])
    use_settings(emulator_port=port)
    # And a first SMS delivered, then a second one the network fails to deliver
    _send_sms(port, AWA, "Premier")
    faults = {"delivery_status": {AWA: "Failed:DeliveryFailure"}}
    assert httpx.post(f"http://127.0.0.1:{port}/emulator/faults", json=faults).is_success
    _send_sms(port, AWA, "Second")

    # When the inbox is polled until both reports are in
    statuses: list[str] = []
    html = ""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        html = client.get("/simulator/inbox", params={"phone": AWA}).text
        statuses = re.findall(r'<span class="sms-status">(.*?)</span>', html)
        if "Envoyé" not in statuses:
            break
        time.sleep(0.05)

    # Then each status reads in French, newest first, the failure with its reason
    assert statuses == ["Échec", "Remis"]
    assert "DeliveryFailure" in html
    assert 'class="sms sms-failed"' in html and 'class="sms sms-delivered"' in html


def test_status_labels_are_french() -> None:
    # Given the delivery statuses AT reports
    # When they are labelled
    # Then they read in French, and an unknown one is shown as sent
    assert service.status_label("Success") == "Remis"
    assert service.status_label("Failed") == "Échec"
    assert service.status_label(None) == "Envoyé"
    assert service.status_label("Brandnew") == "Brandnew"


def test_inbox_for_a_number_without_messages(
    client: TestClient, use_settings: Callable[..., Settings], emulator_port: int
) -> None:
    # Given an emulator with nothing for this number
    use_settings(emulator_port=emulator_port)

    # When its inbox is fetched
    response = client.get("/simulator/inbox", params={"phone": "+22370000009"})

    # Then it says so
    assert response.status_code == 200
    assert "Aucun SMS pour +22370000009" in response.text


def test_inbox_when_the_emulator_is_unreachable(
    client: TestClient, use_settings: Callable[..., Settings]
) -> None:
    # Given an emulator port nobody listens on
    use_settings(emulator_port=_free_port())

    # When the inbox is fetched
    response = client.get("/simulator/inbox", params={"phone": AWA})

    # Then the page gets a friendly fragment, not a server error
    assert response.status_code == 200
    assert "Émulateur injoignable" in response.text
    assert 'class="sms' not in response.text


@pytest.mark.parametrize("phone", ["", "abc", "12", "+2237000000199999999999999999"])
def test_inbox_with_an_invalid_phone(
    client: TestClient, use_settings: Callable[..., Settings], phone: str
) -> None:
    # Given a number that is not a valid mobile
    use_settings(emulator_port=_free_port())

    # When the inbox is fetched for it
    response = client.get("/simulator/inbox", params={"phone": phone})

    # Then the fragment explains it in French, with status 200
    assert response.status_code == 200
    assert "Numéro de téléphone invalide" in response.text
