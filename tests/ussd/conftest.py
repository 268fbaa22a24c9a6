"""USSD fixtures: AT's end-of-session callback, households, step helpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import Session

from outreach.registry import service as registry_service
from outreach.registry.models import PhoneKind

# The phone of the `woman` fixture (tests/conftest.py).
WOMAN_PHONE = "+22370123456"


@pytest.fixture
def end_session(client) -> Callable[..., Any]:
    """`end_session(dialer, status)`: post AT's end-of-session notification for a session."""

    def post(session, status: str = "Incomplete", hops: int = 3) -> Any:
        response = client.post(
            "/callbacks/at/ussd/events",
            data={
                "date": "2026-03-14 09:12:45",
                "sessionId": session.session_id,
                "serviceCode": session.service_code,
                "networkCode": "99999",
                "phoneNumber": session.phone,
                "status": status,
                "cost": "KES 0.0000",
                "durationInMillis": "41000",
                "hopsCount": str(hops),
                "input": "*".join(session.answers),
                "lastAppResponse": "CON ...",
                "errorMessage": "",
            },
        )
        assert response.status_code == 200, response.text
        return response

    return post


def _register(
    session,
    *,
    name: str = "Awa Traore",
    phone_kind: str = "1",
    phone: str | None = "70123456",
    mode: str = "2",
    stage: str = "20",
    village: str = "1",
    language: str = "1",
    idp: str = "2",
    consent: str = "1",
) -> str:
    """Drive a CHW from dialling to the summary of a pregnancy registration; returns it."""
    session.dial()
    session.answer("1234")
    session.answer("1")
    session.answer(name)
    session.answer(phone_kind)
    if phone_kind != "3":
        session.answer(phone)
    session.answer(mode)
    session.answer(stage)
    session.answer(village)
    session.answer(language)
    session.answer(idp)
    return session.answer(consent)


@pytest.fixture
def to_summary() -> Callable[..., str]:
    """`to_summary(session, **answers)`: a CHW from dialling to the registration summary."""
    return _register


@pytest.fixture
def menus(chw, db: Session) -> None:
    """The demo CHW, a woman on her own phone, and two women on one shared phone."""
    registry_service.register_pregnancy(
        db, name="Awa Traore", phone=WOMAN_PHONE, weeks=20, chw_id=chw.id
    )
    for name in ("Fatou Traore", "Kadia Traore"):
        registry_service.register_pregnancy(
            db,
            name=name,
            phone="+22370222222",
            weeks=30,
            chw_id=chw.id,
            phone_kind=PhoneKind.SHARED,
        )
    db.commit()
