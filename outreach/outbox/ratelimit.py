"""The gateway account's rate, shared by every worker process through one Redis key.

A token bucket of `rate` tokens, one per recipient. A gateway call takes as many
tokens as it has recipients, and gives them back one window (1 s) after its
response came back. The response comes after the gateway stamped the message, so
two calls that share a token can never land less than a window apart at the
gateway: no 1-second window, measured at the gateway, ever holds more than `rate`
recipients, whatever the network latency. Tokens of a worker that dies mid-call
come back after `hold` seconds.

Lanes share the bucket in order: while a caller of a higher lane (a reminder) waits,
callers of lower lanes (a campaign) get nothing, so the next free tokens are the
reminder's. A caller may settle for part of what it asked (`least`), so tokens never
sit idle while a smaller fragment of work could use them.

The script runs atomically inside Redis and reads Redis's clock, so every worker
on every host agrees on time; tests pass their own clock instead.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from redis import Redis

from outreach.config import get_settings

# KEYS[1]: the account's zset of tokens in use, member "<id>:<count>", score = when they
# come back. KEYS[2]: callers waiting, member "<lane>:<id>", score = when last seen.
# ARGV: count, least count worth taking, capacity, hold seconds, token id, lane,
# waiter id, now (optional).
# Returns {granted count, microseconds to wait}.
_ACQUIRE = """
local now = tonumber(ARGV[8])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local count = tonumber(ARGV[1])
local least = tonumber(ARGV[2])
local capacity = tonumber(ARGV[3])
local hold = tonumber(ARGV[4])
local lane = tonumber(ARGV[6])
local me = ARGV[6] .. ':' .. ARGV[7]
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 0.5)
local outranked = false
for _, waiter in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if tonumber(string.match(waiter, '^(%d+):')) < lane then
    outranked = true
    break
  end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local used = 0
for i = 1, #entries, 2 do
  used = used + tonumber(string.match(entries[i], ':(%d+)$'))
end
local grant = math.min(count, capacity - used)
if not outranked and grant >= least then
  redis.call('ZADD', KEYS[1], now + hold, ARGV[5] .. ':' .. grant)
  redis.call('PEXPIRE', KEYS[1], math.ceil((hold + 1) * 1000))
  redis.call('ZREM', KEYS[2], me)
  return {grant, 0}
end
-- A higher lane waiting takes the next free tokens: lower lanes queue behind it.
redis.call('ZADD', KEYS[2], now, me)
redis.call('PEXPIRE', KEYS[2], 5000)
if outranked then
  return {0, 10000}
end
local need = used + least - capacity
local freed = 0
for i = 1, #entries, 2 do
  freed = freed + tonumber(string.match(entries[i], ':(%d+)$'))
  if freed >= need then
    return {0, math.ceil((tonumber(entries[i + 1]) - now) * 1000000)}
  end
end
return {0, 1000000}
"""

# KEYS[1]: the zset. ARGV: member, window seconds, now (optional).
_RELEASE = """
local now = tonumber(ARGV[3])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
return redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[2]), ARGV[1])
"""


class RateLimitAborted(Exception):
    """The caller gave up waiting for tokens (it has better work to do)."""


@dataclass(frozen=True, slots=True)
class Grant:
    """Tokens held for one gateway call."""

    member: str
    count: int


class TokenBucket:
    """Per-account token bucket in Redis; `clock` is for tests (None: Redis's own time)."""

    def __init__(
        self,
        redis: Redis,
        *,
        key: str,
        rate: float,
        window: float = 1.0,
        hold: float = 60.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.redis = redis
        self.key = key
        self.capacity = max(1, int(rate * window))
        self.window = window
        self.hold = hold
        self.clock = clock
        self._acquire = redis.register_script(_ACQUIRE)
        self._release = redis.register_script(_RELEASE)

    @property
    def waiting_key(self) -> str:
        return f"{self.key}:waiting"

    def try_acquire(
        self,
        count: int,
        *,
        least: int | None = None,
        lane: int = 0,
        waiter: str | None = None,
    ) -> tuple[Grant | None, float]:
        """Take up to `count` tokens (at least `least`, default all), or say how long to wait.

        While a caller of a higher lane (lower number) waits, lower lanes get nothing:
        a reminder's call takes the next free tokens ahead of a campaign's.
        """
        if count > self.capacity:
            raise ValueError(f"{count} recipients exceed the bucket ({self.capacity})")
        least = count if least is None else max(1, min(least, count))
        member_id = uuid.uuid4().hex[:12]
        args: list[str | float | int] = [
            count,
            least,
            self.capacity,
            self.hold,
            member_id,
            int(lane),
            waiter or member_id,
        ]
        if self.clock is not None:
            args.append(self.clock())
        granted, wait_us = self._acquire(keys=[self.key, self.waiting_key], args=args)
        if granted:
            return Grant(member=f"{member_id}:{int(granted)}", count=int(granted)), 0.0
        return None, int(wait_us) / 1_000_000

    def forget(self, *, waiter: str, lane: int) -> None:
        """A caller that gave up no longer holds lower lanes back."""
        self.redis.zrem(self.waiting_key, f"{int(lane)}:{waiter}")

    def acquire(
        self,
        count: int,
        *,
        least: int | None = None,
        lane: int = 0,
        should_abort: Callable[[], bool] | None = None,
        max_wait: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Grant:
        """Wait for tokens; raises RateLimitAborted if told to stop or out of patience."""
        deadline = None if max_wait is None else time.monotonic() + max_wait
        waiter = uuid.uuid4().hex[:12]
        while True:
            grant, wait = self.try_acquire(count, least=least, lane=lane, waiter=waiter)
            if grant is not None:
                return grant
            out_of_time = deadline is not None and time.monotonic() + min(wait, 0.05) > deadline
            if out_of_time or (should_abort is not None and should_abort()):
                self.forget(waiter=waiter, lane=lane)
                raise RateLimitAborted
            # Short naps: tokens of a call in flight come back before their hold ends.
            sleep(max(0.002, min(wait, 0.05)))

    def release(self, grant: Grant) -> None:
        """The call is over: its tokens come back one window from now."""
        args: list[str | float] = [grant.member, self.window]
        if self.clock is not None:
            args.append(self.clock())
        self._release(keys=[self.key], args=args)

    def in_use(self) -> int:
        """Tokens taken and not yet back (for tests and metrics)."""
        now = self.clock() if self.clock is not None else _redis_now(self.redis)
        members: list[Any] = list(self.redis.zrangebyscore(self.key, f"({now}", "+inf"))
        return sum(int(_text(m).rsplit(":", 1)[1]) for m in members)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _redis_now(redis: Redis) -> float:
    seconds, micros = redis.time()
    return seconds + micros / 1_000_000


def bucket_key(gateway: str, username: str) -> str:
    """One bucket per gateway account."""
    return f"outreach:ratelimit:{gateway}:{username}"


@lru_cache
def get_bucket() -> TokenBucket:
    """The configured account's bucket for this process."""
    from outreach.redis import get_redis

    settings = get_settings()
    # A call can last the connect and read timeouts; a dead worker's tokens return after that.
    hold = settings.gateway_connect_timeout + settings.gateway_read_timeout + 30
    return TokenBucket(
        get_redis(),
        key=bucket_key(settings.gateway, settings.at_username),
        rate=settings.send_rate_per_second,
        hold=hold,
    )
