"""Phone numbers: parsing to E.164 (Mali by default) and masking for logs."""

from __future__ import annotations

import phonenumbers

from outreach.config import get_settings

_MOBILE_TYPES = frozenset(
    {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
)


class InvalidPhoneNumber(ValueError):
    """The text is not a valid, dialable mobile or fixed number."""


def normalize(raw: str, *, region: str | None = None) -> str:
    """Parse `raw` (national or international) to E.164, or raise InvalidPhoneNumber."""
    text = (raw or "").strip()
    if not text or len(text) > 25:
        raise InvalidPhoneNumber(raw)
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, region or get_settings().default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(raw) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(raw)
    # SMS only reaches mobiles: a fixed line or a toll-free number would never receive it.
    if phonenumbers.number_type(parsed) not in _MOBILE_TYPES:
        raise InvalidPhoneNumber(raw)
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def search_number(text: str) -> str | None:
    """The number a search box's text names in full, or None (it is a name, or a part).

    Numbers are stored encrypted and found by a keyed hash of the whole number, so a
    search can only match a complete number, never a few of its digits.
    """
    if not any(ch.isdigit() for ch in text):
        return None
    try:
        return normalize(text)
    except InvalidPhoneNumber:
        return None


def mask(e164: str | None) -> str:
    """Keep the country code and the last two digits: enough to debug, not to call."""
    if not e164:
        return "-"
    if len(e164) <= 6:
        return "*" * len(e164)
    return e164[:4] + "*" * (len(e164) - 6) + e164[-2:]


def national(e164: str) -> str:
    """The number as people in the country dial it (70 12 34 56 in Mali)."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)


def mask_name(name: str | None) -> str:
    """Initials only: a log line must not name a woman."""
    if not name:
        return "-"
    return "".join(part[0] + "." for part in name.split() if part)
