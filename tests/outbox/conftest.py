"""Outbox fixtures: per-test settings, a scripted gateway, a clean rate-limit bucket."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from outbox_fakes import FakeGateway

from outreach.config import get_settings
from outreach.outbox.ratelimit import get_bucket
from outreach.redis import get_redis


@pytest.fixture
def fake_gateway() -> type[FakeGateway]:
    """The scripted gateway class: `fake_gateway(101)`, `fake_gateway({AWA: 403})`."""
    return FakeGateway


def _reset_caches() -> None:
    get_settings.cache_clear()
    get_bucket.cache_clear()


@pytest.fixture(autouse=True)
def _pipeline_settings() -> Iterator[None]:
    # Send windows always open unless a test says otherwise: the suite runs at any hour.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OUTREACH_SEND_WINDOW", "00:00-24:00")
        _reset_caches()
        get_redis().delete(get_bucket().key)
        yield
    _reset_caches()


@pytest.fixture
def settings_env() -> Iterator[Callable[..., None]]:
    """`settings_env(send_max_attempts=3)`: set OUTREACH_* for this test only."""
    with pytest.MonkeyPatch.context() as patch:

        def set_(**values: object) -> None:
            for name, value in values.items():
                patch.setenv(f"OUTREACH_{name.upper()}", str(value))
            _reset_caches()

        yield set_
    _reset_caches()
