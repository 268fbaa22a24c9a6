"""Dashboard figures: each one is a single aggregate query over indexed columns."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from redis.exceptions import RedisError
from sqlalchemy import case, func, true
from sqlmodel import Session, SQLModel, col, select

from outreach.accounts import scopes
from outreach.config import get_settings
from outreach.outbox.models import DeliveryReport, MessageStatus, OutboundMessage
from outreach.programmes.models import Enrollment, EnrollmentStatus, Programme
from outreach.redis import get_redis
from outreach.registry.models import Beneficiary
from outreach.sites.models import Site, SiteLevel
from outreach.timeutil import local_today, utcnow
from outreach.ussd import service as ussd_service

log = logging.getLogger(__name__)

# Stages as (key, programme, lowest week, highest week); weeks of pregnancy, or the
# infant's age in weeks. The keys are console text keys.
STAGES: tuple[tuple[str, str, int, int], ...] = (
    ("stage.pregnancy_t1", Programme.PREGNANCY, 0, 13),
    ("stage.pregnancy_t2", Programme.PREGNANCY, 14, 27),
    ("stage.pregnancy_t3", Programme.PREGNANCY, 28, 45),
    ("stage.infant_0_6", Programme.INFANT, 0, 25),
    ("stage.infant_6_12", Programme.INFANT, 26, 51),
    ("stage.infant_12_24", Programme.INFANT, 52, 110),
)
STAGE_KEYS = tuple(key for key, *_ in STAGES)

# Mobile network codes as Africa's Talking reports them in Mali (MCC 610).
NETWORK_NAMES = {"61001": "Malitel (Moov)", "61002": "Orange Mali", "61003": "Telecel"}

# Reports that end a message's life at the gateway; "Success" is a delivery.
_FINAL_REPORTS = ("Success", "Failed", "Rejected", "Expired")


def anchor_range(stage: str, *, today: date) -> tuple[str, date, date]:
    """The programme and the anchor dates (EDD or birth) of one stage, inclusive."""
    for key, programme, low, high in STAGES:
        if key == stage:
            if programme == Programme.PREGNANCY:
                # weeks = 40 - (edd - today) / 7
                return (
                    programme,
                    today + timedelta(weeks=40 - high),
                    today + timedelta(weeks=40 - low, days=6),
                )
            return programme, today - timedelta(weeks=high, days=6), today - timedelta(weeks=low)
    raise ValueError(f"unknown stage {stage!r}")


def _stage_case(today: date) -> Any:
    whens = []
    for key in STAGE_KEYS:
        programme, first, last = anchor_range(key, today=today)
        whens.append(
            (
                (col(Enrollment.programme) == programme)
                & (col(Enrollment.anchor_date) >= first)
                & (col(Enrollment.anchor_date) <= last),
                key,
            )
        )
    return case(*whens, else_="stage.other")


@dataclass(frozen=True, slots=True)
class EnrollmentCounts:
    """Active enrollments per stage, per district (the district of her village)."""

    stages: tuple[str, ...]
    # district name -> stage key -> count
    by_site: dict[str, dict[str, int]]

    @property
    def total(self) -> int:
        return sum(sum(row.values()) for row in self.by_site.values())

    def stage_total(self, stage: str) -> int:
        return sum(row.get(stage, 0) for row in self.by_site.values())


def _district_of_village(session: Session) -> dict[int | None, str]:
    """Village id -> district name; the site tree is small, so it is read whole."""
    sites = {s.id: s for s in session.exec(select(Site))}
    result: dict[int | None, str] = {}
    for site in sites.values():
        if site.level != SiteLevel.VILLAGE:
            continue
        node: Site | None = site
        while node is not None and node.level not in (SiteLevel.DISTRICT, SiteLevel.REGION):
            node = sites.get(node.parent_id)
        result[site.id] = node.name if node else site.name
    return result


# Enrollment counts change slowly; a few minutes' delay spares a join of every woman.
ENROLLMENT_CACHE_SECONDS = 300


def enrollments_by_stage_and_site(
    session: Session, *, today: date | None = None, scope: Scope = None
) -> EnrollmentCounts:
    """Active enrollments grouped by stage and by district (cached a few minutes)."""
    today = today or local_today()
    key = f"{_CACHE_PREFIX}{_scoped('enrollments', scope)}:{today.isoformat()}"
    try:
        cached = get_redis().get(key)
    except RedisError:
        cached = None
    if cached is not None:
        raw = json.loads(cached)
        return EnrollmentCounts(stages=tuple(raw["stages"]), by_site=raw["by_site"])
    counts = _count_enrollments(session, today, scope)
    try:
        get_redis().set(
            key,
            json.dumps({"stages": counts.stages, "by_site": counts.by_site}),
            ex=ENROLLMENT_CACHE_SECONDS,
        )
    except RedisError:
        log.warning("report cache unavailable: enrollment counts not stored")
    return counts


def _count_enrollments(session: Session, today: date, scope: Scope = None) -> EnrollmentCounts:
    stage = _stage_case(today).label("stage")
    stmt = (
        select(col(Beneficiary.village_id), stage, func.count())
        .select_from(Enrollment)
        .join(Beneficiary, col(Beneficiary.id) == col(Enrollment.beneficiary_id))
        .where(Enrollment.status == EnrollmentStatus.ACTIVE)
    )
    in_scope = scopes.village_condition(Beneficiary.village_id, scope)
    if in_scope is not None:
        stmt = stmt.where(in_scope)
    rows = session.exec(stmt.group_by(col(Beneficiary.village_id), stage)).all()
    district = _district_of_village(session)
    by_site: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    seen: list[str] = []
    for village_id, stage_key, count in rows:
        name = district.get(village_id, "—")
        by_site[name][str(stage_key)] += int(count)
        if stage_key not in seen:
            seen.append(str(stage_key))
    stages = tuple(k for k in (*STAGE_KEYS, "stage.other") if k in seen)
    return EnrollmentCounts(
        stages=stages,
        by_site={k: dict(v) for k, v in sorted(by_site.items())},
    )


@dataclass(frozen=True, slots=True)
class DailyStatus:
    """Messages created each day, by their current status."""

    days: tuple[date, ...]
    statuses: tuple[str, ...]
    # (day, status) -> count
    counts: dict[tuple[date, str], int] = field(default_factory=dict)

    def day_total(self, day: date) -> int:
        return sum(n for (d, _), n in self.counts.items() if d == day)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def status_total(self, status: str) -> int:
        return sum(n for (_, s), n in self.counts.items() if s == status)


def _local_midnight_utc(day: date) -> datetime:
    tz = ZoneInfo(get_settings().timezone)
    return datetime.combine(day, time(), tzinfo=tz)


def _as_date(raw: object) -> date:
    return raw if isinstance(raw, date) else date.fromisoformat(str(raw))


# Past days' figures are kept in Redis this long: a page then reads only today's rows
# live. A delivery report arriving late for an earlier day shows within this delay.
CACHE_SECONDS = 3600
_CACHE_PREFIX = "outreach:reports:v1:"

DayFigures = dict[str, Any]
# The villages of a user limited to some sites (None: the whole programme).
Scope = frozenset[int] | None


def _scoped(metric: str, scope: Scope) -> str:
    """The cache name of a metric: one per scope, so limited users share theirs."""
    if scope is None:
        return metric
    digest = hashlib.sha256(",".join(map(str, sorted(scope))).encode()).hexdigest()[:16]
    return f"{metric}@{digest}"


def _women(column: Any, scope: Scope) -> Any:
    """SQL: the row belongs to a woman in scope; always true without a scope."""
    condition = scopes.beneficiary_ids_condition(column, scope)
    return true() if condition is None else condition


Compute = Callable[[datetime, datetime | None], dict[date, DayFigures]]


def _per_day(metric: str, *, first: date, today: date, compute: Compute) -> dict[date, DayFigures]:
    """Figures per day from `first` to today: past days from the cache, today live."""
    past = [first + timedelta(days=i) for i in range((today - first).days)]
    keys = [f"{_CACHE_PREFIX}{metric}:{d.isoformat()}" for d in past]
    result: dict[date, DayFigures] = {}
    try:
        redis = get_redis()
        cached = redis.mget(keys) if keys else []
    except RedisError:
        log.warning("report cache unavailable: %s computed from the database", metric)
        redis, cached = None, [None] * len(keys)
    missing = [d for d, raw in zip(past, cached, strict=True) if raw is None]
    for d, raw in zip(past, cached, strict=True):
        if raw is not None:
            result[d] = json.loads(raw)
    if missing:
        # One grouped query from the first missing day to the end of yesterday.
        fresh = compute(_local_midnight_utc(missing[0]), _local_midnight_utc(today))
        entries = {}
        for d in past:
            if d >= missing[0]:
                result[d] = fresh.get(d, {})
                entries[f"{_CACHE_PREFIX}{metric}:{d.isoformat()}"] = json.dumps(result[d])
        if redis is not None:
            try:
                pipe = redis.pipeline()
                for key, value in entries.items():
                    pipe.set(key, value, ex=CACHE_SECONDS)
                pipe.execute()
            except RedisError:
                log.warning("report cache unavailable: %s not stored", metric)
    result.update(compute(_local_midnight_utc(today), None))
    return result


def _between(column: Any, start: datetime, end: datetime | None) -> Any:
    condition = col(column) >= start
    return condition if end is None else condition & (col(column) < end)


def messages_by_status(
    session: Session, *, days: int = 30, today: date | None = None, scope: Scope = None
) -> DailyStatus:
    """Outbox rows created over the last `days` days, per day and status."""
    today = today or local_today()
    first = today - timedelta(days=days - 1)
    # Mali is on UTC all year, so the UTC date is the local date there; elsewhere the
    # day boundaries shift by the offset, which a 30-day overview can bear.
    day = func.date(OutboundMessage.created_at)

    def compute(start: datetime, end: datetime | None) -> dict[date, DayFigures]:
        found: dict[date, DayFigures] = defaultdict(dict)
        for raw_day, status, count in session.exec(
            select(day, OutboundMessage.status, func.count())
            .where(
                _between(OutboundMessage.created_at, start, end),
                _women(OutboundMessage.beneficiary_id, scope),
            )
            .group_by(day, OutboundMessage.status)
        ):
            found[_as_date(raw_day)][str(status)] = int(count)
        return found

    counts: dict[tuple[date, str], int] = {}
    per_day = _per_day(_scoped("status", scope), first=first, today=today, compute=compute)
    for d, by_status in per_day.items():
        for status, count in by_status.items():
            counts[(d, status)] = count
    order = [s.value for s in MessageStatus]
    statuses = tuple(s for s in order if any(k[1] == s for k in counts))
    return DailyStatus(
        days=tuple(first + timedelta(days=i) for i in range(days)),
        statuses=statuses,
        counts=counts,
    )


@dataclass(frozen=True, slots=True)
class NetworkRate:
    network: str
    reports: int
    delivered: int

    @property
    def rate(self) -> float:
        return self.delivered / self.reports if self.reports else 0.0


def delivery_rate_by_network(
    session: Session, *, days: int = 30, today: date | None = None, scope: Scope = None
) -> list[NetworkRate]:
    """Final delivery reports of the last `days` days per network, and the share delivered."""
    today = today or local_today()
    first = today - timedelta(days=days - 1)
    day = func.date(DeliveryReport.received_at)
    network = func.coalesce(DeliveryReport.network_code, "?")
    delivered = func.sum(case((col(DeliveryReport.status) == "Success", 1), else_=0))

    def compute(start: datetime, end: datetime | None) -> dict[date, DayFigures]:
        found: dict[date, DayFigures] = defaultdict(dict)
        for raw_day, net, count, ok in session.exec(
            select(day, network, func.count(), delivered)
            .where(
                _between(DeliveryReport.received_at, start, end),
                col(DeliveryReport.status).in_(_FINAL_REPORTS),
                *(
                    ()
                    if scope is None
                    else (
                        col(DeliveryReport.message_id).in_(
                            select(OutboundMessage.id).where(
                                _women(OutboundMessage.beneficiary_id, scope)
                            )
                        ),
                    )
                ),
            )
            .group_by(day, network)
        ):
            found[_as_date(raw_day)][str(net)] = [int(count), int(ok or 0)]
        return found

    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    per_day = _per_day(_scoped("network", scope), first=first, today=today, compute=compute)
    for by_network in per_day.values():
        for net, (count, ok) in by_network.items():
            totals[net][0] += count
            totals[net][1] += ok
    result = [NetworkRate(network=n, reports=c, delivered=d) for n, (c, d) in totals.items()]
    return sorted(result, key=lambda r: -r.reports)


@dataclass(frozen=True, slots=True)
class MonthCost:
    month_start: date
    cost: Decimal
    messages: int


def cost_this_month(
    session: Session, *, today: date | None = None, scope: Scope = None
) -> MonthCost:
    """What the gateway charged for messages sent since the first of this month."""
    today = today or local_today()
    first = today.replace(day=1)
    day = func.date(OutboundMessage.sent_at)

    def compute(start: datetime, end: datetime | None) -> dict[date, DayFigures]:
        found: dict[date, DayFigures] = {}
        for raw_day, total, count in session.exec(
            select(
                day,
                func.coalesce(func.sum(OutboundMessage.cost), 0),
                func.count(col(OutboundMessage.cost)),
            )
            .where(
                _between(OutboundMessage.sent_at, start, end),
                _women(OutboundMessage.beneficiary_id, scope),
            )
            .group_by(day)
        ):
            found[_as_date(raw_day)] = {"cost": str(total or 0), "messages": int(count or 0)}
        return found

    per_day = _per_day(_scoped("cost", scope), first=first, today=today, compute=compute)
    return MonthCost(
        month_start=first,
        cost=sum((Decimal(v.get("cost", "0")) for v in per_day.values()), Decimal(0)),
        messages=sum(int(v.get("messages", 0)) for v in per_day.values()),
    )


def ussd_drop_off(
    session: Session, *, days: int = 30, limit: int = 8
) -> list[ussd_service.DropOff]:
    """The screens where most USSD sessions were dropped lately."""
    rows = ussd_service.drop_off_by_screen(session, since=utcnow() - timedelta(days=days))
    return [r for r in rows if r.dropped][:limit]


@dataclass(frozen=True, slots=True)
class Appointments:
    upcoming: int
    confirmed: int
    next_days: int

    @property
    def rate(self) -> float:
        return self.confirmed / self.upcoming if self.upcoming else 0.0


def appointments_available() -> bool:
    """Whether appointments exist in this build (the table is registered)."""
    return "appointment" in SQLModel.metadata.tables


def upcoming_appointments(
    session: Session, *, days: int = 14, today: date | None = None, scope: Scope = None
) -> Appointments | None:
    """Scheduled appointments due in the next `days` days and how many the women confirmed.

    None when this build has no appointments (the table is read from the metadata, so
    the console does not depend on the appointments package being present).
    """
    table = SQLModel.metadata.tables.get("appointment")
    if table is None or not {"due_on", "status", "confirmed_at"} <= set(table.c.keys()):
        return None
    today = today or local_today()
    confirmed = func.coalesce(func.sum(case((table.c.confirmed_at.isnot(None), 1), else_=0)), 0)
    upcoming, confirmed_count = session.execute(
        select(func.count(), confirmed)
        .select_from(table)
        .where(
            table.c.status == "scheduled",
            table.c.due_on >= today,
            table.c.due_on < today + timedelta(days=days),
            _women(table.c.beneficiary_id, scope),
        )
    ).one()
    return Appointments(upcoming=int(upcoming), confirmed=int(confirmed_count), next_days=days)


@dataclass(frozen=True, slots=True)
class Dashboard:
    enrollments: EnrollmentCounts
    messages: DailyStatus
    networks: list[NetworkRate]
    cost: MonthCost
    drop_off: list[ussd_service.DropOff]
    appointments: Appointments | None


def dashboard(session: Session, *, scope: Scope = None) -> Dashboard:
    """Every dashboard figure, one query each; with a scope, only the women of those sites."""
    return Dashboard(
        enrollments=enrollments_by_stage_and_site(session, scope=scope),
        messages=messages_by_status(session, scope=scope),
        networks=delivery_rate_by_network(session, scope=scope),
        cost=cost_this_month(session, scope=scope),
        # USSD sessions are not tied to a place: a limited user does not see them.
        drop_off=ussd_drop_off(session) if scope is None else [],
        appointments=upcoming_appointments(session, scope=scope),
    )
