"""A scripted Africa's Talking send endpoint for outbox tests (the only fake)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from uuid import uuid4

from outreach.gateways.base import ACCEPTED_CODES, STATUS_NAMES, RecipientResult


class FakeGateway:
    """Plays AT's send endpoint: one scripted answer per call, the last one repeats.

    An answer is a per-recipient status code, a {number: code} map, or an exception to
    raise. `during_send` runs while the call is in flight, with the message id AT is
    about to return: a delivery report can reach us before the send call's response.
    """

    name = "fake"

    def __init__(
        self,
        *answers: int | dict[str, int] | Exception,
        during_send: Callable[[str], None] | None = None,
    ) -> None:
        self.answers = list(answers)
        self.during_send = during_send
        self.calls: list[tuple[str, list[str], str | None]] = []
        self.message_ids: list[str] = []

    def send(
        self, *, message: str, recipients: list[str], sender_id: str | None = None
    ) -> list[RecipientResult]:
        self.calls.append((message, list(recipients), sender_id))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        results = []
        for number in recipients:
            code = answer.get(number, 101) if isinstance(answer, dict) else answer
            accepted = code in ACCEPTED_CODES
            message_id = f"ATXid_{uuid4().hex}" if accepted else None
            if message_id is not None:
                self.message_ids.append(message_id)
                if self.during_send is not None:
                    self.during_send(message_id)
            results.append(
                RecipientResult(
                    number=number,
                    status_code=code,
                    status=STATUS_NAMES[code],
                    message_id=message_id,
                    cost=Decimal("25.0000") if accepted else Decimal("0"),
                    currency="XOF",
                )
            )
        return results
