"""Callback security: the `?key=` secret on every Africa's Talking callback URL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import Decimal

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
