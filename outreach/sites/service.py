"""Site hierarchy and facilities."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlmodel import Session, select

from outreach.sites.models import Facility, Site, SiteLevel

SEED_FILE = Path(__file__).parent / "seed_sites.yaml"


def get_or_create(session: Session, *, name: str, level: SiteLevel, parent_id: int | None) -> Site:
    """The site with this name and level under `parent_id`, created if missing."""
    site = session.exec(
        select(Site).where(Site.name == name, Site.level == level, Site.parent_id == parent_id)
    ).first()
    if site is None:
        site = Site(name=name, level=level, parent_id=parent_id)
        session.add(site)
        session.flush()
    return site


def seed(session: Session, *, path: Path = SEED_FILE) -> dict[str, int]:
    """Load the programme area's places and facilities; safe to run twice."""
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    counts = {"sites": 0, "facilities": 0}
    before = len(session.exec(select(Site.id)).all())
    for region in data["regions"]:
        r = get_or_create(session, name=region["name"], level=SiteLevel.REGION, parent_id=None)
        for district in region["districts"]:
            d = get_or_create(
                session, name=district["name"], level=SiteLevel.DISTRICT, parent_id=r.id
            )
            for area in district["areas"]:
                a = get_or_create(
                    session, name=area["name"], level=SiteLevel.HEALTH_AREA, parent_id=d.id
                )
                assert a.id is not None
                if not session.exec(select(Facility).where(Facility.site_id == a.id)).first():
                    session.add(Facility(name=area["facility"], kind="cscom", site_id=a.id))
                    counts["facilities"] += 1
                for village in area["villages"]:
                    get_or_create(session, name=village, level=SiteLevel.VILLAGE, parent_id=a.id)
    session.flush()
    counts["sites"] = len(session.exec(select(Site.id)).all()) - before
    return counts


def villages_under(session: Session, *, site_id: int) -> list[Site]:
    """Every village at or below a site."""
    frontier = [site_id]
    villages: list[Site] = []
    while frontier:
        children = session.exec(select(Site).where(Site.parent_id.in_(frontier))).all()  # type: ignore[union-attr]
        villages.extend(c for c in children if c.level == SiteLevel.VILLAGE)
        frontier = [c.id for c in children if c.level != SiteLevel.VILLAGE and c.id is not None]
    root = session.get(Site, site_id)
    if root is not None and root.level == SiteLevel.VILLAGE:
        villages.append(root)
    return villages


def find(session: Session, *, name: str, level: SiteLevel | None = None) -> Site | None:
    """A site by exact name (and level)."""
    stmt = select(Site).where(Site.name == name)
    if level is not None:
        stmt = stmt.where(Site.level == level)
    return session.exec(stmt).first()


# Which level may sit under which: a region has no parent, a village sits in a health area.
PARENT_LEVEL = {
    SiteLevel.REGION: None,
    SiteLevel.DISTRICT: SiteLevel.REGION,
    SiteLevel.HEALTH_AREA: SiteLevel.DISTRICT,
    SiteLevel.VILLAGE: SiteLevel.HEALTH_AREA,
}


def create_site(session: Session, *, name: str, level: SiteLevel, parent_id: int | None) -> Site:
    """Add a place under a parent of the level just above it."""
    clean = " ".join(name.split())
    if not clean:
        raise ValueError("nom vide")
    expected = PARENT_LEVEL[SiteLevel(level)]
    parent = session.get(Site, parent_id) if parent_id is not None else None
    if expected is None and parent_id is not None:
        raise ValueError("une région n'a pas de lieu parent")
    if expected is not None and (parent is None or parent.level != expected):
        raise ValueError(f"le lieu parent doit être de niveau {expected.value}")
    if session.exec(
        select(Site).where(Site.name == clean, Site.level == level, Site.parent_id == parent_id)
    ).first():
        raise ValueError(f"{clean} existe déjà à cet endroit")
    site = Site(name=clean, level=SiteLevel(level).value, parent_id=parent_id)
    session.add(site)
    session.flush()
    return site


def rename_site(session: Session, *, site: Site, name: str) -> Site:
    """Correct a place's name."""
    clean = " ".join(name.split())
    if not clean:
        raise ValueError("nom vide")
    site.name = clean
    session.add(site)
    session.flush()
    return site


def create_facility(session: Session, *, name: str, kind: str, site_id: int) -> Facility:
    """Add a health facility in a place."""
    clean = " ".join(name.split())
    if not clean:
        raise ValueError("nom vide")
    if session.get(Site, site_id) is None:
        raise ValueError(f"lieu {site_id} inconnu")
    facility = Facility(name=clean, kind=kind, site_id=site_id)
    session.add(facility)
    session.flush()
    return facility
