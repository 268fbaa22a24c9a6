"""Africa's Talking USSD form fields."""

from __future__ import annotations

from pydantic import Field

from outreach.callbacks import GatewayForm


class UssdRequest(GatewayForm):
    session_id: str = Field(alias="sessionId", min_length=1, max_length=100)
    service_code: str = Field(alias="serviceCode", max_length=40)
    phone_number: str = Field(alias="phoneNumber", min_length=1, max_length=25)
    network_code: str | None = Field(default=None, alias="networkCode", max_length=10)
    # A hundred hops of long answers still fit; longer is not a handset.
    text: str = Field(default="", max_length=8000)


class UssdEvent(GatewayForm):
    session_id: str = Field(alias="sessionId", min_length=1, max_length=100)
    status: str = Field(max_length=20)
    phone_number: str | None = Field(default=None, alias="phoneNumber", max_length=20)
    service_code: str | None = Field(default=None, alias="serviceCode", max_length=40)
    network_code: str | None = Field(default=None, alias="networkCode", max_length=10)
    date: str | None = Field(default=None, max_length=30)
    cost: str | None = Field(default=None, max_length=30)
    duration_ms: str | None = Field(default=None, alias="durationInMillis", max_length=20)
    hops_count: str | None = Field(default=None, alias="hopsCount", max_length=10)
    input: str | None = Field(default=None, max_length=2000)
    last_app_response: str | None = Field(default=None, alias="lastAppResponse", max_length=500)
    error_message: str | None = Field(default=None, alias="errorMessage", max_length=500)
