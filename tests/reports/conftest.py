"""The dashboard caches past days' figures in Redis: each test starts without them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from outreach.redis import get_redis


def clear_report_cache() -> None:
    redis = get_redis()
    keys = list(redis.scan_iter("outreach:reports:*"))
    if keys:
        redis.delete(*keys)


@pytest.fixture(autouse=True)
def no_report_cache() -> Iterator[None]:
    clear_report_cache()
    yield
    clear_report_cache()
