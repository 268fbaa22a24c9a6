"""A local stand-in for Africa's Talking's SMS API, with fault injection and a ledger.

It speaks the wire format the official SDK expects, so the real adapter runs
against it unchanged, and it can misbehave (5xx, hangs, per-recipient refusals,
failed deliveries) so the delivery pipeline can be tested without an account.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field, field_validator

from messages.encoding import segment_info
from outreach.config import Settings, get_settings
from outreach.gateways.base import ACCEPTED_CODES, STATUS_NAMES

logger = logging.getLogger(__name__)

# The SDK's own check; AT applies the same rule server side.
PHONE_RE = re.compile(r"^\+\d{1,3}\d{3,}$")


FAILED_DELIVERY_STATUSES = frozenset({"Failed", "Rejected"})
_DEFAULT_FAILURE_REASON = {"Failed": "DeliveryFailure", "Rejected": "UserInBlackList"}

# Orange Mali's network code (MCC 610, MNC 02).
NETWORK_CODE = "61002"

# Waits between delivery report attempts; bounded so a dead callback cannot keep
# tasks alive forever.
REPORT_RETRY_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)

_5XX_BODIES = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class FaultsUpdate(BaseModel):
    """Body of POST /emulator/faults; a field left out keeps its current value."""

    fail_5xx_ratio: float | None = Field(default=None, ge=0.0, le=1.0)
    timeout_ratio: float | None = Field(default=None, ge=0.0, le=1.0)
    timeout_seconds: float | None = Field(default=None, ge=0.0)
    recipient_status: dict[str, int] | None = None
    delivery_status: dict[str, str] | None = None

    @field_validator("recipient_status")
    @classmethod
    def _known_codes(cls, value: dict[str, int] | None) -> dict[str, int] | None:
        unknown = sorted({code for code in (value or {}).values() if code not in STATUS_NAMES})
        if unknown:
            raise ValueError(f"unknown status codes {unknown}; known: {sorted(STATUS_NAMES)}")
        return value

    @field_validator("delivery_status")
    @classmethod
    def _status_present(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for number, spec in (value or {}).items():
            if not spec.partition(":")[0].strip():
                raise ValueError(f"empty delivery status for {number}")
        return value


def parse_delivery_spec(spec: str) -> tuple[str, str | None]:
    """Split "Failed:DeliveryFailure" into status and reason; only failures carry a reason."""
    status, _, reason = spec.partition(":")
    status = status.strip() or "Success"
    if status not in FAILED_DELIVERY_STATUSES:
        return status, None
    return status, reason.strip() or _DEFAULT_FAILURE_REASON[status]


def _money(amount: Decimal, currency: str) -> str:
    return f"{currency} {amount:.4f}"


def _text(body: str, status_code: int) -> PlainTextResponse:
    return PlainTextResponse(body, status_code=status_code)


class Emulator:
    """State of one emulator app: faults, ledger and in-flight delivery reports."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rng = random.Random(settings.emulator_seed)
        self.fail_5xx_ratio = settings.emulator_fail_5xx_ratio
        self.timeout_ratio = settings.emulator_timeout_ratio
        self.timeout_seconds = settings.emulator_timeout_seconds
        self.recipient_status = dict(settings.emulator_recipient_status)
        self.delivery_status = dict(settings.emulator_delivery_status)
        self.price = Decimal(str(settings.emulator_price_per_segment))
        self.ledger: list[dict[str, Any]] = []
        self.client: httpx.AsyncClient | None = None
        # asyncio only keeps weak references to tasks; without these a report
        # could be garbage-collected mid-flight.
        self.tasks: set[asyncio.Task[None]] = set()

    def faults(self) -> dict[str, Any]:
        return {
            "fail_5xx_ratio": self.fail_5xx_ratio,
            "timeout_ratio": self.timeout_ratio,
            "timeout_seconds": self.timeout_seconds,
            "recipient_status": self.recipient_status,
            "delivery_status": self.delivery_status,
        }

    def update_faults(self, update: FaultsUpdate) -> None:
        if update.fail_5xx_ratio is not None:
            self.fail_5xx_ratio = update.fail_5xx_ratio
        if update.timeout_ratio is not None:
            self.timeout_ratio = update.timeout_ratio
        if update.timeout_seconds is not None:
            self.timeout_seconds = update.timeout_seconds
        if update.recipient_status is not None:
            self.recipient_status = dict(update.recipient_status)
        if update.delivery_status is not None:
            self.delivery_status = dict(update.delivery_status)

    async def start(self) -> None:
        self._http()

    def _http(self) -> httpx.AsyncClient:
        # Created lazily too, for ASGI transports that never run the lifespan.
        if self.client is None:
            self.client = httpx.AsyncClient(timeout=httpx.Timeout(5.0))
        return self.client

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    async def messaging(self, request: Request) -> Response:
        if not request.headers.get("apiKey"):
            return _text("The supplied authentication is invalid", 401)
        form = await request.form()
        fields = {key: str(value) for key, value in form.items()}
        for name in ("username", "to", "message"):
            if not fields.get(name, "").strip():
                return _text(f"Request is missing required form field '{name}'", 400)

        if self.rng.random() < self.fail_5xx_ratio:
            code = self.rng.choice(sorted(_5XX_BODIES))
            return _text(_5XX_BODIES[code], code)

        if self.rng.random() < self.timeout_ratio:
            # A real timeout says nothing about acceptance, so both outcomes happen.
            accepted_before_hang = self.rng.random() < 0.5
            body = self._accept(fields, timed_out=True) if accepted_before_hang else None
            await asyncio.sleep(self.timeout_seconds)
            if body is None:
                return _text("Gateway Timeout", 504)
            return self._json(body)

        return self._json(self._accept(fields, timed_out=False))

    @staticmethod
    def _json(body: dict[str, Any]) -> Response:
        # The SDK decodes JSON only for exactly "application/json"; no charset suffix.
        return Response(content=json.dumps(body), status_code=201, media_type="application/json")

    def _accept(self, fields: dict[str, str], *, timed_out: bool) -> dict[str, Any]:
        message = fields["message"]
        sender_id = fields.get("from") or None
        segments = segment_info(message).segments
        unit_cost = self.price * segments
        currency = self.settings.emulator_currency
        now = datetime.now(UTC).isoformat()
        # Every recipient of one request shares it: the ledger tells calls apart.
        call_id = uuid.uuid4().hex[:16]

        numbers = [n.strip() for n in fields["to"].split(",") if n.strip()]
        recipients: list[dict[str, Any]] = []
        entries: list[dict[str, Any]] = []
        total = Decimal(0)
        for number in numbers:
            code = self.recipient_status.get(number, 101) if PHONE_RE.match(number) else 403
            if code not in ACCEPTED_CODES:
                recipients.append(
                    {
                        "statusCode": code,
                        "number": number,
                        "status": STATUS_NAMES.get(code, "Unknown"),
                        "cost": "0",
                        "messageId": "None",
                    }
                )
                continue
            message_id = f"ATXid_{uuid.uuid4().hex}"
            cost = _money(unit_cost, currency)
            total += unit_cost
            recipients.append(
                {
                    "statusCode": code,
                    "number": number,
                    "status": STATUS_NAMES[code],
                    "cost": cost,
                    "messageId": message_id,
                }
            )
            entries.append(
                {
                    "message_id": message_id,
                    "number": number,
                    "message": message,
                    "sender_id": sender_id,
                    "segments": segments,
                    "cost": cost,
                    "accepted_at": now,
                    "call_id": call_id,
                    "timed_out": timed_out,
                    "delivery_status": None,
                    "failure_reason": None,
                }
            )

        self._record(entries)
        summary = f"Sent to {len(entries)}/{len(numbers)} Total Cost: {_money(total, currency)}"
        return {"SMSMessageData": {"Message": summary, "Recipients": recipients}}

    def _record(self, entries: list[dict[str, Any]]) -> None:
        if not entries:
            return
        self.ledger.extend(entries)
        path = self.settings.emulator_ledger_path
        if path:
            # Appended per request so a chaos run can count acceptances even
            # across emulator restarts, which lose the in-memory ledger.
            ledger_file = Path(path)
            ledger_file.parent.mkdir(parents=True, exist_ok=True)
            with ledger_file.open("a", encoding="utf-8") as fh:
                for entry in entries:
                    fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
                fh.flush()
        if self.settings.emulator_delivery_url:
            for entry in entries:
                spec = self.delivery_status.get(entry["number"], "Success")
                task = asyncio.get_running_loop().create_task(self._report(entry, spec))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

    async def _report(self, entry: dict[str, Any], spec: str) -> None:
        status, reason = parse_delivery_spec(spec)
        form = {
            "id": entry["message_id"],
            "status": status,
            "phoneNumber": entry["number"],
            "networkCode": NETWORK_CODE,
            "retryCount": "0",
        }
        if reason is not None:
            form["failureReason"] = reason
        try:
            await asyncio.sleep(self.settings.emulator_delivery_delay_seconds)
            client = self._http()
            url = self.settings.emulator_delivery_url
            for attempt, delay in enumerate((*REPORT_RETRY_DELAYS, None)):
                try:
                    response = await client.post(url, data=form)
                    if response.is_success:
                        entry["delivery_status"] = status
                        entry["failure_reason"] = reason
                        return
                    problem = f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    problem = repr(exc)
                if delay is None:
                    logger.warning(
                        "delivery report %s dropped after %d attempts: %s",
                        entry["message_id"],
                        attempt + 1,
                        problem,
                    )
                    return
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A report is best effort; it must never take the emulator down.
            logger.exception("delivery report %s failed", entry["message_id"])

    def messages_for(self, to: str) -> list[dict[str, Any]]:
        number = to.strip()
        # An unencoded "+" in a query string arrives as a space.
        if number and not number.startswith("+"):
            number = "+" + number
        return [entry for entry in reversed(self.ledger) if entry["number"] == number]


def create_app(settings: Settings | None = None) -> FastAPI:
    """The emulator as an ASGI app; `outreach` serves it on `emulator_port`."""
    emulator = Emulator(settings or get_settings())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await emulator.start()
        try:
            yield
        finally:
            await emulator.stop()

    app = FastAPI(title="Africa's Talking emulator", lifespan=lifespan)
    app.state.emulator = emulator

    @app.post("/version1/messaging")
    async def messaging(request: Request) -> Response:
        return await emulator.messaging(request)

    @app.get("/emulator/faults")
    async def get_faults() -> dict[str, Any]:
        return emulator.faults()

    @app.post("/emulator/faults")
    async def set_faults(update: FaultsUpdate) -> dict[str, Any]:
        emulator.update_faults(update)
        return emulator.faults()

    @app.get("/emulator/messages")
    async def messages(to: str) -> dict[str, Any]:
        return {"messages": emulator.messages_for(to)}

    @app.get("/emulator/ledger")
    async def ledger(limit: int | None = Query(default=None, ge=0)) -> dict[str, Any]:
        newest_first = list(reversed(emulator.ledger))
        if limit is not None:
            newest_first = newest_first[:limit]
        return {"accepted": len(emulator.ledger), "messages": newest_first}

    @app.delete("/emulator/ledger")
    async def clear_ledger() -> dict[str, int]:
        cleared = len(emulator.ledger)
        emulator.ledger.clear()
        return {"cleared": cleared}

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
