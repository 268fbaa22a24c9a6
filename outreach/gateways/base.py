"""The gateway interface. The rest of the service never imports a vendor SDK."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

# Africa's Talking per-recipient status codes that mean "handed over".
ACCEPTED_CODES = frozenset({100, 101, 102})

# Africa's Talking per-recipient status names, by code.
STATUS_NAMES: dict[int, str] = {
    100: "Processed",
    101: "Success",
    102: "Queued",
    401: "RiskHold",
    402: "InvalidSenderId",
    403: "InvalidPhoneNumber",
    404: "UnsupportedNumberType",
    405: "InsufficientBalance",
    406: "UserInBlacklist",
    407: "CouldNotRoute",
    409: "DoNotDisturbRejection",
    500: "InternalServerError",
    501: "GatewayError",
    502: "RejectedByGateway",
}


@dataclass(frozen=True, slots=True)
class RecipientResult:
    """What the gateway said about one recipient of a send call."""

    number: str
    status_code: int
    status: str
    message_id: str | None = None
    cost: Decimal | None = None
    currency: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status_code in ACCEPTED_CODES


class GatewayError(Exception):
    """The send call failed and the gateway certainly did not accept it."""


class GatewayAmbiguousError(GatewayError):
    """The call timed out after the request left: the gateway may have accepted it."""


class Gateway(Protocol):
    """Sends one text to many recipients in one call."""

    name: str

    def send(
        self, *, message: str, recipients: list[str], sender_id: str | None = None
    ) -> list[RecipientResult]: ...
