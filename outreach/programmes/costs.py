"""What a send would cost: recipients, segments and XOF per language, before anything is queued.

Prices are per SMS segment, by country and network (`OUTREACH_SMS_PRICES_XOF`). The
network of a number is read from its prefix (phonenumbers' carrier data), so the
audience is counted in SQL grouped by prefix, never loaded row by row.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import phonenumbers
from phonenumbers import carrier
from sqlalchemy import Date, bindparam, text
from sqlmodel import Session, select

from messages import texts as content_texts
from messages.encoding import gsm_safe as to_gsm_safe
from messages.encoding import segment_info
from messages.schedule import anchor_for_week
from messages.texts import NAME_BUDGET
from outreach.config import get_settings
from outreach.programmes.fanout import (
    LANGUAGE,
    OWN,
    RECIPIENT_JOINS,
    recipient_params,
)
from outreach.programmes.models import EnrollmentStatus
from outreach.registry.models import NETWORK_PREFIX_LENGTH, BeneficiaryStatus
from outreach.sites.models import Site
from outreach.timeutil import local_today

# "+223" and the two digits that tell Malian networks apart (`phone.prefix`).
PREFIX_LENGTH = NETWORK_PREFIX_LENGTH


def price_per_segment(e164_prefix: str, prices: Mapping[str, float] | None = None) -> Decimal:
    """XOF for one segment to a number starting with `e164_prefix` ("+22370")."""
    prices = prices if prices is not None else get_settings().sms_prices_xof
    try:
        number = phonenumbers.parse(e164_prefix.ljust(12, "0"))
        country = phonenumbers.region_code_for_number(number) or ""
        network = carrier.name_for_number(number, "en") or ""
    except phonenumbers.NumberParseException:
        country, network = "", ""
    for key in (f"{country}/{network}", country, "*"):
        if key in prices:
            return Decimal(str(prices[key]))
    raise KeyError(f"no SMS price for {country or e164_prefix} in OUTREACH_SMS_PRICES_XOF")


@dataclass(frozen=True, slots=True)
class Audience:
    """Who a send reaches. Empty fields do not filter."""

    # Sites at any level (region, district, health area or village).
    site_ids: tuple[int, ...] = ()
    programme: str | None = None
    # Pregnancy week, or the infant's age in weeks, inclusive; needs `programme`.
    stage_from: int | None = None
    stage_to: int | None = None
    # "months": the infant's age in completed months (campaigns: "infants 6-12 months").
    stage_unit: str = "weeks"
    languages: tuple[str, ...] = ()
    displaced: bool | None = None
    # Only women with an appointment of this kind still to come (e.g. "vaccination"),
    # within `appointment_within_days` of the send day when that is set.
    appointment_kind: str | None = None
    appointment_within_days: int | None = None


@dataclass(frozen=True, slots=True)
class LanguageCost:
    language: str
    recipients: int
    # Parts of one message in its costliest sent form for these recipients.
    segments_per_message: int
    segments: int
    cost_xof: Decimal
    encoding: str


@dataclass(frozen=True, slots=True)
class Preflight:
    by_language: dict[str, LanguageCost] = field(default_factory=dict)

    @property
    def recipients(self) -> int:
        return sum(c.recipients for c in self.by_language.values())

    @property
    def segments(self) -> int:
        return sum(c.segments for c in self.by_language.values())

    @property
    def cost_xof(self) -> Decimal:
        return sum((c.cost_xof for c in self.by_language.values()), Decimal(0))


def _villages_under(session: Session, site_ids: tuple[int, ...]) -> list[int]:
    children: dict[int | None, list[int]] = defaultdict(list)
    for site_id, parent_id in session.exec(select(Site.id, Site.parent_id)):
        if site_id is not None:
            children[parent_id].append(site_id)
    found: set[int] = set()
    stack = list(site_ids)
    while stack:
        site_id = stack.pop()
        if site_id in found:
            continue
        found.add(site_id)
        stack.extend(children.get(site_id, []))
    return sorted(found)


# Bound as dates: SQLite compares them as text, PostgreSQL needs the type.
DATE_PARAMS = ("anchor_lo", "anchor_hi", "appointment_from", "appointment_to")


def _audience_sql(
    session: Session, audience: Audience, day: date
) -> tuple[list[str], dict[str, Any]]:
    where = [
        "b.status = :beneficiary_active",
        "EXISTS (SELECT 1 FROM enrollment e WHERE e.beneficiary_id = b.id"
        " AND e.status = :enrollment_active{enrollment})",
    ]
    params: dict[str, Any] = {
        "beneficiary_active": BeneficiaryStatus.ACTIVE.value,
        "enrollment_active": EnrollmentStatus.ACTIVE.value,
        **recipient_params(),
    }
    enrollment = ""
    if audience.programme:
        enrollment += " AND e.programme = :programme"
        params["programme"] = audience.programme
        # Anchors fall as the stage rises (both for weeks of pregnancy and of age):
        # week W on `day` is anchored from anchor_for_week(W) - 6 to anchor_for_week(W).
        if audience.stage_unit == "months":
            if audience.programme != "infant":
                raise ValueError("only an infant's age is counted in months")
            # Completed months M on `day`: born from (day - M-1 months) + 1 day to day - M months.
            if audience.stage_from is not None:
                params["anchor_hi"] = months_before(day, audience.stage_from)
                enrollment += " AND e.anchor_date <= :anchor_hi"
            if audience.stage_to is not None:
                params["anchor_lo"] = months_before(day, audience.stage_to + 1) + timedelta(days=1)
                enrollment += " AND e.anchor_date >= :anchor_lo"
        else:
            if audience.stage_from is not None:
                params["anchor_hi"] = anchor_for_week(
                    audience.programme, week=audience.stage_from, day=day
                )
                enrollment += " AND e.anchor_date <= :anchor_hi"
            if audience.stage_to is not None:
                last = anchor_for_week(audience.programme, week=audience.stage_to, day=day)
                params["anchor_lo"] = last - timedelta(days=6)
                enrollment += " AND e.anchor_date >= :anchor_lo"
    elif audience.stage_from is not None or audience.stage_to is not None:
        raise ValueError("a stage range needs a programme")
    where[1] = where[1].format(enrollment=enrollment)
    if audience.site_ids:
        villages = _villages_under(session, audience.site_ids)
        names = [f":site{i}" for i in range(len(villages))] or ["NULL"]
        where.append(f"b.village_id IN ({', '.join(names)})")
        params.update({f"site{i}": v for i, v in enumerate(villages)})
    if audience.languages:
        names = [f":lang{i}" for i in range(len(audience.languages))]
        where.append(f"({LANGUAGE}) IN ({', '.join(names)})")
        params.update({f"lang{i}": v for i, v in enumerate(audience.languages)})
    if audience.displaced is not None:
        where.append("b.displaced = :displaced")
        params["displaced"] = audience.displaced
    if audience.appointment_kind:
        upcoming = (
            "EXISTS (SELECT 1 FROM appointment a WHERE a.beneficiary_id = b.id"
            " AND a.kind = :appointment_kind AND a.status = :appointment_scheduled"
            " AND a.due_on >= :appointment_from"
        )
        params.update(
            appointment_kind=audience.appointment_kind,
            appointment_scheduled="scheduled",
            appointment_from=day,
        )
        if audience.appointment_within_days is not None:
            upcoming += " AND a.due_on <= :appointment_to"
            params["appointment_to"] = day + timedelta(days=audience.appointment_within_days)
        where.append(upcoming + ")")
    return where, params


def audience_conditions(
    session: Session, audience: Audience, day: date
) -> tuple[list[str], dict[str, Any]]:
    """SQL conditions on `beneficiary b` (with RECIPIENT_JOINS) selecting `audience`, and values."""
    return _audience_sql(session, audience, day)


def months_before(day: date, months: int) -> date:
    """The same day of the month `months` earlier (the month's last day when it is shorter)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


# One row per way a message travels: (language, "own"/"shared"/"chw", number prefix, count).
AudienceGroups = list[tuple[str, str, str, int]]


def audience_groups(session: Session, *, audience: Audience, day: date) -> AudienceGroups:
    """How many recipients `audience` has per language, addressing and network prefix."""
    where, params = _audience_sql(session, audience, day)
    # Two branches rather than one row-by-row CASE: each groups on plain columns, so the
    # planner sees the handful of groups and the CHW joins drop out of the own-phone one;
    # women reached through a CHW are counted per CHW before her phone is looked up.
    audience_where = " AND ".join(where)
    sql = f"""SELECT b.language,
            CASE WHEN b.phone_kind = :kind_shared THEN 'shared' ELSE 'own' END,
            p.prefix, COUNT(*)
        FROM beneficiary b
        {RECIPIENT_JOINS}
        WHERE {audience_where} AND {OWN} AND p.status = :phone_active
        GROUP BY 1, 2, 3
    UNION ALL
        SELECT c.language, 'chw', cp.prefix, SUM(r.n)
        FROM (
            SELECT b.chw_id, COUNT(*) AS n
            FROM beneficiary b
            {RECIPIENT_JOINS}
            WHERE {audience_where} AND {OWN} IS NOT TRUE
            GROUP BY b.chw_id
        ) r
        JOIN chw c ON c.id = r.chw_id AND c.active
        JOIN phone cp ON cp.id = c.phone_id AND cp.status = :phone_active
        GROUP BY 1, 3"""  # noqa: S608 - our own fragments, values bound
    statement = text(sql).bindparams(
        *(bindparam(name, type_=Date) for name in DATE_PARAMS if name in params)
    )
    if session.get_bind().dialect.name == "postgresql":
        # A prepared statement's generic plan cannot see which values are bound and
        # guesses thousands of groups; planning this query afresh costs a few ms.
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    return [
        (language, addressing, prefix, int(count))
        for language, addressing, prefix, count in session.execute(statement, params)
    ]


def preflight(
    session: Session,
    *,
    audience: Audience,
    texts: Mapping[str, str] | None = None,
    key: str | None = None,
    day: date | None = None,
    prices: Mapping[str, float] | None = None,
    as_written: bool = False,
    groups: AudienceGroups | None = None,
) -> Preflight:
    """Recipients, segments and XOF per language for one message to `audience`.

    The message is a content key, or a text per language (in its original spelling:
    the per-language GSM-safe setting is applied as the send would). Only consenting
    beneficiaries (status active) with an active enrollment and a phone that has not
    opted out are counted; those without a phone count through their CHW. With
    `as_written`, texts are priced as given (campaigns send what staff approved).
    `groups` are the audience's `audience_groups`, when the caller already has them.
    """
    if (texts is None) == (key is None):
        raise ValueError("give either texts or a content key")
    day = day or local_today()
    settings = get_settings()
    if groups is None:
        groups = audience_groups(session, audience=audience, day=day)
    recipients: dict[str, int] = defaultdict(int)
    segments: dict[str, int] = defaultdict(int)
    worst: dict[str, int] = defaultdict(int)
    cost: dict[str, Decimal] = defaultdict(Decimal)
    encodings: dict[str, set[str]] = defaultdict(set)
    for language, addressing, prefix, count in groups:
        gsm_safe = settings.content_gsm_safe.get(language, True)
        body = _text(
            language, texts=texts, key=key, gsm_safe=gsm_safe and not (as_written and key is None)
        )
        if addressing != "own":
            before, after = content_texts.address_parts(
                language, relay=addressing == "chw", gsm_safe=gsm_safe
            )
            # Counted with the longest name the prefix allows: an upper bound.
            body = before + "W" * NAME_BUDGET + after + body
        info = segment_info(body)
        recipients[language] += count
        segments[language] += count * info.segments
        worst[language] = max(worst[language], info.segments)
        cost[language] += count * info.segments * price_per_segment(prefix, prices)
        encodings[language].add(info.encoding)
    return Preflight(
        {
            language: LanguageCost(
                language=language,
                recipients=recipients[language],
                segments_per_message=worst[language],
                segments=segments[language],
                cost_xof=cost[language],
                encoding="/".join(sorted(encodings[language])),
            )
            for language in sorted(recipients)
        }
    )


def _text(
    language: str, *, texts: Mapping[str, str] | None, key: str | None, gsm_safe: bool
) -> str:
    if key is not None:
        return content_texts.get(key).text(language, gsm_safe=gsm_safe)
    assert texts is not None
    raw = texts.get(language) or texts["fr"]
    return to_gsm_safe(raw, language) if gsm_safe else raw
