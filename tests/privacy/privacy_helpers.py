"""A woman with a full history, for the export and erasure tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlmodel import Session, SQLModel, select

from outreach.appointments import service as appointments
from outreach.encryption import keys
from outreach.inbound.models import InboundMessage
from outreach.outbox.models import MessageAttempt, MessageStatus, OutboundMessage
from outreach.registry import service as registry_service
from outreach.registry.models import Beneficiary, Child, PhoneKind, SelfRegistration
from outreach.sites import service as site_service
from outreach.sites.models import SiteLevel
from outreach.timeutil import utcnow
from outreach.ussd.models import UssdSessionEvent

NAME = "Kadiatou Sangaré"
NUMBER = "+22376123456"
CHILD = "Oumou Sangaré"


@dataclass
class Household:
    woman: Beneficiary
    # Two sisters-in-law on one handset.
    sharer: Beneficiary
    other: Beneficiary


def household(db: Session, chw_id: int | None) -> Household:
    """Kadiatou (own phone, a child, texts both ways, a USSD session), and a shared phone."""
    village = site_service.find(db, name="Pelengana", level=SiteLevel.VILLAGE)
    assert village is not None
    woman = registry_service.register_mother_with_infant(
        db,
        name=NAME,
        phone=NUMBER,
        birth_date=date.today() - timedelta(days=40),
        sex="F",
        chw_id=chw_id,
        village_id=village.id,
        consent=registry_service.ConsentInfo("ussd_consent", 1, "fr"),
    ).beneficiary
    assert woman.id is not None
    for child in db.exec(select(Child).where(Child.mother_id == woman.id)).all():
        child.name = CHILD
        db.add(child)
    appointments.propose_for_beneficiary(db, beneficiary_id=woman.id)
    for n, status in enumerate([MessageStatus.DELIVERED, MessageStatus.FAILED]):
        sent = OutboundMessage(
            dedupe_key=f"privacy-test:{n}",
            kind="programme",
            to_number=NUMBER,
            body=f"{NAME.split()[0]}, pensez au vaccin",
            beneficiary_id=woman.id,
            status=status,
            cost=Decimal("25"),
            currency="XOF",
            sent_at=utcnow(),
            final_at=utcnow(),
            last_error=f"rejected {NUMBER}" if status == MessageStatus.FAILED else None,
        )
        db.add(sent)
        db.flush()
        db.add(MessageAttempt(message_id=sent.id, number=1, error=f"echo {NUMBER}"))
    db.add(
        InboundMessage(
            gateway_id="privacy-in-1",
            from_number=NUMBER,
            text="Mon enfant a de la fièvre",
            beneficiary_id=woman.id,
            intent="other",
        )
    )
    db.add(
        UssdSessionEvent(
            session_id="privacy-s-1",
            phone_number=NUMBER,
            status="Success",
            input="1*2",
            last_app_response=f"END Merci {NAME}",
        )
    )
    db.add(
        SelfRegistration(
            beneficiary_id=woman.id,
            kind="infant",
            estimated_anchor=date.today(),
            village_text="près du puits de Pelengana",
        )
    )
    sharer = registry_service.register_pregnancy(
        db,
        name="Bintou Coulibaly",
        phone="+22376999000",
        phone_kind=PhoneKind.SHARED,
        weeks=20,
        chw_id=chw_id,
        village_id=village.id,
    ).beneficiary
    other = registry_service.register_pregnancy(
        db,
        name="Salimata Coulibaly",
        phone="+22376999000",
        phone_kind=PhoneKind.SHARED,
        weeks=12,
        chw_id=chw_id,
        village_id=village.id,
    ).beneficiary
    db.commit()
    return Household(woman=woman, sharer=sharer, other=other)


def _readable(value: object) -> str:
    # Ciphertext is opened with the keys: erasure must remove the data, not just hide it.
    raw = str(value)
    try:
        return raw + "\n" + keys.decrypt(raw)
    except (keys.UndecryptableValue, ValueError):
        return raw


def traces(db: Session, *needles: str) -> list[str]:
    """Every `table.column` whose value, raw or decrypted, still contains one of the needles."""
    found = []
    with db.get_bind().connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            for row in conn.execute(text(f"SELECT * FROM {table.name}")).mappings():  # noqa: S608
                for column, value in row.items():
                    if value is not None and any(n in _readable(value) for n in needles):
                        found.append(f"{table.name}.{column}")
    return sorted(set(found))
