"""The phone simulator: page rendering, static assets and the SMS inbox read from the emulator."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from jinja2 import Environment, PackageLoader, StrictUndefined

from outreach.config import Settings, get_settings
from outreach.registry.phones import InvalidPhoneNumber, normalize

log = logging.getLogger(__name__)

# Same number as `outreach seed-demo` registers, so a fresh install can dial straight away.
DEMO_PHONE = "+22370000001"

USSD_CALLBACK_PATH = "/callbacks/at/ussd"
# Where AT posts its end-of-session notification; the simulator posts it on hang-up too,
# so a call cut mid-flow can be resumed from the next one, as with a real network.
USSD_EVENTS_PATH = "/callbacks/at/ussd/events"

# Short enough that a dead emulator never stacks up the 2 s polls of an open page.
EMULATOR_TIMEOUT_SECONDS = 2.0

_STATIC_DIR = Path(__file__).parent / "static"

# An allow-list rather than a directory mount: nothing else in the package is ever served.
STATIC_FILES: dict[str, str] = {
    "simulator.js": "text/javascript; charset=utf-8",
    "simulator.css": "text/css; charset=utf-8",
}

# Africa's Talking delivery report statuses; None means no report came back yet.
STATUS_LABELS: dict[str | None, str] = {
    None: "Envoyé",
    "Sent": "Envoyé",
    "Submitted": "Transmis",
    "Buffered": "En attente",
    "Success": "Remis",
    "Failed": "Échec",
    "Rejected": "Rejeté",
    "AbsentSubscriber": "Abonné absent",
    "Expired": "Expiré",
}
_FAILED_STATUSES = frozenset({"Failed", "Rejected", "Expired", "AbsentSubscriber"})


@dataclass(frozen=True)
class InboxSms:
    text: str
    accepted_at: str
    time_label: str
    status_label: str
    status_kind: str
    failure_reason: str | None
    segments: int | None


@dataclass(frozen=True)
class Inbox:
    phone: str | None = None
    messages: tuple[InboxSms, ...] = ()
    problem: str | None = None


@lru_cache
def _templates() -> Environment:
    return Environment(
        loader=PackageLoader("outreach.simulator"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_page(*, root_path: str = "") -> str:
    """The simulator page, wired to this deployment's callback and key."""
    settings = get_settings()
    key = settings.callback_key.get_secret_value() if settings.callback_key else ""
    return (
        _templates()
        .get_template("simulator.html")
        .render(
            base=root_path.rstrip("/"),
            callback_path=USSD_CALLBACK_PATH,
            events_path=USSD_EVENTS_PATH,
            callback_key=key,
            service_code=settings.ussd_service_code,
            demo_phone=DEMO_PHONE,
        )
    )


def static_asset(name: str) -> tuple[Path, str] | None:
    """The file and media type for an allow-listed asset name, else None."""
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        return None
    return _STATIC_DIR / name, media_type


async def render_inbox(phone: str) -> str:
    """The inbox fragment for `phone`; every failure becomes a message in French, never a 500."""
    inbox = await load_inbox(phone)
    return _templates().get_template("inbox.html").render(inbox=inbox)


async def load_inbox(phone: str) -> Inbox:
    settings = get_settings()
    try:
        e164 = normalize(phone, region=settings.default_region)
    except InvalidPhoneNumber:
        return Inbox(problem="Numéro de téléphone invalide.")
    if settings.gateway != "emulator":
        return Inbox(
            phone=e164,
            problem="Les SMS partent vers Africa's Talking : aucun émulateur à consulter.",
        )
    try:
        async with httpx.AsyncClient(timeout=EMULATOR_TIMEOUT_SECONDS) as client:
            response = await client.get(
                f"{settings.emulator_url}/emulator/messages", params={"to": e164}
            )
            response.raise_for_status()
            payload = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        # Not the exception's text: its URL carries the number asked about.
        log.info("simulator inbox: emulator unavailable (%s)", type(exc).__name__)
        return Inbox(phone=e164, problem="Émulateur injoignable.")
    entries = payload.get("messages") if isinstance(payload, dict) else None
    if not isinstance(entries, list):
        return Inbox(phone=e164, problem="Réponse inattendue de l'émulateur.")
    zone = _zone(settings)
    return Inbox(
        phone=e164,
        messages=tuple(_sms(entry, zone) for entry in entries if isinstance(entry, dict)),
    )


def status_label(status: str | None) -> str:
    """French label for a delivery status; an unknown status is shown as AT sent it."""
    return STATUS_LABELS.get(status, status or STATUS_LABELS[None])


def _status_kind(status: str | None) -> str:
    if status == "Success":
        return "delivered"
    if status in _FAILED_STATUSES:
        return "failed"
    return "pending"


def _zone(settings: Settings) -> ZoneInfo | None:
    try:
        return ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _time_label(accepted_at: str, zone: ZoneInfo | None) -> str:
    try:
        moment = datetime.fromisoformat(accepted_at)
    except ValueError:
        return accepted_at
    if zone is not None and moment.tzinfo is not None:
        moment = moment.astimezone(zone)
    return moment.strftime("%d/%m/%Y %H:%M:%S")


def _sms(entry: dict[str, Any], zone: ZoneInfo | None) -> InboxSms:
    status = entry.get("delivery_status")
    status = status if isinstance(status, str) and status else None
    accepted_at = str(entry.get("accepted_at") or "")
    segments = entry.get("segments")
    reason = entry.get("failure_reason")
    return InboxSms(
        text=str(entry.get("message") or ""),
        accepted_at=accepted_at,
        time_label=_time_label(accepted_at, zone) if accepted_at else "",
        status_label=status_label(status),
        status_kind=_status_kind(status),
        failure_reason=str(reason) if reason else None,
        segments=segments if isinstance(segments, int) else None,
    )
