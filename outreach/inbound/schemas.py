"""Africa's Talking incoming SMS and opt-out form fields."""

from __future__ import annotations

from pydantic import Field

from outreach.callbacks import GatewayForm


class IncomingSms(GatewayForm):
    id: str = Field(min_length=1, max_length=100)
    from_: str = Field(alias="from", min_length=1, max_length=40)
    to: str | None = Field(default=None, max_length=40)
    text: str = Field(default="", max_length=2000)
    date: str | None = Field(default=None, max_length=40)
    link_id: str | None = Field(default=None, alias="linkId", max_length=100)
    network_code: str | None = Field(default=None, alias="networkCode", max_length=10)
    cost: str | None = Field(default=None, max_length=30)


class OptOut(GatewayForm):
    phone_number: str = Field(alias="phoneNumber", min_length=1, max_length=40)
    sender_id: str | None = Field(default=None, alias="senderId", max_length=40)
