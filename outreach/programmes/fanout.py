"""The daily fan-out: every programme message due today, inserted into the outbox in SQL.

The schedule is small (one row per programme message), the enrollments are many. For
a day D, each message is due to the enrollments whose anchor date is D - offset, so
the schedule becomes a VALUES list of plain dates and the database joins it with the
enrollments: no date arithmetic on columns (the same SQL runs on SQLite and
PostgreSQL), no Python loop per enrollment, no task per beneficiary.

Enrollments are taken in id ranges, one transaction each. Every row's dedupe key is
`prog:<enrollment id>:<message key>` under the outbox's unique index, and the insert
is `ON CONFLICT DO NOTHING`: a re-run, a catch-up day or a run that died halfway
inserts exactly the rows still missing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import BindParameter, Date, bindparam, func, text, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from sqlmodel.sql.sqltypes import UTCDateTime

from messages import schedule as content_schedule
from messages import texts
from messages.texts import Message
from messages.validate import validate
from outreach.config import get_settings
from outreach.content import service as content_service
from outreach.db import unit_of_work
from outreach.outbox import bodies
from outreach.outbox.models import MessageKind, MessageStatus, Priority
from outreach.programmes.models import Enrollment, EnrollmentStatus, Programme
from outreach.registry.models import BeneficiaryStatus, PhoneKind, PhoneStatus
from outreach.timeutil import local_today, utcnow

log = logging.getLogger(__name__)

# Days after the anchor when an enrollment has nothing left to receive: the infant at
# 105 weeks; a pregnancy 6 weeks after the EDD (no birth recorded by then).
COMPLETE_AFTER_DAYS: dict[str, int] = {Programme.PREGNANCY: 6 * 7, Programme.INFANT: 105 * 7}


@dataclass(frozen=True, slots=True)
class DueRow:
    """One programme message and the anchor dates for which it goes out on a given day."""

    key: str
    programme: str
    # Anchor whose message falls due that very day.
    anchor: date
    # Anchors whose message fell due in the days just before a start on that day.
    late_from: date
    late_to: date
    text_fr: str
    text_bm: str


def sendable(
    messages: Mapping[str, Message], *, include_drafts: bool, gsm_safe: Mapping[str, bool]
) -> list[Message]:
    """Programme messages that may go out: approved (or drafts if allowed) and valid."""
    broken = {
        p.key
        for p in validate(messages, gsm_safe=gsm_safe, send_drafts=include_drafts)
        if p.severity == "error" and p.key
    }
    for key in sorted(broken):
        if messages[key].offset_days is not None:
            log.error("programme message %s fails the content check: not sent", key)
    return [
        m
        for m in messages.values()
        if m.offset_days is not None and (m.approved or include_drafts) and m.key not in broken
    ]


def due_rows(
    day: date, messages: Iterable[Message], *, gsm_safe: Mapping[str, bool]
) -> list[DueRow]:
    """The schedule for `day`, as plain anchor dates (see `messages.schedule.send_day`)."""
    rows = []
    late = content_schedule.LATE_WINDOW_DAYS
    for message in messages:
        assert message.offset_days is not None
        offset = timedelta(days=message.offset_days)
        rows.append(
            DueRow(
                key=message.key,
                programme=message.programme,
                anchor=day - offset,
                late_from=day - timedelta(days=late) - offset,
                late_to=day - timedelta(days=1) - offset,
                text_fr=message.text("fr", gsm_safe=gsm_safe.get("fr", True)),
                text_bm=message.text("bm", gsm_safe=gsm_safe.get("bm", True)),
            )
        )
    return rows


# Who gets the message: her own or shared phone when she has one (never rerouted when
# it opted out), else her CHW's. Written once, used by the fan-out and the preflight.
OWN = "(b.phone_id IS NOT NULL AND b.phone_kind <> :kind_none)"
# The number is copied as stored: ciphertext under the same keys, with its blind index.
TO_NUMBER = f"""CASE WHEN {OWN} THEN (CASE WHEN p.status = :phone_active THEN p.e164 END)
         WHEN c.active AND cp.status = :phone_active THEN cp.e164 END"""
TO_INDEX = f"""CASE WHEN {OWN} THEN (CASE WHEN p.status = :phone_active THEN p.e164_index END)
         WHEN c.active AND cp.status = :phone_active THEN cp.e164_index END"""
LANGUAGE = f"CASE WHEN {OWN} THEN b.language ELSE c.language END"
ADDRESSING = f"CASE WHEN {OWN} THEN (CASE WHEN b.phone_kind = :kind_shared THEN 'shared' ELSE 'own' END) ELSE 'chw' END"  # noqa: E501
RECIPIENT_JOINS = """LEFT JOIN phone p ON p.id = b.phone_id
    LEFT JOIN chw c ON c.id = b.chw_id
    LEFT JOIN phone cp ON cp.id = c.phone_id"""


def _by_language(expr_bm: str, expr_fr: str, language: str) -> str:
    return f"(CASE WHEN {language} = 'bm' THEN {expr_bm} ELSE {expr_fr} END)"


# A name never enters a body: the marker holds its place and the row's `addressee` gets
# the enrollment's ciphertext, only where the body has that place (outreach.outbox.bodies).
NAME_MARK = "CAST(:mark_name AS TEXT)"


def addressee_sql(expr: str) -> str:
    """The addressee copied to an outbox row: none for a woman's own phone."""
    return f"CASE WHEN {OWN} AND b.phone_kind <> :kind_shared THEN NULL ELSE {expr} END"


def _body_sql() -> str:
    own_text = _by_language("s.t_bm", "s.t_fr", "b.language")
    relay_text = _by_language("s.t_bm", "s.t_fr", "c.language")
    name = NAME_MARK
    shared = (
        f"{_by_language(':sh_bm_1', ':sh_fr_1', 'b.language')} || {name} || "
        f"{_by_language(':sh_bm_2', ':sh_fr_2', 'b.language')} || {own_text}"
    )
    relay = (
        f"{_by_language(':chw_bm_1', ':chw_fr_1', 'c.language')} || {name} || "
        f"{_by_language(':chw_bm_2', ':chw_fr_2', 'c.language')} || {relay_text}"
    )
    return f"""CASE WHEN {OWN} AND b.phone_kind = :kind_shared THEN {shared}
         WHEN {OWN} THEN {own_text}
         ELSE {relay} END"""


_BRANCHES = {
    # Due today, for an enrollment that had already started.
    "on_time": "e.anchor_date = s.anchor AND e.start_date <= :day",
    # Started today: what fell due in the days just before (her current stage).
    "late_start": "e.start_date = :day AND e.anchor_date BETWEEN s.late_from AND s.late_to",
}


def _insert_sql(rows: int, branch: str) -> str:
    values = ",\n    ".join(
        f"(:k{i}, :p{i}, :a{i}, :lf{i}, :lt{i}, :tf{i}, :tb{i})" for i in range(rows)
    )
    # The WHERE before ON CONFLICT is required: without it SQLite would read ON as a
    # join constraint of the SELECT.
    # The statement starts with INSERT (the WITH belongs to its SELECT) so that drivers
    # report the inserted row count.
    return f"""INSERT INTO outbound_message (
    dedupe_key, kind, priority, to_number, to_index, body, addressee, sender_id, language,
    beneficiary_id, status, due_at, created_at, updated_at, attempt_count
)
WITH s(k, programme, anchor, late_from, late_to, t_fr, t_bm) AS (
    VALUES {values}
)
SELECT x.dedupe_key, :kind, :priority, x.to_number, x.to_index, x.body, x.addressee,
       :sender_id, x.language, x.beneficiary_id, :queued, :now, :now, :now, 0
FROM (
    SELECT 'prog:' || CAST(e.id AS VARCHAR(20)) || ':' || s.k AS dedupe_key,
           b.id AS beneficiary_id,
           {TO_NUMBER} AS to_number,
           {TO_INDEX} AS to_index,
           {LANGUAGE} AS language,
           {_body_sql()} AS body,
           {addressee_sql("e.addressee")} AS addressee
    FROM s
    JOIN enrollment e ON e.programme = s.programme AND {_BRANCHES[branch]}
    JOIN beneficiary b ON b.id = e.beneficiary_id
    {RECIPIENT_JOINS}
    WHERE e.status = :enrollment_active AND b.status = :beneficiary_active
      AND e.id >= :id_from AND e.id < :id_to
) x
WHERE x.to_number IS NOT NULL
ON CONFLICT (dedupe_key) DO NOTHING"""  # noqa: S608 - our own fragments, values bound


def recipient_params() -> dict[str, Any]:
    """The constants of the recipient expressions (TO_NUMBER, LANGUAGE, ADDRESSING)."""
    return {
        "kind_none": PhoneKind.NONE.value,
        "kind_shared": PhoneKind.SHARED.value,
        "phone_active": PhoneStatus.ACTIVE.value,
        "mark_name": bodies.NAME,
    }


def _address_params(gsm_safe: Mapping[str, bool]) -> dict[str, str]:
    params = {}
    for language in ("fr", "bm"):
        safe = gsm_safe.get(language, True)
        for relay, name in ((False, "sh"), (True, "chw")):
            before, after = texts.address_parts(language, relay=relay, gsm_safe=safe)
            params[f"{name}_{language}_1"] = before
            params[f"{name}_{language}_2"] = after
    return params


def fan_out_batch(
    session: Session,
    *,
    day: date,
    rows: list[DueRow],
    id_from: int,
    id_to: int,
    gsm_safe: Mapping[str, bool],
) -> int:
    """Insert the messages due on `day` to enrollments with id_from <= id < id_to."""
    if not rows:
        return 0
    now = utcnow()
    params: dict[str, Any] = {
        "day": day,
        "id_from": id_from,
        "id_to": id_to,
        "now": now,
        "kind": MessageKind.PROGRAMME.value,
        "priority": int(Priority.PROGRAMME),
        "queued": MessageStatus.QUEUED.value,
        "sender_id": get_settings().at_sender_id,
        "enrollment_active": EnrollmentStatus.ACTIVE.value,
        "beneficiary_active": BeneficiaryStatus.ACTIVE.value,
        **recipient_params(),
        **_address_params(gsm_safe),
    }
    dates: list[BindParameter[Any]] = [
        bindparam("day", type_=Date),
        bindparam("now", type_=UTCDateTime()),
    ]
    for i, row in enumerate(rows):
        params.update(
            {
                f"k{i}": row.key,
                f"p{i}": row.programme,
                f"a{i}": row.anchor,
                f"lf{i}": row.late_from,
                f"lt{i}": row.late_to,
                f"tf{i}": row.text_fr,
                f"tb{i}": row.text_bm,
            }
        )
        dates += [bindparam(f"{n}{i}", type_=Date) for n in ("a", "lf", "lt")]
    inserted = 0
    for branch in _BRANCHES:
        statement = text(_insert_sql(len(rows), branch)).bindparams(*dates)
        result = session.execute(statement, params)
        inserted += max(0, int(getattr(result, "rowcount", 0) or 0))
    return inserted


def complete_finished(session: Session, *, day: date) -> int:
    """Mark enrollments with nothing left to receive as completed."""
    done = 0
    for programme, after in COMPLETE_AFTER_DAYS.items():
        result = session.execute(
            update(Enrollment)
            .where(
                col(Enrollment.programme) == programme,
                col(Enrollment.status).in_([EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED]),
                col(Enrollment.anchor_date) < day - timedelta(days=after),
            )
            .values(status=EnrollmentStatus.COMPLETED)
        )
        done += int(getattr(result, "rowcount", 0) or 0)
    return done


@dataclass(frozen=True, slots=True)
class BatchResult:
    day: date
    id_from: int
    id_to: int
    inserted: int


@dataclass(frozen=True, slots=True)
class FanOutResult:
    day: date
    messages: int
    batches: int
    inserted: int
    completed: int
    seconds: float


def run(
    *,
    day: date,
    engine: Engine | None = None,
    batch_size: int | None = None,
    include_drafts: bool | None = None,
    messages: Mapping[str, Message] | None = None,
    on_batch: Callable[[BatchResult], None] | None = None,
) -> FanOutResult:
    """Fan out one day, one transaction per id range; safe to re-run or resume.

    `messages` defaults to the content library; `on_batch` is called after each
    committed batch (progress, measurements).
    """
    settings = get_settings()
    started = time.perf_counter()
    batch_size = batch_size or settings.programme_fanout_batch
    drafts = settings.send_drafts if include_drafts is None else include_drafts
    gsm_safe = settings.content_gsm_safe
    library_messages = messages if messages is not None else texts.load()
    with unit_of_work(engine) as session:
        # A draft a manager approved in the console counts as approved.
        library_messages = content_service.with_approvals(session, library_messages)
        low, high = session.exec(
            select(func.min(Enrollment.id), func.max(Enrollment.id)).where(
                Enrollment.status == EnrollmentStatus.ACTIVE
            )
        ).one()
    chosen = sendable(library_messages, include_drafts=drafts, gsm_safe=gsm_safe)
    rows = due_rows(day, chosen, gsm_safe=gsm_safe)
    batches = inserted = 0
    if rows and low is not None and high is not None:
        for id_from in range(low, high + 1, batch_size):
            id_to = id_from + batch_size
            with unit_of_work(engine) as session:
                count = fan_out_batch(
                    session, day=day, rows=rows, id_from=id_from, id_to=id_to, gsm_safe=gsm_safe
                )
            batches += 1
            inserted += count
            if on_batch is not None:
                on_batch(BatchResult(day=day, id_from=id_from, id_to=id_to, inserted=count))
    with unit_of_work(engine) as session:
        completed = complete_finished(session, day=day)
    result = FanOutResult(
        day=day,
        messages=len(rows),
        batches=batches,
        inserted=inserted,
        completed=completed,
        seconds=time.perf_counter() - started,
    )
    log.info(
        "programme fan-out %s: %d rows in %d batches (%.1fs), %d enrollments completed",
        day,
        inserted,
        batches,
        result.seconds,
        completed,
    )
    return result


def run_window(*, today: date | None = None, engine: Engine | None = None) -> list[FanOutResult]:
    """What beat runs at each fan-out time: today, after the catch-up days before it."""
    today = today or local_today()
    catchup = get_settings().programme_catchup_days
    days = [today - timedelta(days=n) for n in range(catchup, -1, -1)]
    return [run(day=day, engine=engine) for day in days]
