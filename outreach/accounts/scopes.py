"""Which sites a staff user may see: none listed means all of them (the default).

A listed site covers every place under it. Beneficiaries are placed by their village,
so a scope is, in the end, a set of village ids; what hangs off a woman (messages,
inbox items, appointments) follows her. Admins are never limited.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import false
from sqlmodel import Session, col, delete, select

from outreach.accounts.models import Role, StaffUser, StaffUserSite
from outreach.chws.models import Chw, ChwSite
from outreach.registry.models import Beneficiary
from outreach.sites.models import Site, SiteLevel
from outreach.sites.service import villages_under

_CACHE = "outreach_scope_villages"
_COVERED = "outreach_scope_covered_sites"


def site_ids(session: Session, *, user_id: int) -> list[int]:
    """The sites a user is limited to (empty: all sites)."""
    return sorted(
        int(s)
        for s in session.exec(
            select(StaffUserSite.site_id).where(StaffUserSite.user_id == user_id)
        ).all()
    )


def set_sites(session: Session, *, user: StaffUser, site_ids: list[int]) -> list[int]:
    """Limit a user to these sites, or lift the limit with an empty list."""
    assert user.id is not None
    wanted = sorted(set(site_ids))
    if wanted and user.role_enum == Role.admin:
        raise ValueError("un administrateur voit tous les sites: il ne peut pas être limité")
    for site_id in wanted:
        if session.get(Site, site_id) is None:
            raise ValueError(f"lieu {site_id} inconnu")
    session.exec(delete(StaffUserSite).where(col(StaffUserSite.user_id) == user.id))
    for site_id in wanted:
        session.add(StaffUserSite(user_id=user.id, site_id=site_id))
    session.flush()
    session.info.pop(_CACHE, None)
    session.info.pop(_COVERED, None)
    return wanted


def villages(session: Session, *, user: Any) -> frozenset[int] | None:
    """The villages a user may see, or None when she sees everything."""
    if user is None or getattr(user, "role", None) == Role.admin.value or user.id is None:
        return None
    cache: dict[int, frozenset[int] | None] = session.info.setdefault(_CACHE, {})
    if user.id not in cache:
        sites = site_ids(session, user_id=user.id)
        if not sites:
            cache[user.id] = None
        else:
            found: set[int] = set()
            for site_id in sites:
                found.update(v.id for v in villages_under(session, site_id=site_id) if v.id)
            cache[user.id] = frozenset(found)
    return cache[user.id]


def village_condition(column: Any, scope: frozenset[int] | None) -> Any:
    """SQL: the row's village is in scope (None: no condition)."""
    if scope is None:
        return None
    if not scope:
        return false()
    return col(column).in_(sorted(scope))


def beneficiary_ids_condition(column: Any, scope: frozenset[int] | None) -> Any:
    """SQL: the row belongs to a woman in scope (a message, an appointment, a reply)."""
    if scope is None:
        return None
    women = select(Beneficiary.id).where(village_condition(Beneficiary.village_id, scope))
    return col(column).in_(women)


def sites_outside(session: Session, *, user: Any, site_ids: list[int]) -> list[int]:
    """The given sites with a woman the user may not see (an unknown or empty site too)."""
    scope = villages(session, user=user)
    if scope is None:
        return []
    # A campaign list asks about the same few sites again and again: each is walked once.
    known: dict[tuple[int, int], bool] = session.info.setdefault(_COVERED, {})
    outside = []
    for site_id in site_ids:
        if (user.id, site_id) not in known:
            under = {v.id for v in villages_under(session, site_id=site_id) if v.id is not None}
            known[(user.id, site_id)] = bool(under) and under <= scope
        if not known[(user.id, site_id)]:
            outside.append(site_id)
    return outside


def covers_sites(session: Session, *, user: Any, site_ids: list[int] | None) -> bool:
    """Whether every woman an audience of these sites could reach is within the user's
    scope; an audience of every site is only for users who see every site."""
    if villages(session, user=user) is None:
        return True
    return bool(site_ids) and not sites_outside(session, user=user, site_ids=site_ids or [])


def visible_sites(session: Session, *, user: Any) -> list[Site]:
    """The places a user may pick in a form or a filter: every site, or those at or
    below her own, ordered region first then by name."""
    order = {level.value: i for i, level in enumerate(SiteLevel)}
    everything = list(session.exec(select(Site)).all())
    scope = villages(session, user=user)
    if scope is not None:
        assert user.id is not None
        shown = set(site_ids(session, user_id=user.id))
        children: dict[int | None, list[int]] = {}
        for site in everything:
            if site.id is not None:
                children.setdefault(site.parent_id, []).append(site.id)
        frontier = list(shown)
        while frontier:
            below = [c for parent in frontier for c in children.get(parent, [])]
            frontier = [c for c in below if c not in shown]
            shown.update(frontier)
        everything = [site for site in everything if site.id in shown]
    return sorted(everything, key=lambda s: (order.get(s.level, 9), s.name))


def assignable_sites(
    session: Session, *, user: Any, wanted: list[int], current: list[int] | None = None
) -> list[int]:
    """The sites to give a CHW when this user picks `wanted` among those she may see:
    a site outside hers is refused (ValueError), and the CHW's sites the user cannot
    see are kept, so an edit never drops a village she was not shown."""
    if villages(session, user=user) is None:
        return sorted(set(wanted))
    shown = {site.id for site in visible_sites(session, user=user)}
    for site_id in sorted(set(wanted) - shown):
        site = session.get(Site, site_id)
        raise ValueError(f"le lieu {site.name if site else site_id} est hors de vos sites")
    if not wanted and not current:
        raise ValueError("votre compte est limité à certains lieux: choisissez-en un")
    return sorted(set(wanted) | (set(current or []) - shown))


def sees_village(scope: frozenset[int] | None, village_id: int | None) -> bool:
    """Whether a place (a woman's village) is within the scope."""
    return scope is None or (village_id is not None and village_id in scope)


def sees(session: Session, *, user: Any, beneficiary: Beneficiary | None) -> bool:
    """Whether the user may see this woman at all (else: 404, never a hint she exists)."""
    if beneficiary is None:
        return False
    return sees_village(villages(session, user=user), beneficiary.village_id)


def sees_woman(session: Session, *, user: Any, beneficiary_id: int | None) -> bool:
    """Whether a row hanging off a woman (a message, a reply) is visible; rows of nobody
    are visible only to users who see every site."""
    scope = villages(session, user=user)
    if scope is None:
        return True
    woman = session.get(Beneficiary, beneficiary_id) if beneficiary_id is not None else None
    return woman is not None and sees_village(scope, woman.village_id)


def chw_condition(session: Session, *, user: Any) -> Any:
    """SQL: the CHW covers at least one village in scope (None: no condition)."""
    scope = villages(session, user=user)
    if scope is None:
        return None
    # A CHW may cover a whole health area: the villages' ancestors count as well.
    ids: set[int] = set(scope)
    frontier: set[int] = set(scope)
    while frontier:
        parents = session.exec(select(Site.parent_id).where(col(Site.id).in_(frontier))).all()
        frontier = {p for p in parents if p is not None and p not in ids}
        ids |= frontier
    covering = select(ChwSite.chw_id).where(col(ChwSite.site_id).in_(sorted(ids) or [-1]))
    return col(Chw.id).in_(covering)


def sees_chw(session: Session, *, user: Any, chw_id: int) -> bool:
    """Whether a CHW's page is visible to the user (else: 404)."""
    condition = chw_condition(session, user=user)
    if condition is None:
        return True
    return session.exec(select(Chw.id).where(Chw.id == chw_id, condition)).first() is not None
