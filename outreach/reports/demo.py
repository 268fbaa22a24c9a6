"""Demonstration data for the console: women, a month of messages, reports, USSD sessions.

For `outreach seed-demo` on a development machine, so `make run` shows a dashboard with
something on it. Everything is fictitious; phones are in a range no one is given
(+223 70 9x xx xx), and every message row's key starts with "demo:" so a second run
adds nothing.
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from sqlmodel import Session, col, select

from outreach.outbox.models import DeliveryReport, MessageStatus, OutboundMessage
from outreach.registry import service as registry_service
from outreach.sites.models import Site, SiteLevel
from outreach.timeutil import utcnow
from outreach.ussd.models import UssdSessionEvent

FIRST_NAMES = (
    "Awa", "Fanta", "Oumou", "Kadiatou", "Mariam", "Aminata", "Bintou", "Djeneba",
    "Fatoumata", "Hawa", "Kadia", "Nana", "Rokia", "Salimata", "Tenin", "Assitan",
)  # fmt: skip
LAST_NAMES = (
    "Traoré", "Coulibaly", "Diarra", "Keïta", "Sangaré", "Diallo", "Touré", "Sidibé",
    "Dembélé", "Konaté", "Koné", "Sissoko", "Doumbia", "Camara",
)  # fmt: skip
VILLAGES = (
    "Pelengana", "Sakoïba", "Dougounina", "Markala", "Kirango", "Bla", "Touna",
    "Barouéli", "Tamani", "Sabalibougou", "Banconi Plateau",
)  # fmt: skip
# Mali's mobile networks as Africa's Talking reports them (MCC 610).
NETWORKS = (("61001", 0.93), ("61002", 0.97), ("61003", 0.88))
SCREENS = ("pin", "menu", "name", "phone_kind", "weeks", "village", "confirm")


def seed(session: Session, *, women: int = 120, seed: int = 2026) -> bool:
    """Add the demonstration population once; False when it is already there."""
    if session.exec(
        select(OutboundMessage.id).where(col(OutboundMessage.dedupe_key).startswith("demo:"))
    ).first():
        return False
    rng = random.Random(seed)
    villages = [
        v
        for v in session.exec(select(Site).where(Site.level == SiteLevel.VILLAGE))
        if v.name in VILLAGES
    ]
    now = utcnow()
    registered = []
    for n in range(women):
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        registration = registry_service.register_pregnancy(
            session,
            name=name,
            phone=f"+223709{n:05d}",
            weeks=rng.randint(6, 39),
            chw_id=None,
            village_id=rng.choice(villages).id if villages else None,
            language=rng.choice(("fr", "bm", "bm")),
            displaced=rng.random() < 0.3,
            consent=registry_service.ConsentInfo(
                text_key="demo", text_version=1, language="fr", channel="demo"
            ),
        )
        registered.append(registration.beneficiary)
    # Their welcome SMS would go to numbers no one has: cancel them.
    for message in session.exec(
        select(OutboundMessage).where(
            col(OutboundMessage.beneficiary_id).in_([b.id for b in registered])
        )
    ):
        message.status = MessageStatus.CANCELLED
        message.failure_reason = "demo"
        session.add(message)
    for day in range(30):
        for k in range(rng.randint(20, 60)):
            woman = rng.choice(registered)
            created = now - timedelta(days=day, minutes=rng.randint(0, 600))
            network, rate = rng.choice(NETWORKS)
            roll = rng.random()
            # Today's latest are still waiting for their delivery report; none is queued,
            # so the development worker never sends a demo row.
            status = (
                MessageStatus.SENT
                if day == 0 and roll < 0.2
                else MessageStatus.DELIVERED
                if roll < rate
                else MessageStatus.FAILED
            )
            gateway_id = f"demo-{day}-{k}"
            session.add(
                OutboundMessage(
                    dedupe_key=f"demo:{day}:{k}",
                    kind="programme",
                    to_number="+22370999999",
                    body="Message de démonstration",
                    language=woman.language,
                    beneficiary_id=woman.id,
                    status=status,
                    created_at=created,
                    updated_at=created,
                    due_at=created,
                    sent_at=created,
                    cost=Decimal(25),
                    currency="XOF",
                    gateway_message_id=gateway_id,
                )
            )
            if status != MessageStatus.SENT:
                session.add(
                    DeliveryReport(
                        gateway_message_id=gateway_id,
                        status="Success" if status == MessageStatus.DELIVERED else "Failed",
                        failure_reason=None
                        if status == MessageStatus.DELIVERED
                        else "DeliveryFailure",
                        network_code=network,
                        applied=True,
                        received_at=created,
                    )
                )
    for n in range(80):
        screen = rng.choice(SCREENS)
        session.add(
            UssdSessionEvent(
                session_id=f"demo-{n}",
                status="Success" if rng.random() < 0.7 else "Incomplete",
                last_screen=screen,
                received_at=now - timedelta(days=rng.randint(0, 29)),
            )
        )
    session.flush()
    return True
