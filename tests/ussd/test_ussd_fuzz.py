"""Hostile USSD callback bodies: every answer is a valid screen or a clean 4xx.

The full run, 10,000 cases a test:

    CALLBACK_FUZZ_EXAMPLES=10000 .venv/bin/python -m pytest tests/ussd/test_ussd_fuzz.py

The menus are walked on purpose in `test_properties.py` (`USSD_PROPERTY_EXAMPLES`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from callback_forms import FUZZ, assert_clean, assert_valid_screen, hostile_text, phone, request_for
from callback_forms import ussd_text as text
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import update

from outreach.chws.models import Chw

FIELDS = {
    "sessionId": st.one_of(st.from_regex(r"ATUid_[0-9a-f]{1,32}", fullmatch=True), hostile_text),
    "serviceCode": st.sampled_from(["*384*123#", "*384*123*1#"]),
    "phoneNumber": phone,
    "networkCode": st.sampled_from(["99999", "61001", "61002"]),
    "text": text,
}


@pytest.fixture
def quiet() -> Iterator[None]:
    """Thousands of hops: their INFO lines would cost more than the hops."""
    loggers = [logging.getLogger(name) for name in ("httpx", "outreach")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


@FUZZ
@given(request=request_for(FIELDS))
def test_a_hostile_hop_gets_a_valid_screen_or_a_clean_4xx(menus, quiet, client, db, request):
    # Given the demo CHW never left locked out by an earlier example
    db.execute(update(Chw).values(failed_pin_attempts=0, locked_until=None))
    db.commit()
    # When AT (or someone else) posts this body to the USSD callback
    response = client.post("/callbacks/at/ussd", **request)
    # Then it is a screen the handset can show, from a hop that did not fail, or a 4xx
    assert_clean(response)
    if response.status_code == 200:
        assert_valid_screen(response.text)
        assert "indisponible" not in response.text, (request, response.text)
