"""CHW accounts: creation, PIN checks and lockout."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from outreach.audit import service as audit
from outreach.audit.models import AuditEntry
from outreach.chws.models import Chw, ChwSite
from outreach.config import get_settings
from outreach.registry import service as registry_service
from outreach.sites.models import Facility, Site
from outreach.timeutil import utcnow

MAX_PIN_ATTEMPTS = 5
LOCKOUT = timedelta(minutes=15)


class PinLocked(Exception):
    """Too many wrong PINs: the CHW must wait or ask staff for a reset."""


def hash_pin(pin: str) -> str:
    """Salted HMAC keyed with the server secret.

    A 4-digit PIN has 10,000 values, so no slow hash protects it from someone
    holding the database; the server-side key does. HMAC also keeps the USSD hop fast.
    """
    salt = secrets.token_hex(8)
    return f"hmac-sha256${salt}${_digest(salt, pin)}"


def _digest(salt: str, pin: str) -> str:
    key = get_settings().secret_key.get_secret_value().encode()
    return hmac.new(key, f"{salt}:{pin}".encode(), hashlib.sha256).hexdigest()


def valid_pin_format(pin: str) -> bool:
    """A PIN is exactly four digits."""
    return len(pin) == 4 and pin.isascii() and pin.isdigit()


def check_pin(session: Session, *, chw: Chw, pin: str) -> bool:
    """Check a PIN, counting failures and locking the account after too many."""
    now = utcnow()
    if chw.locked_until and chw.locked_until > now:
        raise PinLocked
    # A lockout served is over: the USSD flow reads a set `locked_until` as "just locked".
    chw.locked_until = None
    _scheme, salt, digest = chw.pin_hash.split("$", 2)
    ok = hmac.compare_digest(digest, _digest(salt, pin))
    if ok:
        chw.failed_pin_attempts = 0
        chw.locked_until = None
    else:
        chw.failed_pin_attempts += 1
        if chw.failed_pin_attempts >= MAX_PIN_ATTEMPTS:
            chw.locked_until = now + LOCKOUT
            chw.failed_pin_attempts = 0
            _record_lockout(session, chw=chw, now=now)
    session.add(chw)
    return ok


LOCKOUT_ACTION = "chw.pin_lockout"
LOCKOUT_ALERT_ACTION = "chw.pin_lockout_alert"


def _record_lockout(session: Session, *, chw: Chw, now: datetime) -> None:
    # One lockout is a CHW with clumsy fingers; several in a day is someone guessing
    # the PIN of a phone that is not theirs (lost, stolen, lent). Staff hear of it once
    # per window, however many more lockouts follow.
    from outreach.outbox import metrics

    settings = get_settings()
    window = timedelta(hours=settings.pin_lockout_alert_window_hours)
    audit.record(
        session,
        action=LOCKOUT_ACTION,
        actor="ussd",
        object_type="chw",
        object_id=chw.id,
        detail={"locked_until": (now + LOCKOUT).isoformat()},
    ).at = now
    session.flush()
    lockouts = _entries_since(session, action=LOCKOUT_ACTION, chw_id=chw.id, since=now - window)
    events = [metrics.event("outreach_chw_pin_lockouts")]
    already = _entries_since(
        session, action=LOCKOUT_ALERT_ACTION, chw_id=chw.id, since=now - window
    )
    if lockouts >= settings.pin_lockout_alert_threshold and not already:
        audit.record(
            session,
            action=LOCKOUT_ALERT_ACTION,
            actor="system",
            object_type="chw",
            object_id=chw.id,
            detail={"lockouts": lockouts, "window_hours": settings.pin_lockout_alert_window_hours},
        ).at = now
        events.append(metrics.event("outreach_chw_pin_lockout_alerts"))
    metrics.record(events)


def _entries_since(session: Session, *, action: str, chw_id: int | None, since: datetime) -> int:
    return session.exec(
        select(func.count()).where(
            AuditEntry.action == action,
            AuditEntry.object_type == "chw",
            AuditEntry.object_id == str(chw_id),
            col(AuditEntry.at) >= since,
        )
    ).one()


def lockout_alerts(session: Session, *, since: datetime) -> list[tuple[AuditEntry, Chw, list[str]]]:
    """Repeated-lockout alerts raised since `since`, newest first, with the CHW and her sites."""
    entries = session.exec(
        select(AuditEntry)
        .where(AuditEntry.action == LOCKOUT_ALERT_ACTION, col(AuditEntry.at) >= since)
        .order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
    ).all()
    alerts = []
    for entry in entries:
        chw = session.get(Chw, int(entry.object_id or 0))
        if chw is None or chw.id is None:
            continue
        names = session.exec(
            select(Site.name)
            .join(ChwSite, col(ChwSite.site_id) == col(Site.id))
            .where(ChwSite.chw_id == chw.id)
            .order_by(col(Site.name))
        ).all()
        alerts.append((entry, chw, list(names)))
    return alerts


def _check_places(session: Session, *, site_ids: list[int], facility_id: int | None) -> None:
    # Unknown ids are the caller's mistake (a 422), not a foreign-key failure at flush.
    for site_id in sorted(set(site_ids)):
        if session.get(Site, site_id) is None:
            raise ValueError(f"lieu {site_id} inconnu")
    if facility_id is not None and session.get(Facility, facility_id) is None:
        raise ValueError(f"établissement {facility_id} inconnu")


def add(
    session: Session,
    *,
    name: str,
    phone: str,
    pin: str,
    site_ids: list[int],
    language: str = "fr",
    facility_id: int | None = None,
) -> Chw:
    """Create a CHW on a phone number, covering the given sites."""
    if not valid_pin_format(pin):
        raise ValueError("le code PIN doit contenir exactement 4 chiffres")
    _check_places(session, site_ids=site_ids, facility_id=facility_id)
    phone_row = registry_service.get_or_create_phone(session, raw=phone)
    if session.exec(select(Chw).where(Chw.phone_id == phone_row.id)).first():
        raise ValueError(f"un agent est déjà enregistré sur le numéro {phone_row.e164}")
    assert phone_row.id is not None
    chw = Chw(
        name=name.strip(),
        phone_id=phone_row.id,
        pin_hash=hash_pin(pin),
        language=language,
        facility_id=facility_id,
    )
    session.add(chw)
    session.flush()
    assert chw.id is not None
    for site_id in site_ids:
        session.add(ChwSite(chw_id=chw.id, site_id=site_id))
    session.flush()
    return chw


def reset_pin(session: Session, *, chw: Chw, pin: str) -> None:
    """Set a new PIN and lift any lockout."""
    if not valid_pin_format(pin):
        raise ValueError("le code PIN doit contenir exactement 4 chiffres")
    chw.pin_hash = hash_pin(pin)
    chw.failed_pin_attempts = 0
    chw.locked_until = None
    session.add(chw)


def get_by_phone(session: Session, *, e164: str) -> Chw | None:
    """The active CHW using this number, if any."""
    from outreach.registry.models import Phone, has_number

    return session.exec(
        select(Chw)
        .join(Phone, col(Phone.id) == col(Chw.phone_id))
        .where(has_number(e164), Chw.active)
    ).first()


def villages(session: Session, *, chw_id: int) -> list[Site]:
    """The villages a CHW covers (a covered health area brings all its villages), by name."""
    return villages_by_chw(session, chw_ids=[chw_id])[chw_id]


def villages_by_chw(session: Session, *, chw_ids: Collection[int]) -> dict[int, list[Site]]:
    """The villages each CHW covers, by name, in a few queries however many CHWs."""
    from outreach.sites.models import SiteLevel

    found: dict[int, dict[int, Site]] = {chw_id: {} for chw_id in chw_ids}
    if not found:
        return {}
    covered = session.exec(
        select(ChwSite.chw_id, Site)
        .join(Site, col(Site.id) == col(ChwSite.site_id))
        .where(col(ChwSite.chw_id).in_(list(found)))
    ).all()
    # A covered area (health area, district, region): the CHWs it brings villages to.
    areas: dict[int, list[int]] = {}
    for chw_id, site in covered:
        assert site.id is not None
        if site.level == SiteLevel.VILLAGE:
            found[chw_id][site.id] = site
        else:
            areas.setdefault(site.id, []).append(chw_id)
    # Most CHWs cover villages directly. The areas are walked down together, one query
    # per level of the tree, each site remembering which covered areas it lies under.
    frontier: dict[int, set[int]] = {area_id: {area_id} for area_id in areas}
    while frontier:
        children = session.exec(select(Site).where(col(Site.parent_id).in_(list(frontier)))).all()
        below: dict[int, set[int]] = {}
        for child in children:
            assert child.id is not None and child.parent_id is not None
            roots = frontier[child.parent_id]
            if child.level == SiteLevel.VILLAGE:
                for root in roots:
                    for chw_id in areas[root]:
                        found[chw_id][child.id] = child
            else:
                below.setdefault(child.id, set()).update(roots)
        frontier = below
    return {chw_id: sorted(sites.values(), key=lambda s: s.name) for chw_id, sites in found.items()}


def covering_site_ids(session: Session, *, site_id: int) -> set[int]:
    """The sites whose coverage reaches a village at or under `site_id`.

    Those villages and every site above them: a CHW covering a health area, a district
    or a region covers all the villages in it.
    """
    from outreach.sites import service as site_service

    ids = {v.id for v in site_service.villages_under(session, site_id=site_id) if v.id}
    frontier = set(ids)
    while frontier:
        parents = set(
            session.exec(
                select(Site.parent_id).where(
                    col(Site.id).in_(list(frontier)), col(Site.parent_id).is_not(None)
                )
            ).all()
        )
        frontier = {p for p in parents if p is not None} - ids
        ids |= frontier
    return ids


def covering(session: Session, *, village_id: int) -> list[tuple[Chw, str | None]]:
    """The active CHWs covering a village, by name, each with her number in E.164."""
    from outreach.registry.models import Phone

    site_ids = covering_site_ids(session, site_id=village_id)
    if not site_ids:
        return []
    rows = session.exec(
        select(Chw, Phone.e164)
        .join(Phone, col(Phone.id) == col(Chw.phone_id))
        .where(
            col(Chw.active),
            col(Chw.id).in_(select(ChwSite.chw_id).where(col(ChwSite.site_id).in_(list(site_ids)))),
        )
    ).all()
    # Names are encrypted: the few CHWs of one village are sorted here.
    return sorted(
        ((chw, e164) for chw, e164 in rows), key=lambda r: (r[0].name.casefold(), r[0].id)
    )


def set_language(session: Session, *, chw: Chw, language: str) -> None:
    """The CHW's screens and SMS from now on come in `language`."""
    chw.language = language
    session.add(chw)


def phone_number(session: Session, *, chw: Chw) -> str | None:
    """The CHW's number in E.164."""
    from outreach.registry.models import Phone

    phone = session.get(Phone, chw.phone_id)
    return phone.e164 if phone else None


def site_ids(session: Session, *, chw_id: int) -> list[int]:
    """The sites a CHW covers, as assigned (not expanded to villages)."""
    return sorted(session.exec(select(ChwSite.site_id).where(ChwSite.chw_id == chw_id)).all())


def update(
    session: Session,
    *,
    chw: Chw,
    name: str | None = None,
    language: str | None = None,
    facility_id: int | None = None,
    site_ids: list[int] | None = None,
) -> Chw:
    """Correct a CHW's name, language, facility or covered sites (None: unchanged)."""
    # Everything is checked before anything changes: the console commits the request
    # even when it answers 422, so a half-made change would be kept.
    if name is not None and not name.strip():
        raise ValueError("nom vide")
    _check_places(session, site_ids=site_ids or [], facility_id=facility_id)
    if name is not None:
        chw.name = name.strip()
    if language is not None:
        chw.language = language
    if facility_id is not None:
        chw.facility_id = facility_id
    session.add(chw)
    if site_ids is not None:
        for link in session.exec(select(ChwSite).where(ChwSite.chw_id == chw.id)):
            session.delete(link)
        session.flush()
        assert chw.id is not None
        for site_id in sorted(set(site_ids)):
            session.add(ChwSite(chw_id=chw.id, site_id=site_id))
    session.flush()
    return chw


def deactivate(session: Session, *, chw: Chw) -> None:
    """The CHW can no longer use the USSD menu; her women stay registered."""
    chw.active = False
    session.add(chw)
