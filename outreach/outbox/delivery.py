"""One gateway try for one message, in three short transactions.

The gateway call sits between two commits so that no database lock is held while
waiting on the network, and so that a crash at any point leaves a row a sweeper
can reason about: `sending` with an expired lease and an unfinished attempt.
"""

from __future__ import annotations

import logging

from outreach.db import unit_of_work
from outreach.gateways.base import Gateway, GatewayAmbiguousError, GatewayError
from outreach.outbox import service

log = logging.getLogger(__name__)


def send_one(*, message_id: int, gateway: Gateway, owner: str) -> str:
    """Claim, send and record one message; returns what happened, for logs and tests."""
    with unit_of_work() as session:
        claim = service.claim(session, message_id=message_id, owner=owner)
    if claim is None:
        return "skipped"
    try:
        results = gateway.send(
            message=claim.body, recipients=[claim.to_number], sender_id=claim.sender_id
        )
    except GatewayAmbiguousError as exc:
        with unit_of_work() as session:
            service.record_error(session, claim=claim, error=str(exc), ambiguous=True)
        return "ambiguous"
    except (GatewayError, ValueError) as exc:
        with unit_of_work() as session:
            service.record_error(session, claim=claim, error=str(exc), ambiguous=False)
        return "error"
    result = next((r for r in results if r.number == claim.to_number), None)
    if result is None:
        with unit_of_work() as session:
            service.record_error(
                session, claim=claim, error="gateway did not report this recipient", ambiguous=True
            )
        return "ambiguous"
    with unit_of_work() as session:
        message = service.record_result(session, claim=claim, result=result)
        status = message.status
    return str(status)
