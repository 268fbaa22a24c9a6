"""The Redis client used for USSD sessions (and later, rate limits)."""

from __future__ import annotations

from functools import lru_cache

from redis import BlockingConnectionPool, Redis

from outreach.config import get_settings


@lru_cache
def get_redis() -> Redis:
    """A pooled client for the configured Redis."""
    url = get_settings().redis_url
    if not url:
        raise RuntimeError("OUTREACH_REDIS_URL is not set; start the service with `outreach run`")
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=get_settings().redis_max_connections,
        # A request waits this long for a free connection, as long as for Redis itself.
        timeout=2,
        socket_timeout=2,
        socket_connect_timeout=2,
        health_check_interval=30,
    )
    return Redis(connection_pool=pool)
