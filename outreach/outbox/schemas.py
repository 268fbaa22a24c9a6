"""Africa's Talking delivery report form fields."""

from __future__ import annotations

from pydantic import Field

from outreach.callbacks import GatewayForm


class DeliveryReportForm(GatewayForm):
    id: str = Field(min_length=1, max_length=80)
    status: str = Field(min_length=1, max_length=40)
    phone_number: str | None = Field(default=None, alias="phoneNumber", max_length=25)
    network_code: str | None = Field(default=None, alias="networkCode", max_length=10)
    failure_reason: str | None = Field(default=None, alias="failureReason", max_length=60)
    retry_count: str | None = Field(default=None, alias="retryCount", max_length=10)
