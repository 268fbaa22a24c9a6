"""A campaign run's recipients, inserted into the outbox in SQL, one beneficiary-id range at a time.

Like the programme fan-out: one `INSERT ... SELECT ... ON CONFLICT DO NOTHING` per id
range, in its own transaction, with the audience conditions of the cost preflight (so
the count shown before sending is the count sent). Every row's dedupe key is
`camp:<campaign>:<run>:<beneficiary>`, so a re-run or a run that died halfway inserts
exactly the rows still missing. Rows carry `campaign_id`: progress and cancel are
queries on it. The outbox pipeline then sends them at the campaign lane's priority,
within the rate limit and the send window.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Date, bindparam, func, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from sqlmodel.sql.sqltypes import UTCDateTime

from outreach.campaigns.models import CampaignStatus
from outreach.campaigns.placeholders import Template, to_sql
from outreach.campaigns.preflight import ADDRESSEE, templates, to_audience
from outreach.campaigns.schemas import AudienceIn, PreflightIn
from outreach.config import get_settings
from outreach.db import after_commit, unit_of_work
from outreach.outbox import bodies
from outreach.outbox.models import MessageKind, MessageStatus, Priority
from outreach.outbox.service import wake
from outreach.programmes import costs
from outreach.programmes.fanout import (
    LANGUAGE,
    NAME_MARK,
    OWN,
    RECIPIENT_JOINS,
    TO_INDEX,
    TO_NUMBER,
    _address_params,
    addressee_sql,
)
from outreach.registry.models import Beneficiary
from outreach.timeutil import local_today, utcnow

log = logging.getLogger(__name__)

DEDUPE_PREFIX = "camp:"


def dedupe_prefix(campaign_id: int, run: int) -> str:
    """The dedupe-key prefix of one run's rows."""
    return f"{DEDUPE_PREFIX}{campaign_id}:{run}:"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a run sends, read once from the campaign row."""

    campaign_id: int
    run: int
    message: PreflightIn


def snapshot(
    campaign_id: int,
    run: int,
    *,
    texts: dict[str, str] | None,
    content_key: str | None,
    audience: dict[str, Any],
) -> Snapshot:
    """A run's message and audience, validated as they were when the campaign was approved."""
    message = PreflightIn(
        texts=texts, content_key=content_key, audience=AudienceIn.model_validate(audience)
    )
    return Snapshot(campaign_id=campaign_id, run=run, message=message)


def _by_language(language: str, fr: str, bm: str) -> str:
    return f"(CASE WHEN {language} = 'bm' THEN {bm} ELSE {fr} END)"


def _body_sql(parsed: dict[str, Template]) -> tuple[str, str, dict[str, Any]]:
    """(body, addressee, parameters): `{prenom}` and the name prefix are markers."""
    values = {"prenom": "CAST(:mark_first AS TEXT)", "site": "v.name"}
    fr, fr_params = to_sql(parsed["fr"], prefix="tf", values=values)
    bm, bm_params = to_sql(parsed.get("bm", parsed["fr"]), prefix="tb", values=values)
    own_text = _by_language("b.language", fr, bm)
    relay_text = _by_language("c.language", fr, bm)
    name = NAME_MARK
    shared = (
        f"{_by_language('b.language', ':sh_fr_1', ':sh_bm_1')} || {name} || "
        f"{_by_language('b.language', ':sh_fr_2', ':sh_bm_2')} || {own_text}"
    )
    relay = (
        f"{_by_language('c.language', ':chw_fr_1', ':chw_bm_1')} || {name} || "
        f"{_by_language('c.language', ':chw_fr_2', ':chw_bm_2')} || {relay_text}"
    )
    sql = f"""CASE WHEN {OWN} AND b.phone_kind = :kind_shared THEN {shared}
         WHEN {OWN} THEN {own_text}
         ELSE {relay} END"""
    # With {prenom} every row needs the name; otherwise only a shared or CHW phone does.
    uses_first = any("prenom" in template.names for template in parsed.values())
    addressee = ADDRESSEE if uses_first else addressee_sql(ADDRESSEE)
    return sql, addressee, {**fr_params, **bm_params, "mark_first": bodies.FIRST_NAME}


def insert_batch(session: Session, *, snap: Snapshot, id_from: int, id_to: int, day: date) -> int:
    """Insert the run's rows for beneficiaries with id_from <= id < id_to; returns rows added."""
    settings = get_settings()
    where, params = costs.audience_conditions(session, to_audience(snap.message.audience), day)
    body, addressee, body_params = _body_sql(templates(snap.message))
    now = utcnow()
    params.update(
        body_params,
        **_address_params(settings.content_gsm_safe),
        run_prefix=dedupe_prefix(snap.campaign_id, snap.run),
        campaign_id=snap.campaign_id,
        id_from=id_from,
        id_to=id_to,
        now=now,
        kind=MessageKind.CAMPAIGN.value,
        priority=int(Priority.CAMPAIGN),
        queued=MessageStatus.QUEUED.value,
        sender_id=settings.at_sender_id,
    )
    # The WHERE before ON CONFLICT is required: without it SQLite would read ON as a
    # join constraint of the SELECT.
    sql = f"""INSERT INTO outbound_message (
    dedupe_key, kind, priority, to_number, to_index, body, addressee, sender_id, language,
    beneficiary_id, campaign_id, status, due_at, created_at, updated_at, attempt_count
)
SELECT x.dedupe_key, :kind, :priority, x.to_number, x.to_index, x.body, x.addressee,
       :sender_id, x.language, x.beneficiary_id, :campaign_id, :queued, :now, :now, :now, 0
FROM (
    SELECT CAST(:run_prefix AS TEXT) || CAST(b.id AS VARCHAR(20)) AS dedupe_key,
           b.id AS beneficiary_id,
           {TO_NUMBER} AS to_number,
           {TO_INDEX} AS to_index,
           {LANGUAGE} AS language,
           {body} AS body,
           {addressee} AS addressee
    FROM beneficiary b
    {RECIPIENT_JOINS}
    LEFT JOIN site v ON v.id = b.village_id
    WHERE {" AND ".join(where)} AND b.id >= :id_from AND b.id < :id_to
) x
WHERE x.to_number IS NOT NULL
ON CONFLICT (dedupe_key) DO NOTHING"""  # noqa: S608 - our own fragments, values bound
    statement = text(sql).bindparams(
        bindparam("now", type_=UTCDateTime()),
        *(bindparam(name, type_=Date) for name in costs.DATE_PARAMS if name in params),
    )
    result = session.execute(statement, params)
    return max(0, int(getattr(result, "rowcount", 0) or 0))


@dataclass(frozen=True, slots=True)
class MaterialiseResult:
    campaign_id: int
    run: int
    batches: int
    inserted: int
    # Why nothing (more) was done: "done", "not_sending", "missing"; None when it ran.
    skipped: str | None = None


def run(
    campaign_id: int, *, engine: Engine | None = None, batch_size: int | None = None
) -> MaterialiseResult:
    """Insert the current run's recipients in batches, one transaction each; safe to repeat."""
    from outreach.campaigns import service

    batch_size = batch_size or get_settings().campaign_materialise_batch
    day = local_today()
    with unit_of_work(engine) as session:
        try:
            campaign = service.get(session, campaign_id=campaign_id)
        except service.CampaignNotFound:
            return MaterialiseResult(campaign_id, 0, 0, 0, skipped="missing")
        current = service.current_run(session, campaign_id=campaign_id)
        if current is None or campaign.status != CampaignStatus.SENDING:
            return MaterialiseResult(campaign_id, 0, 0, 0, skipped="not_sending")
        if current.materialised_at is not None:
            return MaterialiseResult(campaign_id, current.number, 0, 0, skipped="done")
        snap = snapshot(
            campaign_id,
            current.number,
            texts=campaign.texts,
            content_key=campaign.content_key,
            audience=campaign.audience,
        )
        low, high = session.exec(select(func.min(Beneficiary.id), func.max(Beneficiary.id))).one()
    batches = inserted = 0
    for id_from in range(low or 0, (high or -1) + 1, batch_size):
        with unit_of_work(engine) as session:
            # The campaign row's lock orders this batch with a cancel (see service.cancel).
            campaign = service.get(session, campaign_id=campaign_id, lock=True)
            still = service.current_run(session, campaign_id=campaign_id)
            if (
                campaign.status != CampaignStatus.SENDING
                or still is None
                or still.number != snap.run
            ):
                log.info(
                    "campaign %s run %s: stopped after %d batches", campaign_id, snap.run, batches
                )
                return MaterialiseResult(
                    campaign_id, snap.run, batches, inserted, skipped="not_sending"
                )
            count = insert_batch(
                session, snap=snap, id_from=id_from, id_to=id_from + batch_size, day=day
            )
            still.heartbeat_at = utcnow()
            still.recipients += count
            session.add(still)
            if count:
                # Sending starts with the first batch, while later ones are still inserted.
                after_commit(session, wake)
        batches += 1
        inserted += count
    with unit_of_work(engine) as session:
        still = service.current_run(session, campaign_id=campaign_id)
        if still is not None and still.number == snap.run and still.materialised_at is None:
            still.materialised_at = utcnow()
            session.add(still)
    log.info(
        "campaign %s run %s: %d recipients in %d batches", campaign_id, snap.run, inserted, batches
    )
    return MaterialiseResult(campaign_id, snap.run, batches, inserted)
