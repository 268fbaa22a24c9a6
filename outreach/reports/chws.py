"""The CHW list as the console shows it: a search, a site filter and pages of 50."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, false, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from outreach.chws import service as chws
from outreach.chws.models import Chw, ChwSite
from outreach.registry import names, phones
from outreach.registry.models import NameKind, Phone, has_number
from outreach.sites.models import Site

PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class Filters:
    """What the list shows; empty fields do not filter."""

    q: str = ""
    site_id: int | None = None

    @classmethod
    def from_query(cls, params: Any) -> Filters:
        """Read the filters from query parameters, ignoring what makes no sense."""
        raw_site = (params.get("site_id") or "").strip()
        return cls(
            q=(params.get("q") or "").strip()[:60],
            site_id=int(raw_site) if raw_site.isdigit() else None,
        )

    def query_string(self, **overrides: Any) -> str:
        """The filters as URL parameters (for the pager's links)."""
        from urllib.parse import urlencode

        values = {"q": self.q, "site_id": self.site_id or "", **overrides}
        return urlencode({k: v for k, v in values.items() if v not in ("", None)})


@dataclass(frozen=True, slots=True)
class Row:
    chw: Chw
    phone: str | None
    villages: list[Site]


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Row]
    total: int
    page: int
    pages: int


def _filtered(session: Session, filters: Filters) -> Select[Any]:
    stmt: Select[Any] = sa_select(col(Chw.id))
    if filters.q:
        q = filters.q
        digits = "".join(ch for ch in q if ch.isdigit())
        if digits and len(digits) == len(q.replace(" ", "").replace("+", "")):
            try:
                e164: str | None = phones.normalize(q)
            except phones.InvalidPhoneNumber:
                e164 = None
            # Numbers are encrypted: only a whole number is found, by its blind index.
            number = has_number(e164) if e164 else false()
            stmt = stmt.where(col(Chw.phone_id).in_(sa_select(col(Phone.id)).where(number)))
        else:
            stmt = stmt.where(names.matching(NameKind.CHW, q, Chw.id))
    if filters.site_id:
        site_ids = chws.covering_site_ids(session, site_id=filters.site_id)
        stmt = stmt.where(
            col(Chw.id).in_(
                sa_select(col(ChwSite.chw_id)).where(col(ChwSite.site_id).in_(site_ids or [-1]))
            )
        )
    return stmt


def search(session: Session, *, filters: Filters, page: int = 1, visible: Any = None) -> Page:
    """One page of CHWs matching the filters, by name, with the villages each covers."""
    ids = _filtered(session, filters)
    if visible is not None:
        ids = ids.where(visible)
    total = int(session.execute(sa_select(func.count()).select_from(ids.subquery())).scalar_one())
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 1), pages)
    # Names are encrypted, so SQL cannot sort by them: the matching CHWs' names (2,000
    # at most in a programme) are decrypted and sorted here, and only one page is loaded.
    named = sorted(
        session.execute(sa_select(col(Chw.id), col(Chw.name)).where(col(Chw.id).in_(ids))).all(),
        key=lambda r: (r[1].casefold(), r[0]),
    )
    wanted = [r[0] for r in named[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]]
    rank = {chw_id: i for i, chw_id in enumerate(wanted)}
    found = sorted(
        session.exec(
            select(Chw, Phone.e164)
            .join(Phone, col(Phone.id) == col(Chw.phone_id))
            .where(col(Chw.id).in_(wanted))
        ).all(),
        key=lambda r: rank[r[0].id],
    )
    covered = chws.villages_by_chw(session, chw_ids=[c.id for c, _ in found if c.id is not None])
    rows = [Row(chw=c, phone=e164, villages=covered.get(c.id or 0, [])) for c, e164 in found]
    return Page(rows=rows, total=total, page=page, pages=pages)


def detail(session: Session, *, chw_id: int) -> Row | None:
    """One CHW with her number and the villages she covers."""
    chw = session.get(Chw, chw_id)
    if chw is None or chw.id is None:
        return None
    return Row(
        chw=chw,
        phone=chws.phone_number(session, chw=chw),
        villages=chws.villages(session, chw_id=chw.id),
    )
