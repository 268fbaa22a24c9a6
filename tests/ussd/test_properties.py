"""Random input sequences across every menu: the handset always gets a valid screen."""

from __future__ import annotations

import itertools
import logging
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from messages.encoding import is_gsm7
from outreach.chws.models import Chw

CHW_PHONE = "+22370000001"
WOMAN_PHONE = "+22370123456"
SHARED_PHONE = "+22370222222"
UNKNOWN_PHONE = "+22376999999"

# Answers that move through the menus, navigation keys, and the bad input the field sends.
USEFUL = st.sampled_from(
    [
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
        "7",
        "8",
        "9",
        "0",
        "00",
        "98",
        "1234",
        "0000",
        "70123456",
        "76000001",
        "20",
        "5",
        "43",
        "01012027",
        "15/03/2026",
        "2",
        "999999",
        "Awa Traore",
        "Aoua Traoré",
        "",
        " ",
        "*",
        "**",
        "x",
        "😀",
        "DROP TABLE beneficiary;--",
        "' OR 1=1 --",
        "A" * 200,
        "*" * 100,
    ]
)
NOISE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=200,
)
ANSWERS = st.lists(st.one_of(USEFUL, USEFUL, USEFUL, NOISE), min_size=1, max_size=6)
PHONES = st.sampled_from(
    [CHW_PHONE, CHW_PHONE, CHW_PHONE, WOMAN_PHONE, SHARED_PHONE, UNKNOWN_PHONE]
)

_ids = itertools.count()


@pytest.fixture
def quiet_logs():
    """Thousands of hops: keep their INFO lines out of the capture, which costs more than them."""
    loggers = [logging.getLogger(name) for name in ("httpx", "outreach")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


@settings(
    max_examples=int(os.environ.get("USSD_PROPERTY_EXAMPLES", "2000")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
@given(phone=PHONES, pin_first=st.booleans(), answers=ANSWERS)
def test_every_reply_is_a_valid_screen(
    menus, quiet_logs, client, db, phone, pin_first, answers
) -> None:
    # Given a CHW never left locked out by an earlier example
    db.execute(update(Chw).values(failed_pin_attempts=0, locked_until=None))
    db.commit()
    session_id = f"prop_{next(_ids)}"
    sent: list[str] = []
    if phone == CHW_PHONE and pin_first:
        answers = ["1234", *answers]
    # When the phone dials and types the sequence, as AT posts it
    for text in ["", *("*".join(sent := [*sent, a]) for a in answers)]:
        response = client.post(
            "/callbacks/at/ussd",
            data={
                "sessionId": session_id,
                "serviceCode": "*384*123#",
                "phoneNumber": phone,
                "networkCode": "99999",
                "text": text,
            },
        )
        # Then every reply is a 200 screen, CON or END, at most 160 GSM-7 characters
        assert response.status_code == 200, response.text
        body = response.text
        assert body.startswith(("CON ", "END ")), body
        assert len(body) <= 160, body
        assert is_gsm7(body), body
        assert "indisponible" not in body, (phone, answers, body)
        if body.startswith("END "):
            break
