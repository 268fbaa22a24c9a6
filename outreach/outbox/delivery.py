"""Draining the outbox: claim a batch, send it in as few gateway calls as possible, record.

Each step is its own short transaction and no database lock is held while waiting
on the network or on the rate limit, so a crash at any point leaves rows a sweeper
can reason about: `sending` with an expired lease and an unfinished attempt.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from redis.exceptions import RedisError

from outreach.config import get_settings
from outreach.db import unit_of_work
from outreach.gateways.base import Gateway, GatewayAmbiguousError, GatewayError, RecipientResult
from outreach.outbox import metrics, service
from outreach.outbox.ratelimit import Grant, RateLimitAborted, TokenBucket
from outreach.outbox.service import Claim

log = logging.getLogger(__name__)

# How often a batch waiting for tokens looks for a message of a higher lane.
OUTRANK_CHECK_SECONDS = 0.2
# The SDK's own check on every recipient; one failure raises for the whole call.
SDK_NUMBER = re.compile(r"^\+\d{1,3}\d{3,}$")


def plan_calls(claims: Sequence[Claim], *, max_recipients: int) -> list[list[Claim]]:
    """Group claims into gateway calls: same text and sender, each number once per call.

    Calls come out in lane order (the highest priority of their messages first).
    """
    groups: dict[tuple[str, str | None], list[Claim]] = defaultdict(list)
    for claim in sorted(claims, key=lambda c: (c.priority, c.message_id)):
        groups[(claim.body, claim.sender_id)].append(claim)
    calls: list[list[Claim]] = []
    for members in groups.values():
        # The same number twice in one call would leave us unable to tell its two results
        # apart: the n-th message to a number goes in the n-th round.
        rounds: list[list[Claim]] = []
        seen: dict[str, int] = defaultdict(int)
        for claim in members:
            index = seen[claim.to_number]
            seen[claim.to_number] += 1
            if index == len(rounds):
                rounds.append([])
            rounds[index].append(claim)
        for round_ in rounds:
            for start in range(0, len(round_), max_recipients):
                calls.append(round_[start : start + max_recipients])
    return sorted(calls, key=lambda call: min(c.priority for c in call))


@dataclass(slots=True)
class DeliverResult:
    """What happened to one claimed batch."""

    calls: int = 0
    accepted: int = 0
    released: int = 0
    by_message: dict[int, str] | None = None


def deliver(
    claims: Sequence[Claim],
    *,
    gateway: Gateway,
    bucket: TokenBucket,
    claimed_at: float | None = None,
) -> DeliverResult:
    """Send claimed messages under the shared rate limit and record every answer."""
    settings = get_settings()
    claimed_at = claimed_at if claimed_at is not None else time.monotonic()
    max_recipients = min(settings.send_batch_size, bucket.capacity)
    calls = plan_calls(claims, max_recipients=max_recipients)
    result = DeliverResult(by_message={})
    assert result.by_message is not None
    # A batch waiting this long for tokens would outlive its lease: hand it back instead.
    patience = settings.lease_seconds / 2
    for index, call in enumerate(calls):
        waiting = [c for later in calls[index:] for c in later]
        outranked = _OutrankCheck(max(c.priority for c in waiting))
        try:
            grant = bucket.acquire(
                len(call),
                # Half a call is worth sending at once rather than leaving tokens idle.
                least=(len(call) + 1) // 2,
                lane=min(c.priority for c in call),
                should_abort=outranked,
                max_wait=max(0.0, patience - (time.monotonic() - claimed_at)),
            )
        except (RateLimitAborted, RedisError) as exc:
            if isinstance(exc, RedisError):
                log.warning("rate limit unavailable (%s); %d handed back", exc, len(waiting))
            _hand_back(waiting, result)
            return result
        outcome = _send_call(call[: grant.count], gateway=gateway, bucket=bucket, grant=grant)
        result.calls += 1
        result.accepted += outcome.accepted
        result.by_message.update(outcome.by_message)
        if grant.count < len(call):
            # The rest goes back to the queue, to travel in the next full call.
            _hand_back(waiting[grant.count :], result)
            return result
    return result


def _hand_back(claims: list[Claim], result: DeliverResult) -> None:
    assert result.by_message is not None
    with unit_of_work() as session:
        result.released += service.release(session, claims=claims)
    for claim in claims:
        result.by_message[claim.message_id] = "released"


class _OutrankCheck:
    """True once a message of a higher lane than the waiting batch is due (checked sparingly)."""

    def __init__(self, lowest_lane: int) -> None:
        self.lowest_lane = lowest_lane
        self.next_check = time.monotonic() + OUTRANK_CHECK_SECONDS

    def __call__(self) -> bool:
        if self.lowest_lane == 0 or time.monotonic() < self.next_check:
            return False
        self.next_check = time.monotonic() + OUTRANK_CHECK_SECONDS
        with service.read_session() as session:
            return service.has_due(session, above_priority=self.lowest_lane)


def _refuse_malformed(call: list[Claim]) -> tuple[list[Claim], service.CallOutcome | None]:
    """Answer for numbers the SDK would refuse, so one bad number never sinks a whole call."""
    bad = [c for c in call if not SDK_NUMBER.match(c.to_number)]
    if not bad:
        return call, None
    with unit_of_work() as session:
        outcome = service.record_results(
            session,
            claims=bad,
            results=[
                RecipientResult(number=c.to_number, status_code=403, status="InvalidPhoneNumber")
                for c in bad
            ],
        )
    return [c for c in call if c not in bad], outcome


def _send_call(
    call: list[Claim], *, gateway: Gateway, bucket: TokenBucket, grant: Grant
) -> service.CallOutcome:
    call, refused = _refuse_malformed(call)
    if refused is not None:
        metrics.record(refused.events)
    if not call:
        with contextlib.suppress(RedisError):
            bucket.release(grant)
        return refused or service.CallOutcome()
    first = call[0]
    started = time.perf_counter()
    error: str | None = None
    ambiguous = False
    results = []
    try:
        results = gateway.send(
            message=first.body, recipients=[c.to_number for c in call], sender_id=first.sender_id
        )
        call_outcome = "accepted"
    except GatewayAmbiguousError as exc:
        error, ambiguous, call_outcome = str(exc), True, "timeout"
    except (GatewayError, ValueError) as exc:
        error, call_outcome = str(exc), "http_error"
    finally:
        latency = time.perf_counter() - started
        try:
            bucket.release(grant)
        except RedisError as exc:
            # Its tokens come back on their own after the bucket's hold time.
            log.warning("rate limit release failed: %s", exc)
    with unit_of_work() as session:
        if error is None:
            outcome = service.record_results(session, claims=call, results=results)
        else:
            outcome = service.record_failure(session, claims=call, error=error, ambiguous=ambiguous)
    if error is not None:
        log.info("gateway call for %d recipients failed: %s", len(call), error[:200])
    metrics.record(
        [metrics.event("outreach_gateway_calls", call_outcome), *outcome.events],
        latency=latency,
        sent=outcome.accepted,
    )
    return outcome


@dataclass(slots=True)
class DrainResult:
    """One drain's work: batches claimed, calls made, recipients accepted."""

    batches: int = 0
    calls: int = 0
    accepted: int = 0
    released: int = 0
    more: bool = False


def drain(
    *,
    gateway: Gateway,
    bucket: TokenBucket,
    owner: str,
    max_seconds: float,
    on_idle_tick: Callable[[], None] | None = None,
) -> DrainResult:
    """Claim and send due messages, highest lane first, until none is due or time is up."""
    settings = get_settings()
    limit = min(settings.send_batch_size, bucket.capacity)
    deadline = time.monotonic() + max_seconds
    result = DrainResult()
    while True:
        if on_idle_tick is not None:
            on_idle_tick()
        if time.monotonic() >= deadline:
            result.more = True
            return result
        with service.read_session() as session:
            if not service.has_due(session):
                return result
        with unit_of_work() as session:
            claims = service.claim_due(session, owner=owner, limit=limit)
        if not claims:
            # Due rows locked by another worker's claim: let it finish.
            time.sleep(0.01)
            continue
        claimed_at = time.monotonic()
        batch = deliver(claims, gateway=gateway, bucket=bucket, claimed_at=claimed_at)
        result.batches += 1
        result.calls += batch.calls
        result.accepted += batch.accepted
        result.released += batch.released


def send_one(
    *, message_id: int, gateway: Gateway, owner: str, bucket: TokenBucket | None = None
) -> str:
    """Claim, send and record one message; returns what happened, for logs and tests."""
    from outreach.outbox.ratelimit import get_bucket

    with unit_of_work() as session:
        claim = service.claim(session, message_id=message_id, owner=owner)
    if claim is None:
        return "skipped"
    result = deliver([claim], gateway=gateway, bucket=bucket or get_bucket())
    assert result.by_message is not None
    return result.by_message.get(message_id, "skipped")
