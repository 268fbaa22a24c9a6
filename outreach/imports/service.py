"""Reading a beneficiaries CSV, checking every line, and importing the valid ones."""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import Session, select

from outreach.accounts.models import StaffUser
from outreach.db import after_commit
from outreach.imports.models import BeneficiaryImport, ImportStatus
from outreach.registry import phones
from outreach.registry import service as registry_service
from outreach.sites.models import Site, SiteLevel
from outreach.timeutil import local_today, utcnow

log = logging.getLogger(__name__)

MAX_BYTES = 2 * 1024 * 1024
REQUIRED = ("nom", "telephone", "village", "semaines")
# Header spellings people use, to the column names we read.
_ALIASES = {
    "name": "nom",
    "phone": "telephone",
    "téléphone": "telephone",
    "tel": "telephone",
    "weeks": "semaines",
    "langue": "langue",
    "language": "langue",
    "deplacee": "deplacee",
    "déplacée": "deplacee",
    "displaced": "deplacee",
}
_YES = {"oui", "o", "yes", "y", "1", "vrai", "true"}
_NO = {"non", "n", "no", "0", "faux", "false", ""}
# A signed paper form collected by the CHW is the consent an imported line stands for.
PAPER_CONSENT = "paper_form"


class ImportError_(ValueError):
    """The file cannot be read at all (not a CSV, empty, too big)."""


def problem(key: str, **values: object) -> dict[str, Any]:
    """A problem as a console text key and its values, translated when shown."""
    return {"key": key, "values": values}


@dataclass(frozen=True, slots=True)
class _Village:
    id: int
    name: str


def _villages(session: Session) -> dict[str, _Village]:
    return {
        registry_service.normalise_name(s.name): _Village(id=s.id, name=s.name)
        for s in session.exec(select(Site).where(Site.level == SiteLevel.VILLAGE))
        if s.id is not None
    }


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportError_("import.empty")


def _reader(text: str) -> csv.DictReader[str]:
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    if not reader.fieldnames:
        raise ImportError_("import.empty")
    reader.fieldnames = [
        _ALIASES.get(h.strip().lower(), h.strip().lower()) for h in reader.fieldnames
    ]
    return reader


def check(
    session: Session, *, data: bytes, filename: str, user: StaffUser | None
) -> BeneficiaryImport:
    """Read and check every line without registering anyone; the report is kept."""
    if len(data) > MAX_BYTES:
        raise ImportError_("import.too_big")
    reader = _reader(_decode(data))
    villages = _villages(session)
    today = local_today()
    problems: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], int] = {}
    total = 0
    for line_no, raw in enumerate(reader, start=2):
        total += 1
        line = {k: (v or "").strip() for k, v in raw.items() if k}
        found: list[dict[str, Any]] = []
        for name in REQUIRED:
            if not line.get(name):
                found.append(problem("import.missing_field", field=name))
        e164 = None
        if line.get("telephone"):
            try:
                e164 = phones.normalize(line["telephone"])
            except phones.InvalidPhoneNumber:
                found.append(problem("import.invalid_phone", value=line["telephone"][:25]))
        village = None
        if line.get("village"):
            village = villages.get(registry_service.normalise_name(line["village"]))
            if village is None:
                found.append(problem("import.unknown_village", value=line["village"][:60]))
        lang = (line.get("langue") or "fr").lower()[:5]
        if lang not in ("fr", "bm"):
            found.append(problem("import.bad_language", value=lang))
        weeks = None
        if line.get("semaines"):
            weeks = int(line["semaines"]) if line["semaines"].isdigit() else None
            if weeks is None or not 4 <= weeks <= 42:
                found.append(problem("import.bad_weeks", value=line["semaines"][:10]))
                weeks = None
        displaced_raw = (line.get("deplacee") or "").lower()
        displaced = displaced_raw in _YES
        name = " ".join((line.get("nom") or "").split())[:120]
        if e164 and name:
            key = (e164, registry_service.normalise_name(name))
            if key in seen:
                found.append(problem("import.duplicate_in_file", line=seen[key]))
            else:
                seen[key] = line_no
        if name and (e164 or village) and not found:
            edd = registry_service.edd_from_weeks(weeks=weeks, today=today) if weeks else None
            for other in registry_service.find_duplicates(
                session,
                name=name,
                phone=e164,
                village_id=village.id if village else None,
                anchor=edd,
            )[:1]:
                found.append(problem("import.duplicate", code=other.code, name=other.name))
        if found:
            problems.append({"line": line_no, "problems": found})
        else:
            rows.append(
                {
                    "line": line_no,
                    "name": name,
                    "phone": e164,
                    "village_id": village.id if village else None,
                    "language": lang,
                    "weeks": weeks,
                    "displaced": displaced and displaced_raw not in _NO,
                }
            )
    if total == 0:
        raise ImportError_("import.empty")
    batch = BeneficiaryImport(
        user_id=user.id if user else None,
        filename=filename[:200] or "import.csv",
        total_lines=total,
        valid_lines=len(rows),
        problems=problems,
        rows=rows,
    )
    session.add(batch)
    session.flush()
    return batch


def confirm(session: Session, *, import_id: int) -> BeneficiaryImport:
    """Queue a checked import; the task starts once this transaction has committed."""
    batch = session.get(BeneficiaryImport, import_id)
    if batch is None:
        raise ValueError("import inconnu")
    if batch.status == ImportStatus.CHECKED:
        batch.status = ImportStatus.QUEUED
        session.add(batch)
        from workers.imports import run_import

        after_commit(session, lambda: run_import.delay(import_id))
    return batch


def run_batch(session: Session, *, import_id: int, size: int = 200) -> bool:
    """Register the next `size` valid lines; True when more remain."""
    batch = session.get(BeneficiaryImport, import_id, with_for_update=True)
    if batch is None or batch.status in (ImportStatus.DONE, ImportStatus.CHECKED):
        return False
    batch.status = ImportStatus.RUNNING
    chunk = batch.rows[batch.done : batch.done + size]
    for row in chunk:
        # A line checked minutes ago may have been registered since (a CHW by USSD).
        edd = registry_service.edd_from_weeks(weeks=row["weeks"], today=local_today())
        if registry_service.find_duplicates(
            session, name=row["name"], phone=row["phone"], village_id=row["village_id"], anchor=edd
        ):
            batch.skipped += 1
            continue
        registry_service.register_pregnancy(
            session,
            name=row["name"],
            phone=row["phone"],
            edd=edd,
            chw_id=None,
            language=row["language"],
            village_id=row["village_id"],
            displaced=bool(row["displaced"]),
            consent=registry_service.ConsentInfo(
                text_key=PAPER_CONSENT, text_version=1, language=row["language"], channel="paper"
            ),
        )
        batch.imported += 1
    batch.done += len(chunk)
    more = batch.done < batch.valid_lines
    if not more:
        batch.status = ImportStatus.DONE
        batch.finished_at = utcnow()
        batch.rows = []
        flag_modified(batch, "rows")
    session.add(batch)
    session.flush()
    log.info("import %s: %d/%d lines", import_id, batch.done, batch.valid_lines)
    return more
