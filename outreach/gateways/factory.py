"""Build the configured gateway."""

from __future__ import annotations

from functools import lru_cache

from outreach.config import get_settings
from outreach.gateways.africastalking import AfricasTalkingGateway
from outreach.gateways.base import Gateway


@lru_cache
def get_gateway() -> Gateway:
    """The gateway for this process: AT's SDK, pointed at AT or at the emulator."""
    settings = get_settings()
    return AfricasTalkingGateway(
        username=settings.at_username,
        api_key=settings.at_api_key.get_secret_value(),
        base_url=settings.gateway_base_url,
        timeout=(settings.gateway_connect_timeout, settings.gateway_read_timeout),
    )
