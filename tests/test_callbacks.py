"""Callback security: the `?key=` secret on every Africa's Talking callback URL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from outreach.config import get_settings
from outreach.inbound.models import InboundMessage, OptOutNotice
from outreach.main import create_app
from outreach.outbox.models import DeliveryReport
from outreach.ussd.models import UssdSessionEvent

KEY = "cb-9f2c1e7a5d3b48e6a0c4f1d2b7e9a8c3"
PHONE = "+22370123456"

# One valid form per callback, with AT's field names.
CALLBACKS: dict[str, dict[str, str]] = {
    "/callbacks/at/ussd": {
        "sessionId": "ATUid_sec_1",
        "serviceCode": "*384*123#",
        "phoneNumber": PHONE,
        "networkCode": "99999",
        "text": "",
    },
    "/callbacks/at/ussd/events": {
        "date": "2025-03-14 09:12:45",
        "sessionId": "ATUid_sec_1",
        "serviceCode": "*384*123#",
        "networkCode": "99999",
        "phoneNumber": PHONE,
        "status": "Success",
        "cost": "XOF 2.5000",
        "durationInMillis": "41870",
        "hopsCount": "6",
        "input": "1234*1*Awa Traore*70123456*20*1",
        "lastAppResponse": "END Inscrite. Code: 123456",
        "errorMessage": "",
    },
    "/callbacks/at/sms": {
        "id": "ATXid_in_sec_1",
        "from": PHONE,
        "to": "36123",
        "text": "Merci",
        "date": "2025-03-14 09:12:45",
        "networkCode": "61001",
    },
    "/callbacks/at/delivery": {
        "id": "ATXid_sec_1",
        "status": "Success",
        "phoneNumber": PHONE,
        "networkCode": "61001",
        "retryCount": "0",
    },
    "/callbacks/at/optout": {"senderId": "OUTREACH", "phoneNumber": PHONE},
}
WRONG_KEYS = [
    None,
    "",
    "wrong",
    KEY[:-1],
    KEY + "0",
    KEY.upper(),
    " " + KEY,
]


def _key_ids(key: str | None) -> str:
    return {None: "no-key", "": "empty"}.get(key, f"len{len(key or '')}")


@pytest.fixture
def keyed_client(db) -> Iterator[TestClient]:
    """The API built with OUTREACH_CALLBACK_KEY set, on a clean database."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OUTREACH_CALLBACK_KEY", KEY)
        get_settings.cache_clear()
        with TestClient(create_app()) as test_client:
            yield test_client
    get_settings.cache_clear()


def _stored_rows(db) -> int:
    db.expire_all()
    return sum(
        len(db.exec(select(model)).all())
        for model in (UssdSessionEvent, InboundMessage, DeliveryReport, OptOutNotice)
    )


@pytest.mark.parametrize("path", list(CALLBACKS))
@pytest.mark.parametrize("key", WRONG_KEYS, ids=_key_ids)
def test_callback_without_the_right_key_is_403(keyed_client, db, caplog, path, key) -> None:
    # Given the service expects a callback key
    params = {} if key is None else {"key": key}
    # When a callback arrives without it or with a wrong one
    with caplog.at_level(logging.DEBUG):
        response = keyed_client.post(path, params=params, data=CALLBACKS[path])
    # Then it is refused, nothing is stored, and the log names the path, not the keys
    assert response.status_code == 403
    assert response.json() == {"detail": "clé de rappel invalide"}
    assert _stored_rows(db) == 0
    refusals = [r for r in caplog.records if r.name == "outreach.callbacks"]
    assert [r.levelno for r in refusals] == [logging.WARNING]
    line = refusals[0].getMessage()
    assert "callback refused" in line and path in line
    assert KEY not in line and KEY[:8] not in line
    if key:
        assert key not in line
    server_side = [r.getMessage() for r in caplog.records if r.name.startswith("outreach")]
    assert not any(KEY[:8] in message for message in server_side)


@pytest.mark.parametrize("path", list(CALLBACKS))
def test_callback_with_the_right_key_is_served(keyed_client, db, path) -> None:
    # Given the service expects a callback key
    # When AT calls the URL that carries it
    response = keyed_client.post(path, params={"key": KEY}, data=CALLBACKS[path])
    # Then the callback is handled
    assert response.status_code == 200, response.text
    if path == "/callbacks/at/ussd":
        assert response.text.startswith(("CON ", "END "))
    else:
        assert response.json() == {"status": "ok"}
        assert _stored_rows(db) == 1


@pytest.mark.parametrize("path", list(CALLBACKS))
@pytest.mark.parametrize("key", [None, "anything"], ids=["no-key", "any-key"])
def test_without_a_configured_key_callbacks_need_none(client, db, path, key) -> None:
    # Given no callback key configured (development)
    assert get_settings().callback_key is None
    params = {} if key is None else {"key": key}
    # When a callback arrives, with or without a key
    response = client.post(path, params=params, data=CALLBACKS[path])
    # Then it is served
    assert response.status_code == 200, response.text


def test_ussd_end_of_session_event_is_stored_once_per_session(keyed_client, db) -> None:
    # Given AT's end-of-session notification for one session
    form = CALLBACKS["/callbacks/at/ussd/events"]
    # When it is posted twice
    responses = [
        keyed_client.post("/callbacks/at/ussd/events", params={"key": KEY}, data=form)
        for _ in range(2)
    ]
    # Then both are acknowledged and one row holds the session, fields parsed
    assert [r.status_code for r in responses] == [200, 200]
    [event] = db.exec(select(UssdSessionEvent)).all()
    assert event.session_id == "ATUid_sec_1" and event.status == "Success"
    assert event.cost == Decimal("2.5000")
    assert event.duration_ms == 41870 and event.hops_count == 6
    assert event.phone_number == PHONE and event.event_date == "2025-03-14 09:12:45"
    assert event.last_app_response == "END Inscrite. Code: 123456"


def test_ussd_event_with_garbled_numbers_is_still_stored(keyed_client, db) -> None:
    # Given an event whose cost, duration and hops are not numbers
    form = {
        **CALLBACKS["/callbacks/at/ussd/events"],
        "sessionId": "ATUid_sec_2",
        "cost": "XOF abc",
        "durationInMillis": "1.5s",
        "hopsCount": "",
    }
    # When it is posted
    response = keyed_client.post("/callbacks/at/ussd/events", params={"key": KEY}, data=form)
    # Then it is kept without those numbers
    assert response.status_code == 200
    [event] = db.exec(select(UssdSessionEvent)).all()
    assert event.cost is None and event.duration_ms is None and event.hops_count is None


def test_access_log_never_shows_the_callback_key() -> None:
    # Given uvicorn's access logger with our filter, and a callback URL carrying the key
    import logging

    from outreach.logging import RedactCallbackKey

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", "/callbacks/at/sms?key=s3cr3t-value&x=1", "1.1", 200),
        None,
    )
    # When the filter runs
    RedactCallbackKey().filter(record)
    # Then the line shows the path but not the secret
    line = record.getMessage()
    assert "s3cr3t-value" not in line
    assert "/callbacks/at/sms?key=***&x=1" in line


GATEWAY_IP = "196.201.214.10"
PROXY_IP = "10.1.2.3"


@pytest.fixture
def fenced_app(db) -> Iterator[object]:
    """The API allowing callbacks from the gateway's network only, behind a trusted proxy,
    wrapped in the proxy-header middleware that `outreach api` gets from uvicorn."""
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OUTREACH_CALLBACK_ALLOWED_IPS", "196.201.214.0/24, 2c0f:fe38::/32")
        patch.setenv("OUTREACH_TRUSTED_PROXIES", f"{PROXY_IP}/32")
        get_settings.cache_clear()
        trusted = [str(n) for n in get_settings().trusted_proxies]
        yield ProxyHeadersMiddleware(create_app(), trusted_hosts=trusted)
    get_settings.cache_clear()


@pytest.mark.parametrize("path", list(CALLBACKS))
def test_the_allowlist_checks_the_gateway_behind_a_trusted_proxy(
    fenced_app, db, caplog, path
) -> None:
    # Given the gateway's network allowed, and our reverse proxy trusted
    via_proxy = TestClient(fenced_app, client=(PROXY_IP, 40000))
    forged = TestClient(fenced_app, client=("203.0.113.9", 40000))
    direct = TestClient(fenced_app, client=(GATEWAY_IP, 40000))
    # When the gateway calls through the proxy, or directly
    through = via_proxy.post(path, data=CALLBACKS[path], headers={"X-Forwarded-For": GATEWAY_IP})
    straight = direct.post(path, data=CALLBACKS[path])
    # Then both are served
    assert through.status_code == 200, through.text
    assert straight.status_code == 200, straight.text
    # When a stranger claims the gateway's address in a header it is not trusted to set,
    # or the proxy forwards a stranger
    with caplog.at_level(logging.WARNING):
        spoofed = forged.post(path, data=CALLBACKS[path], headers={"X-Forwarded-For": GATEWAY_IP})
        stranger = via_proxy.post(
            path, data=CALLBACKS[path], headers={"X-Forwarded-For": "203.0.113.9"}
        )
    # Then both are refused, and the log names the address that was refused
    assert spoofed.status_code == stranger.status_code == 403
    assert spoofed.json() == {"detail": "adresse non autorisée"}
    refusals = [r.getMessage() for r in caplog.records if r.name == "outreach.callbacks"]
    assert len(refusals) == 2 and all("203.0.113.9" in line for line in refusals)


def test_the_allowlist_is_comma_separated_and_checked() -> None:
    # Given a setting typed by hand in an environment file
    from outreach.config import Settings

    settings = Settings(callback_allowed_ips="196.201.214.0/24,  10.0.0.5")  # type: ignore[arg-type]
    # Then each network is parsed, and a typo is refused at start
    assert [str(n) for n in settings.callback_allowed_ips] == ["196.201.214.0/24", "10.0.0.5/32"]
    with pytest.raises(ValueError, match="callback_allowed_ips"):
        Settings(callback_allowed_ips="196.201.214.0/33")  # type: ignore[arg-type]


@pytest.mark.parametrize("path", list(CALLBACKS))
def test_oversized_bodies_are_refused_before_they_are_read(client, db, path) -> None:
    # Given a form padded far past what the gateway ever sends (16 KiB by default)
    padded = {**CALLBACKS[path], "padding": "x" * 20_000}
    # When it is posted url-encoded, as multipart, or streamed with no declared length
    urlencoded = client.post(path, data=padded)
    multipart = client.post(path, data=padded, files={"f": ("f.txt", b"y" * 20_000)})
    streamed = client.post(
        path,
        content=iter([b"text=", b"x" * 20_000]),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    # Then each is refused with 413, in French, and nothing is stored
    for response in (urlencoded, multipart, streamed):
        assert response.status_code == 413, response.text
        assert response.json() == {"detail": "requête trop volumineuse"}
    assert _stored_rows(db) == 0


@pytest.mark.parametrize("path", list(CALLBACKS))
def test_a_valid_form_in_the_wrong_content_type_is_a_422_and_stores_nothing(
    client, db, path
) -> None:
    # Given a form the gateway would send, with every field right
    fields = CALLBACKS[path]
    # When it arrives as JSON, or as url-encoded text labelled text/plain or XML
    as_json = client.post(path, json=fields)
    as_text = client.post(path, content=urlencode(fields), headers={"content-type": "text/plain"})
    as_xml = client.post(
        path, content=urlencode(fields), headers={"content-type": "application/xml"}
    )
    # Then each is a 422 naming the missing fields, and nothing is stored
    for response in (as_json, as_text, as_xml):
        assert response.status_code == 422, (response.status_code, response.text)
        assert "requête invalide" in response.json()["detail"]
    assert _stored_rows(db) == 0
