"""Realistic but hostile Africa's Talking callback bodies, for the callback fuzz tests.

A body is built from the callback's own field names: each field is sent with a
plausible value, a hostile one, or left out; unknown fields are added; and now and then
the whole body is raw bytes, JSON, or sent under the wrong content type.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlencode

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from messages.encoding import is_gsm7

# Quick in the normal suite; `CALLBACK_FUZZ_EXAMPLES=10000` for the full run.
EXAMPLES = int(os.environ.get("CALLBACK_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# What shows up in the field, and what an attacker sends.
PAYLOADS = [
    "",
    " ",
    "0",
    "-1",
    "1e309",
    "NaN",
    "null",
    "true",
    "[]",
    "{}",
    "' OR '1'='1",
    "'; DROP TABLE beneficiary; --",
    '" OR ""="',
    "1; SELECT pg_sleep(5)",
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "{{7*7}}",
    "${7*7}",
    "%s%s%s%n",
    "%00",
    "\x00",
    "a\x00b",
    "\u202etxt.exe",
    "\u200b\u200d\ufeff",
    "😀" * 40,
    "ɛɔɲŋ",
    "é" * 300,
    "A" * 5000,
    "*" * 200,
    "1*" * 100,
    "\r\n\r\nX-Injected: 1",
    "../../etc/passwd",
]
PHONES = [
    "+22370000001",
    "+22370123456",
    "+22376999999",
    "22370123456",
    "70123456",
    "+223",
    "+1",
    "+999999999999999999999",
    "00223 70 12 34 56",
    "ORANGE",
    "+22370123456; DROP TABLE phone",
]

hostile_text = st.one_of(
    st.sampled_from(PAYLOADS),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=300),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60),
    st.integers(-(10**30), 10**30).map(str),
)
phone = st.one_of(st.sampled_from(PHONES), st.from_regex(r"\+2237[0-9]{7}", fullmatch=True))
ussd_text = st.one_of(
    st.lists(
        st.one_of(st.sampled_from(["1", "2", "0", "00", "98", "1234", "Awa Traore"]), hostile_text),
        max_size=12,
    ).map("*".join),
    hostile_text,
)


def value_for(plausible: st.SearchStrategy[str]) -> st.SearchStrategy[str | None]:
    """A field's value: plausible most of the time, hostile or absent otherwise."""
    return st.one_of(plausible, plausible, hostile_text, st.none())


@st.composite
def form(draw: Any, fields: dict[str, st.SearchStrategy[str]]) -> dict[str, str]:
    """A form with these fields (None: left out) and, now and then, fields nobody expects."""
    body = {name: draw(value_for(strategy)) for name, strategy in fields.items()}
    extra = draw(st.dictionaries(st.text(min_size=1, max_size=20), hostile_text, max_size=2))
    return {k: v for k, v in {**extra, **body}.items() if v is not None}


@st.composite
def request_for(draw: Any, fields: dict[str, st.SearchStrategy[str]]) -> dict[str, Any]:
    """Keyword arguments for `client.post(path, **kwargs)`: a form, or a malformed body."""
    data = draw(form(fields))
    shape = draw(st.sampled_from(["form"] * 6 + ["bytes", "json", "text", "multipart", "none"]))
    form_type = {"content-type": "application/x-www-form-urlencoded"}
    if shape == "form":
        return {"content": urlencode(data).encode(), "headers": form_type}
    if shape == "bytes":
        return {"content": draw(st.binary(max_size=400)), "headers": form_type}
    if shape == "json":
        return {"json": data}
    if shape == "text":
        return {"content": urlencode(data).encode(), "headers": {"content-type": "text/plain"}}
    if shape == "multipart":
        return {"data": data, "files": {"upload": ("x.txt", b"x")}}
    return {"content": urlencode(data).encode(), "headers": {}}


def assert_clean(response: Any) -> None:
    """A 200 or a client error with a body; never a server error."""
    assert response.status_code < 500, (response.status_code, response.text[:300])
    assert response.status_code in (200, 413, 415, 422), (response.status_code, response.text)


def assert_valid_screen(body: str) -> None:
    """What a handset can show: `CON `/`END `, at most 160 GSM-7 characters."""
    assert body.startswith(("CON ", "END ")), body
    assert len(body) <= 160, (len(body), body)
    assert is_gsm7(body), body
