"""Adapter over the official `africastalking` SDK."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

import requests
import urllib3
from africastalking.Service import AfricasTalkingException
from africastalking.SMS import SMSService

from outreach.gateways.base import GatewayAmbiguousError, GatewayError, RecipientResult


def parse_cost(raw: str | None) -> tuple[Decimal | None, str | None]:
    """Split AT's "XOF 25.0000" into an amount and a currency."""
    if not raw:
        return None, None
    parts = raw.split()
    if len(parts) == 2:
        currency, amount = parts
    else:
        currency, amount = None, parts[-1]
    try:
        return Decimal(amount), currency
    except InvalidOperation:
        return None, currency


class AfricasTalkingGateway:
    """Sends through `SMSService.send`, pointed at AT or at the local emulator."""

    name = "africastalking"

    def __init__(
        self,
        *,
        username: str,
        api_key: str,
        base_url: str | None = None,
        timeout: tuple[float, float] = (3.05, 9.05),
    ) -> None:
        self._sms = SMSService(username, api_key)
        if base_url:
            # The SDK derives its host from the username; this is its only override.
            self._sms._baseUrl = base_url
        self._timeout = timeout

    def send(
        self, *, message: str, recipients: list[str], sender_id: str | None = None
    ) -> list[RecipientResult]:
        try:
            response = self._sms.send(
                message, recipients, sender_id=sender_id, timeout=self._timeout
            )
        except requests.ConnectTimeout as exc:
            raise GatewayError(f"connect timeout: {exc}") from exc
        except requests.ReadTimeout as exc:
            raise GatewayAmbiguousError(f"read timeout: {exc}") from exc
        except requests.ConnectionError as exc:
            if _never_connected(exc):
                raise GatewayError(f"connection failed: {exc}") from exc
            raise GatewayAmbiguousError(f"connection lost mid-request: {exc}") from exc
        except AfricasTalkingException as exc:
            raise GatewayError(f"gateway answered an error: {str(exc)[:300]}") from exc
        except requests.RequestException as exc:
            raise GatewayAmbiguousError(f"request failed mid-way: {exc}") from exc
        return _parse_response(response)


def _never_connected(exc: requests.ConnectionError) -> bool:
    """True when the request cannot have reached the gateway (refused, DNS)."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(
        reason, urllib3.exceptions.NewConnectionError | urllib3.exceptions.NameResolutionError
    )


def _parse_response(response: Any) -> list[RecipientResult]:
    # The SDK only decodes JSON when the content type is exactly application/json.
    if isinstance(response, str):
        try:
            response = json.loads(response)
        except ValueError as exc:
            raise GatewayAmbiguousError(f"unreadable gateway response: {response[:200]}") from exc
    try:
        recipients = response["SMSMessageData"]["Recipients"]
    except (KeyError, TypeError) as exc:
        raise GatewayAmbiguousError(f"unexpected gateway response: {str(response)[:200]}") from exc
    results = []
    for item in recipients:
        cost, currency = parse_cost(item.get("cost"))
        message_id = item.get("messageId")
        results.append(
            RecipientResult(
                number=item.get("number", ""),
                status_code=int(item.get("statusCode", 0)),
                status=item.get("status", ""),
                message_id=message_id if message_id and message_id != "None" else None,
                cost=cost,
                currency=currency,
            )
        )
    return results
