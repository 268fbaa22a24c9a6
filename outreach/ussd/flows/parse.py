"""Answer parsers shared by the menus: each returns a value or raises Reprompt with a reason."""

from __future__ import annotations

import re
from datetime import date, timedelta

from outreach.registry import phones
from outreach.registry import service as registry_service
from outreach.timeutil import local_today
from outreach.ussd.engine import Ctx, Reprompt, digits

NAME_MAX = 40
PLACE_MAX = 40
_NAME_RE = re.compile(r"^[^\W\d_]+(?:[ '\-.][^\W\d_]+)*\.?$")
_DATE_RE = re.compile(r"^([0-9]{1,2})[/.\- ]([0-9]{1,2})[/.\- ]([0-9]{2}|[0-9]{4})$")
MAX_INFANT_WEEKS = 104
# An EDD a little in the past is a woman who has not given birth yet; more is an error.
EDD_OVERDUE = timedelta(weeks=2)
# A birth recorded more than this after the fact is too old for the infant programme's start.
BIRTH_RECORD_MAX_AGE = timedelta(weeks=26)


def name(_ctx: Ctx, answer: str) -> str:
    """A person's name: letters, spaces, apostrophes and hyphens, 2 to 40 characters."""
    clean = " ".join(answer.split())
    if not clean:
        raise Reprompt("err_name_empty")
    if len(clean) > NAME_MAX:
        raise Reprompt("err_name_long")
    if len(clean) < 2 or not _NAME_RE.match(clean):
        raise Reprompt("err_name_chars")
    return clean


def place(_ctx: Ctx, answer: str) -> str:
    """A village name typed by hand."""
    clean = " ".join(answer.split())
    if not clean:
        raise Reprompt("err_place_empty")
    if len(clean) > PLACE_MAX:
        raise Reprompt("err_name_long")
    if len(clean) < 2 or not _NAME_RE.match(clean):
        raise Reprompt("err_name_chars")
    return clean


def phone(_ctx: Ctx, answer: str) -> str:
    """A Malian mobile number, in E.164."""
    try:
        return phones.normalize(answer)
    except phones.InvalidPhoneNumber:
        raise Reprompt("err_phone") from None


def number(answer: str, *, low: int, high: int, reason: str) -> int:
    """A whole number between `low` and `high`, else the reason."""
    if not digits(answer) or len(answer) > 3:
        raise Reprompt(reason)
    value = int(answer)
    if not low <= value <= high:
        raise Reprompt(reason)
    return value


def weeks(_ctx: Ctx, answer: str) -> int:
    return number(
        answer,
        low=registry_service.MIN_PREGNANCY_WEEKS,
        high=registry_service.MAX_PREGNANCY_WEEKS,
        reason="err_weeks",
    )


def months(_ctx: Ctx, answer: str) -> int:
    return number(answer, low=1, high=9, reason="err_months")


def child_weeks(_ctx: Ctx, answer: str) -> int:
    if digits(answer) and len(answer) <= 3 and int(answer) > MAX_INFANT_WEEKS:
        raise Reprompt("err_child_too_old")
    return number(answer, low=0, high=MAX_INFANT_WEEKS, reason="err_child_weeks")


def child_months(_ctx: Ctx, answer: str) -> int:
    if digits(answer) and len(answer) <= 3 and int(answer) > registry_service.MAX_INFANT_MONTHS:
        raise Reprompt("err_child_too_old")
    return number(answer, low=0, high=registry_service.MAX_INFANT_MONTHS, reason="err_child_months")


def a_date(answer: str) -> date:
    """A day typed on a keypad: JJMMAAAA, JJMMAA, or with / . - or spaces."""
    text = answer.strip()
    if digits(text) and len(text) in (6, 8):
        day, month, year = int(text[:2]), int(text[2:4]), int(text[4:])
    else:
        match = _DATE_RE.match(text)
        if match is None:
            raise Reprompt("err_date_format")
        day, month, year = (int(g) for g in match.groups())
    if year < 100:
        year += 2000
    try:
        return date(year, month, day)
    except ValueError:
        raise Reprompt("err_date_format") from None


def edd(_ctx: Ctx, answer: str) -> str:
    """An expected delivery date, kept as ISO text in the session."""
    value = a_date(answer)
    today = local_today()
    if value < today - EDD_OVERDUE:
        raise Reprompt("err_edd_past")
    if (
        registry_service.weeks_from_edd(edd=value, today=today)
        < registry_service.MIN_PREGNANCY_WEEKS
    ):
        raise Reprompt("err_edd_far")
    return value.isoformat()


def child_birth_date(_ctx: Ctx, answer: str) -> str:
    """An infant's date of birth: not in the future, not over 24 months ago."""
    value = a_date(answer)
    today = local_today()
    if value > today:
        raise Reprompt("err_date_future")
    if value < today - timedelta(days=round(registry_service.MAX_INFANT_MONTHS * 30.4375)):
        raise Reprompt("err_child_too_old")
    return value.isoformat()


def birth_day(_ctx: Ctx, answer: str) -> str:
    """The day a birth happened: 1 today, 2 yesterday, or a date, recent and not future."""
    today = local_today()
    if answer == "1":
        return today.isoformat()
    if answer == "2":
        return (today - timedelta(days=1)).isoformat()
    value = a_date(answer)
    if value > today:
        raise Reprompt("err_date_future")
    if value < today - BIRTH_RECORD_MAX_AGE:
        raise Reprompt("err_date_old")
    return value.isoformat()


def code(_ctx: Ctx, answer: str) -> str:
    """A registration code: digits only."""
    clean = answer.replace(" ", "")
    if not digits(clean) or len(clean) != registry_service.CODE_DIGITS:
        raise Reprompt("err_code")
    return clean
