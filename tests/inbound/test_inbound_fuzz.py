"""Hostile incoming-SMS and opt-out callback bodies: stored, or refused with a clean 4xx.

The full run, 10,000 cases a test:

    CALLBACK_FUZZ_EXAMPLES=10000 .venv/bin/python -m pytest tests/inbound/test_inbound_fuzz.py
"""

from __future__ import annotations

from callback_forms import FUZZ, assert_clean, hostile_text, phone, request_for
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import select

from outreach.inbound.models import InboundMessage

SMS = {
    "id": st.one_of(st.from_regex(r"ATXid_[0-9a-f]{1,32}", fullmatch=True), hostile_text),
    "from": phone,
    "to": st.sampled_from(["36123", "OUTREACH"]),
    "text": st.one_of(st.sampled_from(["STOP", "Merci", "AIDE", "Arrêt"]), hostile_text),
    "date": st.sampled_from(["2026-11-22 10:00:00", "2026-11-22T10:00:00Z"]),
    "linkId": st.from_regex(r"[0-9a-f-]{1,36}", fullmatch=True),
    "networkCode": st.sampled_from(["61001", "61002"]),
    "cost": st.sampled_from(["XOF 0.0000", "0"]),
}
OPT_OUT = {"phoneNumber": phone, "senderId": st.sampled_from(["OUTREACH", "36123"])}


@FUZZ
@given(request=request_for(SMS))
def test_a_hostile_incoming_sms_is_stored_or_refused_cleanly(chw, client, db, request):
    # When this body is posted as an incoming SMS
    response = client.post("/callbacks/at/sms", **request)
    # Then it is a 200 and the message is stored under its id, or a clean 4xx
    assert_clean(response)
    if response.status_code == 200:
        db.expire_all()
        assert db.exec(select(InboundMessage.id)).first() is not None


@FUZZ
@given(request=request_for(OPT_OUT))
def test_a_hostile_opt_out_is_kept_or_refused_cleanly(chw, client, db, request):
    # When this body is posted as a bulk opt-out
    response = client.post("/callbacks/at/optout", **request)
    # Then it is a 200 or a clean 4xx
    assert_clean(response)
