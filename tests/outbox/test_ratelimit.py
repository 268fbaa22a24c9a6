"""The shared token bucket, on the real Redis with a clock the test controls (no sleeping)."""

from __future__ import annotations

import heapq
import random
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outreach.outbox.ratelimit import RateLimitAborted, TokenBucket, bucket_key
from outreach.redis import get_redis


class Clock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def key() -> Iterator[str]:
    name = f"outreach:test:bucket:{uuid.uuid4().hex}"
    yield name
    get_redis().delete(name)


def _bucket(key: str, clock: Clock, rate: float = 10, hold: float = 30.0) -> TokenBucket:
    return TokenBucket(get_redis(), key=key, rate=rate, hold=hold, clock=clock)


def test_a_call_takes_one_token_per_recipient(key) -> None:
    # Given a bucket of 10 per second
    clock = Clock()
    bucket = _bucket(key, clock)
    # When a call for 7 recipients and one for 3 take their tokens
    first, _ = bucket.try_acquire(7)
    second, _ = bucket.try_acquire(3)
    # Then both go, and a single extra recipient must wait
    assert first is not None and second is not None
    assert bucket.in_use() == 10
    third, wait = bucket.try_acquire(1)
    assert third is None and wait > 0


def test_tokens_come_back_one_second_after_the_call_returned(key) -> None:
    # Given a full bucket, one call returning at t=0.4
    clock = Clock()
    bucket = _bucket(key, clock)
    grant, _ = bucket.try_acquire(10)
    assert grant is not None
    clock.now += 0.4
    bucket.release(grant)
    # When another call asks just before t=1.4
    clock.now += 0.999
    early, wait = bucket.try_acquire(5)
    # Then it is told to wait the rest of the second, and goes once it is over
    assert early is None and wait == pytest.approx(0.001, abs=1e-5)
    clock.now += 0.001
    later, _ = bucket.try_acquire(5)
    assert later is not None


def test_a_dead_workers_tokens_come_back_after_the_hold(key) -> None:
    # Given a worker that took every token and died before its call returned
    clock = Clock()
    bucket = _bucket(key, clock, hold=30)
    assert bucket.try_acquire(10)[0] is not None
    # When 29 s have passed, Then they are still held; at 30 s they are back
    clock.now += 29.9
    assert bucket.try_acquire(1)[0] is None
    clock.now += 0.1
    assert bucket.try_acquire(10)[0] is not None


def test_a_call_may_take_part_of_what_it_asked(key) -> None:
    # Given 7 of 10 tokens in use
    clock = Clock()
    bucket = _bucket(key, clock)
    assert bucket.try_acquire(7)[0] is not None
    # When a call for 5 will settle for 3, and another for 5 insists on all of them
    partial, _ = bucket.try_acquire(5, least=3)
    whole, wait = bucket.try_acquire(5)
    # Then the first gets the 3 left, the second waits
    assert partial is not None and partial.count == 3
    assert whole is None and wait > 0


def test_a_higher_lane_waiting_goes_before_lower_lanes(key) -> None:
    # Given a full bucket, a campaign call (lane 3) and a reminder call (lane 1) waiting
    clock = Clock()
    bucket = _bucket(key, clock)
    grant, _ = bucket.try_acquire(10)
    assert grant is not None
    bucket.release(grant)
    clock.now += 0.9
    assert bucket.try_acquire(1, lane=1, waiter="reminder")[0] is None
    clock.now += 0.1
    # When the tokens come back and the campaign asks first
    campaign, _ = bucket.try_acquire(10, least=1, lane=3, waiter="campaign")
    # Then it is held back while the reminder waits; the reminder goes, then the campaign
    assert campaign is None
    reminder, _ = bucket.try_acquire(1, lane=1, waiter="reminder")
    assert reminder is not None and reminder.count == 1
    campaign, _ = bucket.try_acquire(10, least=1, lane=3, waiter="campaign")
    assert campaign is not None and campaign.count == 9


def test_a_waiter_that_gave_up_or_vanished_holds_no_one_back(key) -> None:
    # Given a reminder waiting on an empty bucket
    clock = Clock()
    bucket = _bucket(key, clock)
    grant, _ = bucket.try_acquire(10)
    assert grant is not None
    bucket.try_acquire(1, lane=1, waiter="r1")
    bucket.release(grant)
    clock.now += 1.0
    # When it gives up, Then a campaign gets the tokens at once
    bucket.forget(waiter="r1", lane=1)
    assert bucket.try_acquire(5, lane=3)[0] is not None
    # When another reminder waits and its worker dies, Then it stops counting after 0.5 s
    bucket.try_acquire(6, lane=1, waiter="r2")
    assert bucket.try_acquire(1, lane=3)[0] is None
    clock.now += 0.6
    assert bucket.try_acquire(1, lane=3)[0] is not None


def test_more_recipients_than_the_rate_is_refused(key) -> None:
    # Given 10 per second, When a call asks for 11, Then it can never go in one second
    with pytest.raises(ValueError, match="exceed"):
        _bucket(key, Clock()).try_acquire(11)


def test_every_worker_shares_the_account_bucket(key) -> None:
    # Given two processes' buckets on the same account key
    clock = Clock()
    one, two = _bucket(key, clock), _bucket(key, clock)
    # When the first takes 8 tokens
    assert one.try_acquire(8)[0] is not None
    # Then the second only finds 2
    assert two.try_acquire(3)[0] is None
    assert two.try_acquire(2)[0] is not None
    assert bucket_key("africastalking", "ngo-mali") == "outreach:ratelimit:africastalking:ngo-mali"


def test_acquire_gives_up_when_asked(key) -> None:
    # Given an empty bucket and a caller that has better work to do
    clock = Clock()
    bucket = _bucket(key, clock)
    bucket.try_acquire(10)
    naps: list[float] = []
    # When it waits, Then it stops as soon as told, without waiting for the tokens
    with pytest.raises(RateLimitAborted):
        bucket.acquire(1, should_abort=lambda: len(naps) >= 2, sleep=naps.append)
    assert len(naps) == 2 and all(0 < nap <= 0.05 for nap in naps)


@settings(max_examples=15, deadline=None)
@given(
    rate=st.sampled_from([5, 50, 500]),
    workers=st.integers(min_value=1, max_value=6),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_no_one_second_window_at_the_gateway_ever_exceeds_the_rate(rate, workers, seed) -> None:
    # Given several workers sending calls of random sizes, with random network latency
    # before the gateway stamps the call and before its answer comes back
    rng = random.Random(seed)
    clock = Clock()
    key = f"outreach:test:bucket:{uuid.uuid4().hex}"
    bucket = TokenBucket(get_redis(), key=key, rate=rate, hold=30, clock=clock)
    stamps: list[tuple[float, int]] = []
    events: list[tuple[float, int, str, object]] = [(0.0, w, "try", None) for w in range(workers)]
    try:
        # When they run for 10 simulated seconds
        while events:
            at, worker, action, grant = heapq.heappop(events)
            if at > 10:
                break
            clock.now = 1_000_000.0 + at
            if action == "try":
                count = rng.randint(1, rate)
                got, wait = bucket.try_acquire(
                    count, least=rng.randint(1, count), lane=worker % 4, waiter=f"w{worker}"
                )
                if got is None:
                    heapq.heappush(events, (at + min(wait, 0.05), worker, "try", None))
                    continue
                stamp = at + rng.uniform(0.0, 0.3)
                stamps.append((stamp, got.count))
                heapq.heappush(events, (stamp + rng.uniform(0.0, 0.3), worker, "done", got))
            else:
                bucket.release(grant)  # type: ignore[arg-type]
                heapq.heappush(events, (at + rng.uniform(0.0, 0.05), worker, "try", None))
    finally:
        get_redis().delete(key, f"{key}:waiting")
    # Then no window [t, t+1) at the gateway holds more than `rate` recipients
    stamps.sort()
    worst = max(
        sum(count for stamp, count in stamps if start <= stamp < start + 1.0)
        for start, _count in stamps
    )
    assert worst <= rate
    # and it does let work through (tokens are held a second plus the call's latency)
    total = sum(count for stamp, count in stamps if stamp < 10)
    assert total >= rate * 10 * 0.25
