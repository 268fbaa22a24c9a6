"""The beneficiary list and detail as the console shows them: filters, pages, timeline."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Select, exists, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from outreach.chws.models import Chw
from outreach.inbound.models import InboundMessage
from outreach.outbox import bodies
from outreach.outbox.models import OutboundMessage
from outreach.programmes.models import Enrollment, EnrollmentStatus
from outreach.registry import names, phones
from outreach.registry.models import Beneficiary, Consent, NameKind, Phone, Transfer, has_number
from outreach.reports.service import STAGE_KEYS, anchor_range
from outreach.sites.models import Site
from outreach.sites.service import villages_under
from outreach.timeutil import local_today

PAGE_SIZE = 50
# A search or filter counts its matches up to this many: past it, "more than 1,000" is
# all staff need, and counting 100,000 rows on every keystroke is not free.
COUNT_CAP = 1000
# A CSV export is streamed in chunks of this many rows.
EXPORT_CHUNK = 2000


@dataclass(frozen=True, slots=True)
class Filters:
    """What the list shows; empty fields do not filter."""

    q: str = ""
    site_id: int | None = None
    stage: str = ""
    language: str = ""
    displaced: bool | None = None
    status: str = ""
    # The villages of the user's sites (None: all); set by the page, never from the URL.
    scope: frozenset[int] | None = None

    @classmethod
    def from_query(cls, params: Any) -> Filters:
        """Read the filters from query parameters, ignoring what makes no sense."""

        def integer(name: str) -> int | None:
            raw = (params.get(name) or "").strip()
            return int(raw) if raw.isdigit() else None

        displaced_raw = params.get("displaced") or ""
        stage = params.get("stage") or ""
        return cls(
            q=(params.get("q") or "").strip()[:60],
            site_id=integer("site"),
            stage=stage if stage in STAGE_KEYS else "",
            language=(params.get("language") or "")[:5],
            displaced={"1": True, "0": False}.get(displaced_raw),
            status=(params.get("status") or "")[:20],
        )

    def query_string(self, **overrides: Any) -> str:
        """The filters as URL parameters (for pages and the export link)."""
        from urllib.parse import urlencode

        values = {
            "q": self.q,
            "site": self.site_id or "",
            "stage": self.stage,
            "language": self.language,
            "displaced": "" if self.displaced is None else int(self.displaced),
            "status": self.status,
            **overrides,
        }
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    code: str
    name: str
    phone: str | None
    village: str | None
    language: str
    displaced: bool
    status: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Row]
    total: int
    page: int
    pages: int
    # True when a search or filter matched more than COUNT_CAP women: `total` is the cap.
    more: bool = False


def _filtered(session: Session, filters: Filters) -> Select[Any]:
    stmt: Select[Any] = sa_select(col(Beneficiary.id))
    if filters.scope is not None:
        stmt = stmt.where(col(Beneficiary.village_id).in_(sorted(filters.scope) or [-1]))
    if filters.q:
        q = filters.q
        digits = "".join(ch for ch in q if ch.isdigit())
        if digits and len(digits) == len(q.replace(" ", "").replace("+", "")):
            # A number is a code or a phone, both indexed: never a scan of every name.
            conditions = [col(Beneficiary.code) == digits]
            try:
                e164 = phones.normalize(q)
            except phones.InvalidPhoneNumber:
                e164 = None
            if e164:
                conditions.append(
                    col(Beneficiary.phone_id).in_(sa_select(col(Phone.id)).where(has_number(e164)))
                )
            stmt = stmt.where(or_(*conditions))
        else:
            stmt = stmt.where(names.matching(NameKind.BENEFICIARY, q, Beneficiary.id))
    if filters.site_id:
        village_ids = [v.id for v in villages_under(session, site_id=filters.site_id)]
        stmt = stmt.where(col(Beneficiary.village_id).in_(village_ids or [-1]))
    if filters.language:
        stmt = stmt.where(col(Beneficiary.language) == filters.language)
    if filters.displaced is not None:
        stmt = stmt.where(col(Beneficiary.displaced) == filters.displaced)
    if filters.status:
        stmt = stmt.where(col(Beneficiary.status) == filters.status)
    if filters.stage:
        programme, first, last = anchor_range(filters.stage, today=local_today())
        stmt = stmt.where(
            exists().where(
                col(Enrollment.beneficiary_id) == col(Beneficiary.id),
                col(Enrollment.status) == EnrollmentStatus.ACTIVE,
                col(Enrollment.programme) == programme,
                col(Enrollment.anchor_date) >= first,
                col(Enrollment.anchor_date) <= last,
            )
        )
    return stmt


def _rows(session: Session, ids_stmt: Any) -> Select[Any]:
    columns: list[Any] = [
        col(c)
        for c in (
            Beneficiary.id,
            Beneficiary.code,
            Beneficiary.name,
            Phone.e164,
            Site.name,
            Beneficiary.language,
            Beneficiary.displaced,
            Beneficiary.status,
            Beneficiary.created_at,
        )
    ]
    stmt: Select[Any] = (
        sa_select(*columns)
        .outerjoin(Phone, col(Phone.id) == col(Beneficiary.phone_id))
        .outerjoin(Site, col(Site.id) == col(Beneficiary.village_id))
        .where(col(Beneficiary.id).in_(ids_stmt))
        .order_by(col(Beneficiary.id).desc())
    )
    return stmt


def search(session: Session, *, filters: Filters, page: int = 1) -> Page:
    """One page of beneficiaries matching the filters, newest first."""
    ids = _filtered(session, filters)
    narrowed = filters != Filters()
    counted = ids.limit(COUNT_CAP + 1) if narrowed else ids
    total = int(
        session.execute(sa_select(func.count()).select_from(counted.subquery())).scalar_one()
    )
    more = narrowed and total > COUNT_CAP
    total = min(total, COUNT_CAP) if more else total
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 1), pages)
    # The page's ids first (an index scan, however deep the page), then their details.
    page_ids = [
        row[0]
        for row in session.execute(
            ids.order_by(col(Beneficiary.id).desc()).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
        )
    ]
    result = session.execute(_rows(session, page_ids))
    return Page(rows=[Row(*r) for r in result], total=total, page=page, pages=pages, more=more)


def export_rows(session: Session, *, filters: Filters) -> Iterator[Row]:
    """Every matching beneficiary, read in chunks by id so memory stays flat."""
    last_id: int | None = None
    # Built once: a site filter walks the site tree, which no chunk needs to redo.
    matching = _rows(session, _filtered(session, filters))
    while True:
        stmt = matching
        if last_id is not None:
            stmt = stmt.where(col(Beneficiary.id) < last_id)
        chunk = [Row(*r) for r in session.execute(stmt.limit(EXPORT_CHUNK))]
        yield from chunk
        if len(chunk) < EXPORT_CHUNK:
            return
        last_id = chunk[-1].id


@dataclass(frozen=True, slots=True)
class Event:
    """One line of a beneficiary's timeline."""

    at: datetime
    kind: str  # out, in, consent, transfer, appointment
    text: str
    detail: str = ""


@dataclass
class Detail:
    beneficiary: Beneficiary
    phone: str | None
    village: str | None
    chw: str | None
    enrollments: list[Enrollment]
    timeline: list[Event] = field(default_factory=list)


TIMELINE_LIMIT = 100


def _when(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def detail(session: Session, *, beneficiary_id: int) -> Detail | None:
    """Her record and a timeline of messages, replies, consent, transfers (newest first)."""
    beneficiary = session.get(Beneficiary, beneficiary_id)
    if beneficiary is None:
        return None
    phone = session.get(Phone, beneficiary.phone_id) if beneficiary.phone_id else None
    village = session.get(Site, beneficiary.village_id) if beneficiary.village_id else None
    chw = session.get(Chw, beneficiary.chw_id) if beneficiary.chw_id else None
    enrollments = list(
        session.exec(
            select(Enrollment)
            .where(Enrollment.beneficiary_id == beneficiary_id)
            .order_by(col(Enrollment.id).desc())
        )
    )
    events: list[Event] = []
    for m in session.exec(
        select(OutboundMessage)
        .where(OutboundMessage.beneficiary_id == beneficiary_id)
        .order_by(col(OutboundMessage.id).desc())
        .limit(TIMELINE_LIMIT)
    ):
        text = bodies.render(m.body, m.addressee)
        events.append(Event(at=_when(m.created_at), kind="out", text=text, detail=m.status))
    for r in session.exec(
        select(InboundMessage)
        .where(InboundMessage.beneficiary_id == beneficiary_id)
        .order_by(col(InboundMessage.id).desc())
        .limit(TIMELINE_LIMIT)
    ):
        events.append(Event(at=_when(r.received_at), kind="in", text=r.text, detail=r.intent or ""))
    for c in session.exec(select(Consent).where(Consent.beneficiary_id == beneficiary_id)):
        events.append(
            Event(at=_when(c.recorded_at), kind="consent", text=c.text_key, detail=str(c.granted))
        )
    sites = {s.id: s.name for s in session.exec(select(Site))}
    for tr in session.exec(select(Transfer).where(Transfer.beneficiary_id == beneficiary_id)):
        events.append(
            Event(
                at=_when(tr.moved_at),
                kind="transfer",
                text=f"{sites.get(tr.from_village_id, '—')} → {sites.get(tr.to_village_id, '—')}",
            )
        )
    events.extend(_appointments(session, beneficiary_id))
    events.sort(key=lambda e: e.at, reverse=True)
    return Detail(
        beneficiary=beneficiary,
        phone=phone.e164 if phone else None,
        village=village.name if village else None,
        chw=chw.name if chw else None,
        enrollments=enrollments,
        timeline=events[:TIMELINE_LIMIT],
    )


def _appointments(session: Session, beneficiary_id: int) -> list[Event]:
    """Her appointments, when this build has them (read from the metadata)."""
    from sqlmodel import SQLModel

    table = SQLModel.metadata.tables.get("appointment")
    if table is None or not {"beneficiary_id", "due_on", "kind", "status"} <= set(table.c.keys()):
        return []
    rows = session.execute(
        sa_select(table.c.due_on, table.c.kind, table.c.status)
        .where(table.c.beneficiary_id == beneficiary_id)
        .order_by(table.c.due_on.desc())
        .limit(TIMELINE_LIMIT)
    ).all()
    return [
        Event(at=_when(due), kind="appointment", text=str(kind), detail=str(status))
        for due, kind, status in rows
    ]
